#pragma once
/// @file
/// Basic Iterative Method / I-FGSM (Kurakin et al. 2017), and FGSM, FGM-L2 and PGD
/// as settings of the same step.

#include "foil/attacks/gradient.h"

namespace foil {

/// BIM: `steps` times x <- clip_[0,1](x + Proj_eps(x + alpha * dir(grad) - x0)), where dir is
/// sign(grad) for linf and grad/||grad||_2 for l2. No random start.
/// Example: `Bim(AttackOptions().eps(0.1).alpha(0.01).steps(10))`.
class Bim : public GradientAttack {
 public:
  /// Never starts at random (random_start is turned off).
  explicit Bim(AttackOptions options);
  /// "bim".
  std::string name() const override { return "bim"; }

 protected:
  torch::Tensor step(const torch::Tensor& adv, const torch::Tensor& grad,
                     torch::Tensor& state) const override;
};

/// FGSM (Goodfellow et al. 2015): one step of size eps from the clean input,
/// x' = clip(x + eps * sign(grad)); with norm l2 it is FGM-L2, x' = clip(x + eps * g/||g||).
class Fgsm : public Bim {
 public:
  /// One step of size eps (alpha and steps are set to eps and 1).
  explicit Fgsm(AttackOptions options);
  /// "fgsm", or "fgm" for the L2 norm.
  std::string name() const override { return options_.norm() == "l2" ? "fgm" : "fgsm"; }
};

/// PGD (Madry et al. 2018): BIM from a uniform random start in the eps-ball (on by
/// default; `random_start(false)` turns it off), with optional restarts.
/// Example: `Pgd(AttackOptions().eps(0.1).alpha(0.01).steps(20).random_start(true))`.
class Pgd : public Bim {
 public:
  /// Keeps options.random_start() as given.
  explicit Pgd(AttackOptions options) : Bim(std::move(options)) {}
  /// "pgd".
  std::string name() const override { return "pgd"; }
};

}  // namespace foil
