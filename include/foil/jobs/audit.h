#pragma once
/// @file
/// The audit, foil's main job: clean accuracy and robust accuracy from the AutoAttack ensemble
/// (per stage) over an eps grid for Linf and L2, the minimal-norm robustness curve from
/// DeepFool or C&W, and the checks that stop an audit from overstating robustness.
///
/// Example:
///   foil::AuditOptions o;
///   o.linf_eps = {0.05, 0.1};
///   foil::AuditResult r = foil::run_audit(*model, data, o);
///   r.write("results", data);      // audit.json, audit.csv, plots, examples.png

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/checks.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/option_fields.h"
#include "foil/jobs/corruption_job.h"
#include "foil/jobs/job.h"
#include "foil/jobs/threats.h"

namespace foil {

/// What an audit runs: budgets per norm, the attack, the minimal-norm curve.
struct AuditOptions {
  /// The model's task: classify, detect (foil/jobs/detection_audit.h: COCO AP under
  /// TOG-vanishing and TOG-fabrication), segment (foil/jobs/segmentation_audit.h: mean IoU
  /// under PGD, SegPGD and CosPGD) or keypoints (foil/jobs/keypoint_audit.h: OKS and PCK under
  /// KAA); for the last three the budgets, steps, batch, examples, corruptions and seed below
  /// apply, the rest is the classifier audit's alone (foil/jobs/task_audit.h).
  std::string task = "classify";
  /// detect: COCO-format ground truth (foil/metrics/detection.h); segment: a folder of label
  /// PNGs; "": the model's clean detections at `score_threshold`, or its clean masks, are the
  /// reference.
  std::string annotations;
  double score_threshold = 0.3;  ///< detect: the score a detection needs to count as found
  std::vector<double> linf_eps{0.01, 0.02, 0.05, 0.1, 0.2};  ///< Linf budgets (> 0)
  std::vector<double> l2_eps{0.25, 0.5, 1, 2, 3};            ///< L2 budgets (> 0)
  /// The attack per budget: autoattack, or any foil attack (PGD-style: step 2.5*eps/steps).
  std::string attack = "autoattack";
  /// Minimal-norm curve: deepfool, cw (L2; DeepFool for Linf) or none.
  std::string curve = "deepfool";
  int64_t steps = 0;       ///< iterations per attack; 0: the attack's own (100 for AutoAttack)
  int64_t batch = 250;     ///< batch size
  int64_t examples = 8;    ///< images kept for the example grid
  bool early_stop = true;  ///< PGD-style attacks stop on a sample once it is fooled
  /// AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) instead of fast (APGD-CE, APGD-T
  /// over the top-3 targets).
  bool thorough = false;
  uint64_t seed = 0;  ///< random starts, restarts and Square's proposals
  /// The common-corruption section (foil/jobs/corruption_job.h; its seed and log are the
  /// audit's): none when its list of corruptions is empty.
  CorruptionAuditOptions corruption;
  /// The threat table (foil/jobs/threats.h) at the middle Linf budget; its white-box row is
  /// the audit's own run there.
  ThreatOptions threats;
  /// The model the corruption errors are normalised by (mCE); none: no mCE.
  Model* baseline = nullptr;
  Log log;  ///< progress lines
};

/// One budget of the grid.
struct AuditRow {
  std::string attack;  ///< the attack's name
  std::string norm;    ///< linf or l2
  double eps = 0;      ///< the budget
  Evaluation ev;       ///< clean and robust accuracy, per stage, perturbation sizes
};

/// A minimal-norm robustness curve: accuracy vs eps read off per-item minimal perturbations.
struct AuditCurve {
  std::string attack;            ///< deepfool or cw
  std::string norm;              ///< linf or l2
  Evaluation ev;                 ///< the run at the norm's largest budget (per-item minimal norms)
  std::vector<double> eps;       ///< 51 points from 0 to the norm's largest budget
  std::vector<double> accuracy;  ///< share of items whose minimal perturbation is larger
};

/// What an audit found; `write` gives the files of `foil audit`.
struct AuditResult {
  ModelInfo model;                       ///< the audited model
  std::string data;                      ///< the data's source
  int64_t n = 0;                         ///< items
  std::vector<std::string> class_names;  ///< the data's
  double clean_accuracy = 0;             ///< on the data, before any attack
  std::string attack;                    ///< the attack as described at the smallest Linf budget
  int64_t steps = 0;                     ///< iterations per attack, as run
  AuditOptions options;                  ///< as given (without the log)
  std::vector<AuditRow> rows;            ///< Linf budgets, then L2
  std::vector<AuditCurve> curves;        ///< per norm, unless curve = none
  std::vector<Flag> checks;  ///< the model's, each evaluation's and the unbounded budget
  /// The standard version at the middle Linf budget, run when a check fired on a fast audit
  /// (null otherwise).
  nlohmann::json standard_after_checks;
  std::vector<ThreatRow> threats;     ///< the threat table, white-box first
  double seconds = 0;                 ///< the whole audit
  bool has_corruptions = false;       ///< the corruption section ran
  CorruptionAuditResult corruptions;  ///< the corruption section

  /// audit.json's content.
  nlohmann::json to_json() const;
  /// Writes audit.json, audit.csv, robust_accuracy_linf.svg, robust_accuracy_l2.svg, (with
  /// examples) examples.png and (with the corruption section) its files into `dir`.
  void write(const std::string& dir, const Dataset& data) const;
};

/// Throws InputError for options that cannot run (checked before anything slow).
void check_audit_options(const AuditOptions& options);

/// The fields of AuditOptions a user sets (foil/core/option_fields.h): the budgets, the attack
/// and the corruption section; `foil audit`'s flags and foil.audit's keywords.
const std::vector<OptionField<AuditOptions>>& audit_option_fields();
/// What `foil audit` and foil.audit start from: AuditOptions with every corruption.
AuditOptions audit_defaults();
/// Runs the audit of `model` on `data` (from open_data).
AuditResult run_audit(Model& model, const Dataset& data, const AuditOptions& options);

}  // namespace foil
