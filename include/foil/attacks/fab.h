#pragma once
/// @file
/// FAB-T, the targeted Fast Adaptive Boundary attack (Croce & Hein, ICML 2020,
/// "Minimally distorted adversarial examples with a fast adaptive boundary attack"), as in
/// AutoAttack's standard version.

#include "foil/attacks/attack.h"

namespace foil {

/// The point of the box [0,1]^D closest to `p` (per row, in Linf or L2) on the hyperplane
/// w·z + b = 0, from either side (the reference's projection_linf / projection_l2); where no
/// point of the box reaches it, the point that gets closest. Rows of `p` and `w` are samples
/// (N×D), `b` is N. Bisection on the step along ±sign(w) (Linf) or ±w (L2) with clipping to
/// the box.
torch::Tensor project_to_hyperplane(const torch::Tensor& p, const torch::Tensor& w,
                                    const torch::Tensor& b, bool linf);

/// FAB-T: for each of the top-k classes t of the clean logits (options().targets(), 0 =
/// min(9, classes - 1)), `steps` iterations of: linearise z_t - z_y at the current point,
/// project both the current point and the original onto that hyperplane within the box,
/// step to a convex combination of the two projections (weight of the original
/// min(|d_cur| / (|d_cur| + |d_orig|), 0.1), each distance floored at 1e-8, extrapolated by
/// eta = 1.05); when the point is adversarial, keep it if it is the smallest so far and step
/// back towards the original (beta = 0.9). Restarts after the first start from a random point
/// at eps / 2 (as the reference). A minimal-norm attack: `min_norm` is the smallest perturbation
/// found; with `early_stop` a sample stops once one within eps is found (ensemble use).
/// Untargeted success (the prediction differs from the label). Example:
/// `FabT(AttackOptions().norm("l2").eps(1.0).steps(100))`.
class FabT : public Attack {
 public:
  /// Checks the options it uses.
  explicit FabT(AttackOptions options) : Attack(std::move(options)) {}
  /// The name `make_attack` takes.
  std::string name() const override { return "fab-t"; }
  std::string describe() const override;
  bool minimal_norm() const override { return true; }

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
