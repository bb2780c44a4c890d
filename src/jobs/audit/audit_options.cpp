// The audit's option table (foil/jobs/audit.h): `foil audit`'s budget, attack and corruption
// flags and foil.audit's keywords.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "foil/jobs/audit.h"

namespace foil {
namespace {

using Type = OptionType;
using AuditField = OptionField<AuditOptions>;

AuditField audit_field(
    std::string flag, Type type, std::string group, std::string help,
    std::function<void(AuditOptions&, const OptionValue&, const std::string&)> set,
    std::function<OptionValue(const AuditOptions&)> get, double lo = -1e300, double hi = 1e300) {
  return make_option<AuditOptions>(std::move(flag), type, std::move(group), std::move(help), {},
                                   std::move(set), std::move(get), lo, hi);
}

std::vector<AuditField> make_audit_table() {
  const std::string kAttack = "Budgets and attack";
  std::vector<AuditField> t = {
      budget_list<AuditOptions>("--linf-eps", "Budgets and attack", "Linf budgets", {},
                                &AuditOptions::linf_eps),
      budget_list<AuditOptions>("--l2-eps", "Budgets and attack", "L2 budgets", {},
                                &AuditOptions::l2_eps),
      audit_field("--attack", Type::kText, kAttack,
                  "the attack per budget: autoattack, or any foil attack (pgd: step size "
                  "2.5*eps/steps)",
                  FOIL_OPTION_MEMBER(AuditOptions, attack, std::string)),
      audit_field("--thorough", Type::kSwitch, kAttack,
                  "AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) instead of fast (APGD-CE, "
                  "APGD-T over the top-3 targets)",
                  FOIL_OPTION_MEMBER(AuditOptions, thorough, bool)),
      audit_field("--steps", Type::kInteger, kAttack,
                  "iterations per attack (default: the attack's own, 100 for AutoAttack)",
                  FOIL_OPTION_MEMBER(AuditOptions, steps, int64_t), 1, 100000),
      audit_field("--curve", Type::kText, kAttack,
                  "minimal-norm curve: deepfool, cw (L2; DeepFool for Linf) or none",
                  FOIL_OPTION_MEMBER(AuditOptions, curve, std::string)),
      audit_field(
          "--batch", Type::kInteger, kAttack, "batch size (attacks and corruptions)",
          [](AuditOptions& o, const OptionValue& v, const std::string&) {
            o.batch = o.corruption.batch = std::get<int64_t>(v);
          },
          [](const AuditOptions& o) -> OptionValue { return o.batch; }, 1, 100000),
      audit_field("--examples", Type::kInteger, kAttack, "images in the example grid",
                  FOIL_OPTION_MEMBER(AuditOptions, examples, int64_t), 0, 32),
      audit_field(
          "--no-early-stop", Type::kSwitch, kAttack,
          "PGD-style attacks: attack every sample for all steps (slower; same robust accuracy "
          "up to samples that flip back)",
          [](AuditOptions& o, const OptionValue& v, const std::string&) {
            o.early_stop = !std::get<bool>(v);
          },
          [](const AuditOptions& o) -> OptionValue { return !o.early_stop; }),
  };
  t[4].own_default = true;  // --steps: each attack's own
  for (auto& f : nested_options(corruption_option_fields(), &AuditOptions::corruption))
    t.push_back(std::move(f));
  return t;
}

}  // namespace

const std::vector<OptionField<AuditOptions>>& audit_option_fields() {
  static const std::vector<OptionField<AuditOptions>> table = make_audit_table();
  return table;
}

AuditOptions audit_defaults() {
  AuditOptions o;
  o.corruption = every_corruption();
  return o;
}

}  // namespace foil
