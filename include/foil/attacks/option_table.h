#pragma once
/// @file
/// Every AttackOptions field a user sets, declared once: its CLI flag, its Python keyword, its
/// help line, its range and the attacks that read it. The CLI's attack flags (`foil attack`,
/// `explain`, `regions`, `defend`, `transfer`) and the Python module's attack keywords are
/// generated from this table, and both refuse a field that the chosen attack does not read.
///
/// Example:
///   foil::AttackOptions o = foil::default_attack_options("square");
///   const auto* f = foil::find_attack_option("max_queries");
///   foil::set_attack_option(o, *f, int64_t{1000}, {"square"}, "max_queries");  // queries 1000
///   foil::set_attack_option(o, *f, int64_t{1000}, {"pgd"}, "max_queries");     // InputError

#include <cstdint>
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "foil/attacks/attack.h"

namespace foil {

/// The value of one field: a number, an integer, a switch or a text.
using OptionValue = std::variant<double, int64_t, bool, std::string>;

/// One user-settable field of AttackOptions.
struct AttackOptionField {
  /// What the field holds.
  enum class Type { kNumber, kInteger, kSwitch, kText };
  /// The CLI flag ("--eps"); "" where the CLI sets the field another way (--seed is global).
  std::string flag;
  /// Other CLI names of the flag ("--queries"), and for a switch the one that turns it off
  /// ("!--no-random-start"), in CLI11's name syntax.
  std::string more_names;
  /// The Python keyword ("eps").
  std::string keyword;
  /// The value's type.
  Type type = Type::kNumber;
  /// The --help group the flag is listed in.
  std::string group;
  /// One line of help; `own_default` says whether it already tells the default (which then
  /// depends on the attack), else the help shows default_attack_options' value.
  std::string help;
  /// Whether `help` tells the default itself.
  bool own_default = false;
  /// The smallest value a user may give (numbers and integers); -1e300: no bound.
  double lo = -1e300;
  /// The largest value a user may give (included); 1e300: no bound.
  double hi = 1e300;
  /// The attacks that read the field (names as make_attack takes them); empty: every attack.
  std::vector<std::string> used_by;
  /// Stores a value of `type` into the options.
  std::function<void(AttackOptions&, const OptionValue&)> set;
  /// Reads the field (for defaults in --help).
  std::function<OptionValue(const AttackOptions&)> get;

  /// Whether `attack` reads this field.
  bool used_by_attack(const std::string& attack) const;
  /// The field's value in `o` as text ("0.1", "true", "linf").
  std::string text(const AttackOptions& o) const;
};

/// The table, in --help order.
const std::vector<AttackOptionField>& attack_option_fields();
/// The field with this Python keyword or CLI flag (any of its names), or nullptr.
const AttackOptionField* find_attack_option(const std::string& name);
/// Throws InputError "`name`: not used by `attacks`; read by ..." unless one of `attacks`
/// reads the field.
void check_option_used(const AttackOptionField& field, const std::vector<std::string>& attacks,
                       const std::string& name);
/// Checks `value` against the field's type and range and that one of `attacks` reads it, then
/// stores it into `o`; every error is an InputError naming `name` (the flag or keyword given).
void set_attack_option(AttackOptions& o, const AttackOptionField& field, const OptionValue& value,
                       const std::vector<std::string>& attacks, const std::string& name);
/// The value a text gives (the CLI's: "0.1", "20", "true", "l2") for the field's type; throws
/// InputError naming `name` when it does not read as one.
OptionValue parse_option_value(const AttackOptionField& field, const std::string& text,
                               const std::string& name);

}  // namespace foil
