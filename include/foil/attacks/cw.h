#pragma once
/// @file
/// Carlini & Wagner L2 (IEEE S&P 2017): a minimal-norm attack by optimisation.

#include "foil/attacks/attack.h"

namespace foil {

/// C&W-L2. In the variable w with x' = (tanh(w) + 1) / 2 (always in the box), Adam (learning
/// rate `alpha`, default here 0.01) minimises ||x' - x||_2^2 + c * max(z_y - max_{i != y} z_i,
/// -kappa) (targeted: max(max_{i != t} z_i - z_t, -kappa)) for `steps` iterations per value
/// of c; a binary search over c per sample (`binary_steps`, from `initial_const`) keeps the
/// smallest adversarial x' whose margin reaches kappa. L2 only. Example:
/// `CarliniWagner(AttackOptions().norm("l2").steps(100).binary_steps(5).alpha(0.01))`.
class CarliniWagner : public Attack {
 public:
  /// Checks the options it uses.
  explicit CarliniWagner(AttackOptions options);
  /// The name `make_attack` takes.
  std::string name() const override { return "cw"; }
  std::string describe() const override;
  bool minimal_norm() const override { return true; }

  /// One binary-search update per sample: where `success`, c is an upper bound (hi) and the
  /// next c is the midpoint; elsewhere c is a lower bound (lo) and the next c the midpoint,
  /// or 10·c (at most 1e10) while no upper bound is known (hi infinite).
  static void update_const(const torch::Tensor& success, torch::Tensor& c, torch::Tensor& lo,
                           torch::Tensor& hi);

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
