#pragma once
/// @file
/// The attack job: one attack over a dataset, evaluated with the final check, with the
/// checks that stop an evaluation from overstating robustness, as `foil attack` reports it.
///
/// Example:
///   foil::AttackJobOptions o;
///   o.attack = foil::make_attack("apgd-ce", foil::AttackOptions().eps(8.0 / 255));
///   foil::AttackJobResult r = foil::run_attack(*model, data, o);
///   for (const auto& line : r.lines) std::puts(line.c_str());

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/attacks/criterion.h"
#include "foil/attacks/evaluate.h"
#include "foil/jobs/job.h"

namespace foil {

/// The attack, its target and what the evaluation keeps.
struct AttackJobOptions {
  std::shared_ptr<Attack> attack;  ///< required
  TargetSpec target;               ///< untargeted, random, least-likely or a class
  int64_t batch = 250;             ///< batch size
  uint64_t seed = 0;               ///< random starts and targets
  bool keep_adv = false;           ///< keep every adversarial example (Evaluation::adv)
  int64_t examples = 0;            ///< items kept for an example grid
  /// Transfer: the model the attack crafts on (a surrogate or an EnsembleModel); the attacked
  /// model only judges the examples. Null: white box on the model itself.
  Model* surrogate = nullptr;
  Log log;  ///< progress lines
};

/// What `foil attack` sets besides the attack's own options (its flags, declared once).
struct AttackJobSettings {
  std::string access = "gradients";  ///< what the attack may see of the model (parse_access)
  std::string surrogate;             ///< transfer: model specs to craft on (model_list)
  std::string ensemble = "logits";   ///< several surrogates: fuse logits or losses
  std::string targeted;              ///< "" (untargeted), random, least-likely or a class
  std::string starting_images;       ///< hopskipjump: a data spec of starting points
  bool early_stop = false;           ///< stop attacking an item once it is fooled
  int64_t batch = 250;               ///< batch size
};
/// The settable fields of AttackJobSettings; --starting-images is read by hopskipjump alone.
const std::vector<OptionField<AttackJobSettings>>& attack_job_option_fields();

/// The evaluation, the checks, the printed table and attack.json's content.
struct AttackJobResult {
  Evaluation ev;                   ///< clean and robust accuracy, per stage, sizes
  std::vector<Flag> checks;        ///< the model's and the evaluation's checks
  std::vector<std::string> lines;  ///< the metrics table and the checks
  nlohmann::json summary;          ///< attack.json (without the class names)
  /// The files of `foil attack --out` into `dir`: attack.json (with the data's class names),
  /// examples.png of `data`'s first items, and for query attacks norm_by_queries.svg (the
  /// median norm found vs queries); returns their names.
  std::vector<std::string> write(const std::string& dir, const Dataset& data,
                                 const Attack& attack) const;
};

/// The evaluation `run_attack` makes (the same examples and numbers), without the model's
/// checks around it: what a caller who wants only the adversarial examples runs.
Evaluation evaluate_attack_job(Model& model, const Dataset& data, const AttackJobOptions& options);

/// Runs `options.attack` over `data` on `model` and judges the result.
AttackJobResult run_attack(Model& model, const Dataset& data, const AttackJobOptions& options);

}  // namespace foil
