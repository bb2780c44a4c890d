// The audit's option table (foil/jobs/audit.h): `foil audit`'s budget, attack and corruption
// flags and foil.audit's keywords.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "foil/core/error.h"
#include "foil/jobs/audit.h"

namespace foil {
namespace {

using Type = OptionType;
using Texts = std::vector<std::string>;
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
  const std::string kThreats = "Threats";
  t.push_back(audit_field(
      "--threats", Type::kTexts, kThreats,
      "threat models, comma list: white-box (the budgets above), transfer (crafted on "
      "--surrogate with VMI-FGSM), scores (Square), labels (HopSkipJump); one table at the "
      "middle Linf budget (default: white-box; the CLI's built-in model adds transfer from the "
      "zoo's mlp, resnet and mobilenet)",
      [](AuditOptions& o, const OptionValue& v, const std::string&) {
        o.threats.threats = parse_threats(fmt::format("{}", fmt::join(std::get<Texts>(v), ",")));
      },
      [](const AuditOptions& o) -> OptionValue { return o.threats.threats; }));
  t.push_back(audit_field(
      "--max-queries", Type::kInteger, kThreats, "scores and labels threats: queries per item",
      FOIL_OPTION_MEMBER(AuditOptions, threats.max_queries, int64_t), 1, 1000000));
  t[4].own_default = t[9].own_default = true;  // --steps: each attack's own; --threats
  for (size_t i : {2, 3, 5, 8, 9, 10}) t[i].used_by = {"classify"};
  const std::string kTask = "Task";
  t.push_back(audit_field(
      "--task", Type::kText, kTask,
      "classify; detect: an object detector's COCO box AP clean, under random noise and "
      "under TOG-vanishing and TOG-fabrication per budget; segment: a segmenter's mean IoU and "
      "pixel accuracy "
      "clean, under random noise and under PGD, SegPGD and CosPGD per budget; keypoints: a "
      "pose model's OKS, PCK@0.1 and pose RMSE to its clean pose under random noise and "
      "under KAA per budget (default: the model's task; the three tasks' budgets 2/255, "
      "4/255, 8/255 Linf, 10 steps, batch 8)",
      [](AuditOptions& o, const OptionValue& v, const std::string& name) {
        const auto& task = std::get<std::string>(v);
        check_input(
            task == "classify" || task == "detect" || task == "segment" || task == "keypoints",
            name, "classify, detect, segment or keypoints", "'" + task + "'");
        o.task = task;
      },
      [](const AuditOptions& o) -> OptionValue { return o.task; }));
  t.back().own_default = true;
  t.push_back(audit_field("--annotations", Type::kText, kTask,
                          "detect: COCO-format ground truth (JSON: images, annotations, "
                          "categories) of the photos of --data; segment: a folder of label PNGs "
                          "(PHOTO-STEM.png, the photo's size, one 8-bit channel of class indices, "
                          "255 not scored); default: the model's clean detections at "
                          "--score-threshold, or its clean masks, are the reference",
                          FOIL_OPTION_MEMBER(AuditOptions, annotations, std::string)));
  t.push_back(audit_field("--score-threshold", Type::kNumber, kTask,
                          "detect: the score a detection needs to count as found (and to be a "
                          "reference object)",
                          FOIL_OPTION_MEMBER(AuditOptions, score_threshold, double), 0, 1));
  t.back().open_lo = true;
  t[t.size() - 2].used_by = {"detect", "segment"};
  t.back().used_by = {"detect"};
  for (auto& f : nested_options(corruption_option_fields(), &AuditOptions::corruption)) {
    const auto all = f.help.find("(default: all)");  // a detector's audit: none unless asked
    if (all != std::string::npos) f.help.replace(all, 14, "(default: all; for a detector none)");
    t.push_back(std::move(f));
  }
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
