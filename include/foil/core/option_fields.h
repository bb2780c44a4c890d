#pragma once
/// @file
/// Options declared once. Each library options struct a user fills (attacks, patches, ...)
/// lists its settable fields here: CLI flag, Python keyword, help line, type, range and the
/// attacks or sub-commands that read the field. The CLI's flags (with their --help groups) and
/// the Python keyword parsers are generated from these tables, and both refuse a field that
/// the chosen attack or job does not read.
///
/// Example:
///   struct Opts { double lr = 0.1; };
///   foil::OptionField<Opts> lr;
///   lr.flag = "--lr"; lr.keyword = "lr"; lr.lo = 0; lr.hi = 10;
///   lr.set = [](Opts& o, const foil::OptionValue& v, const std::string&) {
///     o.lr = std::get<double>(v); };
///   lr.get = [](const Opts& o) -> foil::OptionValue { return o.lr; };
///   Opts o;
///   foil::set_option(o, lr, foil::parse_option_text(lr, "0.5", "--lr"), "--lr");  // o.lr 0.5

#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace foil {

/// The value of one field: a number, an integer, a switch, a text, or a list of numbers or
/// texts.
using OptionValue =
    std::variant<double, int64_t, bool, std::string, std::vector<double>, std::vector<std::string>>;

/// What a declared field holds (the OptionValue alternative, in the same order).
enum class OptionType { kNumber, kInteger, kSwitch, kText, kNumbers, kTexts };

/// The part of a declared field that does not depend on the options struct.
struct OptionDecl {
  /// What the field holds (OptionType).
  using Type = OptionType;
  /// The CLI flag ("--eps"); "" where the CLI sets the field another way (--seed is global).
  std::string flag;
  /// Other CLI names of the flag ("--queries"), and for a switch the one that turns it off
  /// ("!--no-random-start"), in CLI11's name syntax.
  std::string more_names;
  /// The Python keyword ("eps"); "" where Python sets the field another way.
  std::string keyword;
  /// The value's type.
  Type type = Type::kNumber;
  /// The --help group the flag is listed in.
  std::string group;
  /// One line of help; `own_default` says whether it already tells the default (which then
  /// depends on the attack or task), else --help shows the default options' value.
  std::string help;
  /// Whether `help` tells the default itself.
  bool own_default = false;
  /// The smallest value a user may give (numbers, integers and each number of a list);
  /// -1e300: no bound.
  double lo = -1e300;
  /// The largest value a user may give (included); 1e300: no bound.
  double hi = 1e300;
  /// Whether `lo` itself is refused (a budget > 0).
  bool open_lo = false;
  /// Numbers lists: how many numbers (0: any).
  int count = 0;
  /// The attacks or jobs that read the field (as make_attack or the sub-command names them);
  /// empty: every one.
  std::vector<std::string> used_by;

  /// Whether `user` (an attack or job name) reads this field.
  bool used_by_name(const std::string& user) const;
  /// What a value must be, for messages: "an integer in 1..64", "a value in [0, 1]".
  std::string expected() const;
  /// The bounds alone, for --help: "in 1..64", "in (0, 10]", ">= 0"; "" when unbounded.
  std::string range() const;
};

/// One user-settable field of the options struct O.
template <class O>
struct OptionField : OptionDecl {
  /// Stores a checked value of `type` into the options; throws InputError naming `name` (the
  /// flag or keyword given) when the value is refused for a reason the table cannot say.
  std::function<void(O&, const OptionValue&, const std::string& name)> set;
  /// Reads the field (for defaults in --help).
  std::function<OptionValue(const O&)> get;
  /// The field's value in `o` as text ("0.1", "true", "linf", "0.8,1.2").
  std::string text(const O& o) const;
};

/// A field of O: the Python keyword is the flag without "--", '_' for '-'; lo and hi bound
/// numbers and integers (and each number of a list).
template <class O>
OptionField<O> make_option(std::string flag, OptionType type, std::string group, std::string help,
                           std::vector<std::string> used_by,
                           std::function<void(O&, const OptionValue&, const std::string&)> set,
                           std::function<OptionValue(const O&)> get, double lo = -1e300,
                           double hi = 1e300) {
  OptionField<O> f;
  f.keyword = flag.size() > 2 ? flag.substr(2) : "";
  std::replace(f.keyword.begin(), f.keyword.end(), '-', '_');
  f.flag = std::move(flag);
  f.type = type;
  f.group = std::move(group);
  f.help = std::move(help);
  f.used_by = std::move(used_by);
  f.set = std::move(set);
  f.get = std::move(get);
  f.lo = lo;
  f.hi = hi;
  return f;
}

