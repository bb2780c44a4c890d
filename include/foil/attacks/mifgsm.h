#pragma once
/// @file
/// MI-FGSM (Dong et al. 2018, "Boosting Adversarial Attacks with Momentum").

#include "foil/attacks/gradient.h"

namespace foil {

/// Momentum iterative FGSM: g <- decay * g + grad / mean(|grad|) (per sample, as
/// torchattacks), then x <- x + alpha * dir(g), projected and clipped. Defaults as
/// AttackOptions (decay 1.0). Example: `MiFgsm(AttackOptions().eps(0.1).steps(10))`.
class MiFgsm : public GradientAttack {
 public:
  /// Checks the options it uses.
  explicit MiFgsm(AttackOptions options) : GradientAttack(std::move(options)) {}
  /// The name `make_attack` takes.
  std::string name() const override { return "mifgsm"; }

 protected:
  torch::Tensor step(const torch::Tensor& adv, const torch::Tensor& grad,
                     torch::Tensor& momentum) const override;
};

}  // namespace foil
