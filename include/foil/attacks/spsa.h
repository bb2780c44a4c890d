#pragma once
/// @file
/// SPSA (Uesato, O'Donoghue, van den Oord & Kohli, ICML 2018): a score-based attack that
/// estimates the gradient of the margin loss from finite differences along random directions.

#include "foil/attacks/attack.h"

namespace foil {

/// Linf SPSA: starts from a uniform random point of the eps-ball (within [0,1]) when
/// `random_start` is set, as cleverhans' spsa always does (`foil attack` and
/// `default_attack_options` set it; --no-random-start starts at the input; AttackOptions'
/// own default, false, starts at the input). Each step draws `spsa_samples` Rademacher
/// directions v per sample, estimates g = mean_v (L(x + d v) - L(x - d v)) / (2 d) * v of the
/// margin loss L = z_y - max_{j != y} z_j (targeted: max_{j != t} z_j - z_t) with
/// d = `spsa_delta`, and takes an Adam step of learning rate `alpha` (betas 0.9, 0.999) on the
/// perturbation, projected to the eps-ball and [0,1]. A sample stops once fooled (checked with
/// one query before each step, the first at the start), after `steps` steps (default -1:
/// the CLI's 100) or when the next step would take it past its query budget
/// (options().queries(); each step costs 2 * spsa_samples + 1 queries). Scores only: never
/// calls backward.
/// Example: `Spsa(AttackOptions().eps(0.1).alpha(0.01).random_start(true).queries(5000))`.
class Spsa : public Attack {
 public:
  /// Checks the options it uses (Linf only, as in the paper); steps -1 becomes
  /// `default_steps("spsa")`.
  explicit Spsa(AttackOptions options);
  /// "spsa".
  std::string name() const override { return "spsa"; }
  std::string describe() const override;
  /// Scores.
  Access access() const override { return Access::kScores; }

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
