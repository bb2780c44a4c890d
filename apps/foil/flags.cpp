// Numeric flag checks and one-line messages for CLI11's own parse errors.
#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <regex>

#include "commands.h"
#include "foil/core/error.h"

namespace foil::cli {

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string range = hi == INT64_MAX
                                ? (lo == INT64_MIN ? std::string() : fmt::format(">= {}", lo))
                                : fmt::format("in {}..{}", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        const auto v = parse_integer(text, /*negative_ok=*/true);
        if (v && *v >= lo && *v <= hi) return "";
        return fmt::format("expected an integer{}{}, got '{}'", range.empty() ? "" : " ", range,
                           text);
      },
      range);
}

void check_numbers(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string type = opt->get_type_name();  // validators add ":<range>" to it
    if (type == "INT" || type == "UINT")
      opt->check(integer_in(type == "UINT" ? 0 : INT64_MIN, INT64_MAX).description(""));
    else if (type == "FLOAT")
      opt->check(CLI::Validator(
          [](std::string& text) {
            const auto v = parse_decimal(text);
            return v && std::isfinite(*v) ? std::string()
                                          : fmt::format("expected a finite number, got '{}'", text);
          },
          ""));
  }
  for (CLI::App* sub : app.get_subcommands({})) check_numbers(*sub);
}

std::string parse_error_message(const std::string& what, const std::string& command) {
  static const std::regex missing(R"((\S+): \d+ required \S+ missing)");
  static const std::regex repeated(R"((\S+): At Most 1 required but received (\d+))");
  static const std::regex convert(R"(Could not convert: (\S+) = (.*))");
  // CLI11 lists the unexpected words last first ("3 --epochs"): name the first flag.
  static const std::regex extra(
      R"(The following arguments? (?:was|were) not expected:.*?(--[^ =]+).*)");
  std::smatch m;
  if (std::regex_match(what, m, missing)) return m[1].str() + ": expected a value after it";
  if (std::regex_match(what, m, repeated))
    return m[1].str() + ": given " + m[2].str() + " times; give it once";
  if (std::regex_match(what, m, convert))
    return fmt::format("{}: cannot read '{}' as a value of this flag", m[1].str(), m[2].str());
  if (std::regex_match(what, m, extra))
    return fmt::format("{}: not a flag of foil{}{}; its --help lists the flags it reads",
                       m[1].str(), command.empty() ? "" : " ", command);
  return what;
}

}  // namespace foil::cli