/// A list of budgets > 0 into `o.*grid`, sorted (the audit's and keypoint table's --linf-eps).
template <class O>
OptionField<O> budget_list(std::string flag, std::string group, std::string help,
                           std::vector<std::string> used_by, std::vector<double> O::*grid) {
  OptionField<O> f = make_option<O>(
      std::move(flag), OptionType::kNumbers, std::move(group), std::move(help), std::move(used_by),
      [grid](O& o, const OptionValue& v, const std::string&) {
        o.*grid = std::get<std::vector<double>>(v);
        std::sort((o.*grid).begin(), (o.*grid).end());
      },
      [grid](const O& o) -> OptionValue { return o.*grid; }, 0);
  f.open_lo = true;
  return f;
}

/// The fields of `table` as fields of O, reaching them through its part `member` (the
/// corruption fields of the audit's options).
template <class O, class Part>
std::vector<OptionField<O>> nested_options(const std::vector<OptionField<Part>>& table,
                                           Part O::*member) {
  std::vector<OptionField<O>> fields;
  for (const auto& f : table) {
    OptionField<O> g;
    static_cast<OptionDecl&>(g) = f;
    g.set = [set = f.set, member](O& o, const OptionValue& v, const std::string& name) {
      set(o.*member, v, name);
    };
    g.get = [get = f.get, member](const O& o) { return get(o.*member); };
    fields.push_back(std::move(g));
  }
  return fields;
}

/// make_option's set and get of a plain member `o.path` ("corruption.batch") of O as the
/// value type T.
#define FOIL_OPTION_MEMBER(O, path, T)                                    \
  [](O& o, const ::foil::OptionValue& v, const std::string&) {            \
    o.path = static_cast<std::decay_t<decltype(o.path)>>(std::get<T>(v)); \
  },                                                                      \
      [](const O& o) -> ::foil::OptionValue { return static_cast<T>(o.path); }
/// The same for a TORCH_ARG field `o.path()` ("placement.keep_out").
#define FOIL_OPTION_ARG(O, path, T)                                        \
  [](O& o, const ::foil::OptionValue& v, const std::string&) {             \
    o.path(static_cast<std::decay_t<decltype(o.path())>>(std::get<T>(v))); \
  },                                                                       \
      [](const O& o) -> ::foil::OptionValue { return static_cast<T>(o.path()); }

/// A value as text; lists are comma-separated.
std::string option_text(const OptionValue& v);
/// The value a text gives (the CLI's: "0.1", "20", "true", "l2", "0.8,1.2") for the field's
/// type; throws InputError naming `name` when it does not read as one.
OptionValue parse_option_text(const OptionDecl& field, const std::string& text,
                              const std::string& name);
/// `v` checked against the field's type and range (an integer given for a number becomes
/// one); throws InputError naming `name`.
OptionValue checked_option_value(const OptionDecl& field, const OptionValue& v,
                                 const std::string& name);
/// Throws InputError "`name`: not used by `users`; it is read by ..." unless one of `users`
/// reads the field.
void check_option_used(const OptionDecl& field, const std::vector<std::string>& users,
                       const std::string& name);

/// The field with this keyword or CLI flag (any of its names) in `table`, or nullptr.
template <class O>
const OptionField<O>* find_option(const std::vector<OptionField<O>>& table,
                                  const std::string& name) {
  for (const auto& f : table) {
    if ((!f.keyword.empty() && name == f.keyword) || (!f.flag.empty() && name == f.flag)) return &f;
    if (!f.more_names.empty() && (name == f.more_names || "!" + name == f.more_names)) return &f;
  }
  return nullptr;
}

/// Checks `v` (type and range) and stores it into `o`; every error names `name`.
template <class O>
void set_option(O& o, const OptionField<O>& field, const OptionValue& v, const std::string& name) {
  field.set(o, checked_option_value(field, v, name), name);
}

template <class O>
std::string OptionField<O>::text(const O& o) const {
  return option_text(get(o));
}

}  // namespace foil
