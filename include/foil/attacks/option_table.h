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

#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/core/option_fields.h"

namespace foil {

/// One user-settable field of AttackOptions (foil/core/option_fields.h); `used_by` names
/// attacks as make_attack takes them.
using AttackOptionField = OptionField<AttackOptions>;

/// The table, in --help order.
const std::vector<AttackOptionField>& attack_option_fields();
/// The field with this Python keyword or CLI flag (any of its names), or nullptr.
const AttackOptionField* find_attack_option(const std::string& name);
/// Checks that every one of `attacks` is an attack's name, that one of them reads the field, and
/// `value` against the field's type and range, then stores it into `o`; every error is an
/// InputError naming `name` (the flag or keyword given).
void set_attack_option(AttackOptions& o, const AttackOptionField& field, const OptionValue& value,
                       const std::vector<std::string>& attacks, const std::string& name);

}  // namespace foil
