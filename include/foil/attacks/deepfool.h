#pragma once
/// @file
/// DeepFool (Moosavi-Dezfooli, Fawzi & Frossard, CVPR 2016): a minimal-norm attack
/// that steps to the nearest linearised decision boundary.

#include "foil/attacks/attack.h"

namespace foil {

/// DeepFool, L2 and Linf. Each iteration linearises z_k - z_y for the candidate classes k
/// (the 10 highest clean logits, fewer when the model has fewer classes), picks the k with
/// the nearest boundary, |f_k| / ||w_k||_q (q = 2 for L2, 1 for Linf), and adds the step
/// that reaches it to the total r; the iterate is clip(x + (1 + overshoot) r). Stops per
/// sample at the first adversarial iterate or after `steps` (default 50); untargeted.
/// `min_norm` is the size of the adversarial perturbation found. Example:
/// `DeepFool(AttackOptions().norm("l2").steps(50).overshoot(0.02))`.
class DeepFool : public Attack {
 public:
  /// Checks the options it uses.
  explicit DeepFool(AttackOptions options) : Attack(std::move(options)) {}
  /// The name `make_attack` takes.
  std::string name() const override { return "deepfool"; }
  std::string describe() const override;
  bool minimal_norm() const override { return true; }

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
