#include "foil/core/option_fields.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "foil/core/error.h"

namespace foil {
namespace {

using Type = OptionType;

bool has_range(const OptionDecl& f) { return f.lo > -1e300 || f.hi < 1e300; }

bool in_range(const OptionDecl& f, double v) {
  return std::isfinite(v) && (f.open_lo ? v > f.lo : v >= f.lo) && v <= f.hi;
}

std::vector<std::string> comma_items(const std::string& text, const std::string& name) {
  std::vector<std::string> items;
  if (text.empty()) return items;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(',', start);
    items.push_back(text.substr(start, end - start));
    check_input(!items.back().empty(), name, "a comma-separated list without empty items", text);
    if (end == std::string::npos) return items;
    start = end + 1;
  }
}

}  // namespace

bool OptionDecl::used_by_name(const std::string& user) const {
  return used_by.empty() || std::find(used_by.begin(), used_by.end(), user) != used_by.end();
}

std::string OptionDecl::range() const {
  if (!has_range(*this)) return "";
  if (type == Type::kInteger) {
    const auto low = static_cast<int64_t>(lo), high = static_cast<int64_t>(hi);
    return hi >= 1e300 ? fmt::format(">= {}", low) : fmt::format("in {}..{}", low, high);
  }
  if (hi >= 1e300) return fmt::format("{} {:g}", open_lo ? ">" : ">=", lo);
  if (lo <= -1e300) return fmt::format("<= {:g}", hi);
  return fmt::format("in {}{:g}, {:g}]", open_lo ? "(" : "[", lo, hi);
}

std::string OptionDecl::expected() const {
  const std::string r = range().empty() ? "" : " " + range();
  switch (type) {
    case Type::kInteger:
      return "an integer" + r;
    case Type::kNumber:
      return (lo > -1e300 && hi < 1e300 ? "a value" : "a finite number") + r;
    case Type::kNumbers:
      return (count > 0 ? fmt::format("{} ", count) : "") + "comma-separated finite numbers" + r;
    case Type::kSwitch:
      return "true or false";
    case Type::kText:
      return "a text";
    case Type::kTexts:
      return "a comma-separated list";
  }
  return "";
}

std::string option_text(const OptionValue& v) {
  if (const auto* d = std::get_if<double>(&v)) return fmt::format("{:g}", *d);
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* ds = std::get_if<std::vector<double>>(&v))
    return fmt::format("{:g}", fmt::join(*ds, ","));
  return fmt::format("{}", fmt::join(std::get<std::vector<std::string>>(v), ","));
}

OptionValue parse_option_text(const OptionDecl& field, const std::string& text,
                              const std::string& name) {
  switch (field.type) {
    case Type::kNumber:
      if (const auto v = parse_decimal(text); v && std::isfinite(*v)) return *v;
      break;
    case Type::kInteger:
      if (const auto v = parse_integer(text, /*negative_ok=*/true)) return *v;
      break;
    case Type::kSwitch:
      if (text == "true" || text == "1") return true;
      if (text == "false" || text == "0") return false;
      break;
    case Type::kText:
      return text;
    case Type::kNumbers: {
      std::vector<double> v;
      for (const auto& item : comma_items(text, name)) {
        const auto d = parse_decimal(item);
        if (!d || !std::isfinite(*d)) {
          v.clear();
          break;
        }
        v.push_back(*d);
      }
      if (!v.empty() || text.empty()) return v;
      break;
    }
    case Type::kTexts:
      return comma_items(text, name);
  }
  throw InputError(fmt::format("{}: expected {}, got '{}'", name, field.expected(), text));
}

OptionValue checked_option_value(const OptionDecl& field, const OptionValue& v,
                                 const std::string& name) {
  const auto refuse = [&] {
    throw InputError(
        fmt::format("{}: expected {}, got '{}'", name, field.expected(), option_text(v)));
  };
  switch (field.type) {
    case Type::kNumber: {
      double d = 0;
      if (const auto* i = std::get_if<int64_t>(&v))
        d = static_cast<double>(*i);
      else if (const auto* x = std::get_if<double>(&v))
        d = *x;
      else
        refuse();
      if (!in_range(field, d)) refuse();
      return d;
    }
    case Type::kInteger: {
      const auto* i = std::get_if<int64_t>(&v);
      if (i == nullptr || !in_range(field, static_cast<double>(*i))) refuse();
      return v;
    }
    case Type::kNumbers: {
      const auto* ds = std::get_if<std::vector<double>>(&v);
      if (ds == nullptr || (field.count > 0 && static_cast<int>(ds->size()) != field.count))
        refuse();
      for (double d : *ds)
        if (!in_range(field, d)) refuse();
      return v;
    }
    case Type::kSwitch:
    case Type::kText:
    case Type::kTexts:
      if (v.index() != static_cast<size_t>(field.type)) refuse();
      return v;
  }
  return v;
}

void check_option_used(const OptionDecl& field, const std::vector<std::string>& users,
                       const std::string& name) {
  for (const auto& u : users)
    if (field.used_by_name(u)) return;
  throw InputError(fmt::format("{}: not used by {}; it is read by {}", name, fmt::join(users, ", "),
                               fmt::join(field.used_by, ", ")));
}

}  // namespace foil
