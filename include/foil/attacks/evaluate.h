#pragma once
/// @file
/// Running an attack over a whole dataset in streamed batches, with the numbers
/// `foil attack` and `foil audit` report.

#include <torch/types.h>

#include <functional>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "foil/attacks/attack.h"
#include "foil/attacks/criterion.h"
#include "foil/data/dataset.h"

namespace foil {

class Model;

/// A model handle in option structs (TORCH_ARG spells `const T&`, so a bare `Model*` would
/// become a pointer to const).
using ModelHandle = Model*;

/// How `evaluate_attack` runs an attack over a dataset.
struct EvaluationOptions {
  /// Items per batch. Default 250.
  TORCH_ARG(int64_t, batch) = 250;
  /// Targets of a targeted evaluation; untargeted by default.
  TORCH_ARG(TargetSpec, target) = {};
  /// Seed of random targets. Default 0.
  TORCH_ARG(uint64_t, seed) = 0;
  /// Keep every adversarial example (memory grows with the dataset). Default false.
  TORCH_ARG(bool, keep_adv) = false;
  /// Keep the first `keep_examples` clean/adversarial pairs for figures. Default 0.
  TORCH_ARG(int64_t, keep_examples) = 0;
  /// Progress label on stderr; empty for none.
  TORCH_ARG(std::string, progress) = "";
  /// Transfer: the model the attack crafts on (a surrogate, or an EnsembleModel of several);
  /// the evaluated model only judges the results. Null: the evaluated model itself (white
  /// box). Default null.
  TORCH_ARG(ModelHandle, craft_on) = nullptr;
};

/// Dataset-level results. Definitions: clean/robust accuracy over all n items (robust: the
/// clean prediction AND the prediction on the adversarial example equal the label);
/// attack_success_rate: untargeted, the share of clean-correct items the attack turns wrong;
/// targeted, the share of items whose label is not the target whose adversarial prediction
/// is the target (items already labelled as the target are counted in
/// excluded_already_target, not in the rate).
struct Evaluation {
  int64_t n = 0;                        ///< items evaluated
  int64_t excluded_already_target = 0;  ///< targeted: items whose label is the target
  double clean_accuracy = 0;            ///< share of all items correct on the clean input
  double robust_accuracy = 0;           ///< share of all items correct clean and attacked
  double attack_success_rate = 0;       ///< see the definitions above
  double seconds = 0;                   ///< wall time of the evaluation
  /// Perturbation sizes over the `broken` items only (the attack succeeded, confirmed by the
  /// final check; 0 when none): robust items come back as the clean input under AutoAttack.
  int64_t broken = 0;
  double linf_max = 0;  ///< largest Linf size of a broken item's perturbation
  double l2_mean = 0;   ///< mean L2 size of the broken items' perturbations
  /// The final check: the attack's own successes on the items it could break (correct clean;
  /// targeted: not already of the target), before the check; an ensemble's stages included.
  int64_t in_loop_successes = 0;
  /// Of those, how many the model, run once more on the returned examples, did not confirm
  /// (they count as robust).
  int64_t unconfirmed = 0;
  int64_t gradient_evaluations = 0;  ///< per-sample forward+backward passes, summed
  int64_t queries = 0;               ///< per-sample forward-only passes, summed
  /// Query attacks: per item, the images the attack showed the model (int64); undefined for
  /// the others.
  torch::Tensor item_queries;
  /// Query attacks, over the items correct clean: the lower median of item_queries.
  double queries_median = 0;
  int64_t queries_max = 0;  ///< query attacks: the most any item used
  /// HopSkipJump: int64 per item, where its search started (AttackResult::start: 0 the input,
  /// 1 noise, 2 a starting image, -1 nowhere); undefined for the other attacks.
  torch::Tensor start;
  /// HopSkipJump, over the items it could break (correct clean; targeted: label not the
  /// target): those that started from a starting image, from noise, at the input itself, and
  /// the items (data indices) it found no start for within the budget (not attacked).
  int64_t started_from_image = 0;
  int64_t started_from_noise = 0;      ///< see started_from_image
  int64_t started_at_input = 0;        ///< see started_from_image
  std::vector<int64_t> without_start;  ///< see started_from_image
  /// HopSkipJump: the query counts of `median_norm_at` (see AttackResult::query_grid).
  std::vector<int64_t> query_grid;
  /// HopSkipJump: per query count, the lower median over the items correct clean of the
  /// smallest perturbation found within it (+inf while fewer than half have one).
  std::vector<double> median_norm_at;
  bool transfer = false;  ///< crafted on another model (EvaluationOptions::craft_on)
  /// Ensembles: robust accuracy after each stage (correct clean and unbroken by this and
  /// every earlier stage), and per item the stage that broke it (index into stage_names;
  /// -2: wrong already on the clean input; -1: robust).
  std::vector<std::string> stage_names;
  std::vector<double> stage_robust_accuracy;  ///< one per stage
  std::vector<int64_t> stage_unconfirmed;     ///< per stage: successes the final check undid
  /// APGD (alone or as an ensemble's first stage): of the `loss_rose_n` items it could break,
  /// those where its loss rose above the starting value (broken ones count); 0 and 0 for
  /// other attacks.
  int64_t loss_rose = 0;
  int64_t loss_rose_n = 0;  ///< see loss_rose
  torch::Tensor broken_by;  ///< int64 per item
  /// Minimal-norm attacks: per item the smallest adversarial perturbation found (0 where
  /// the clean prediction is already wrong, +inf where none was found); over the items
  /// classified correctly clean, the share where one was found, and the median and mean
  /// size over those.
  torch::Tensor min_norm;
  /// (median and mean are meaningful only when min_norm_found > 0).
  int64_t min_norm_found = 0;
  double min_norm_found_rate = 0;  ///< min_norm_found / clean-correct items
  double min_norm_median = 0;      ///< median size of the perturbations found
  double min_norm_mean = 0;        ///< mean size of the perturbations found
  torch::Tensor adv;               ///< all examples when keep_adv
  torch::Tensor clean_pred;        ///< int64 per item: prediction on the clean input
  torch::Tensor adv_pred;          ///< int64 per item: prediction on the attacked input
  torch::Tensor labels;            ///< int64 per item: the labels used
  torch::Tensor example_clean;     ///< the first keep_examples clean items
  torch::Tensor example_adv;       ///< their adversarial examples
  /// Every number above plus per-item labels and predictions (the JSON of `foil attack`).
  nlohmann::json to_json() const;
};

/// Attacks every item of `data` (labels < 0 are replaced by the clean prediction). A targeted
/// HopSkipJump without starting images of its own gets `data` (images and labels) as its
/// candidates (AttackOptions::start_images), as the authors' targeted runs start from an
/// image of the target class.
Evaluation evaluate_attack(Model& model, const Dataset& data, const Attack& attack,
                           const EvaluationOptions& options = {});

/// Robust accuracy at each of `eps` read off per-item minimal perturbations: the share of
/// all items that are correct clean and need a perturbation larger than eps.
std::vector<double> accuracy_at(const Evaluation& ev, const std::vector<double>& eps);

/// Clean accuracy of `model` on `data`, in batches.
double evaluate_clean(Model& model, const Dataset& data, int64_t batch = 500);

}  // namespace foil
