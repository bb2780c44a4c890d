#pragma once
/// @file
/// The fixed-step gradient family (FGSM, BIM, PGD, MI-FGSM): bounds, projection,
/// clipping, restarts, success tracking and early stop live here once; each attack
/// implements one protected `step`.

#include "foil/attacks/attack.h"

namespace foil {

/// Base of the fixed-step gradient attacks: `steps` iterations of
/// x <- clip_[0,1](x0 + Proj_eps(step(x, grad) - x0)) on the summed cross-entropy, from x0 or
/// a random point of the ball, with restarts on the samples still unbroken.
class GradientAttack : public Attack {
 public:
  using Attack::Attack;  ///< checks the options

 protected:
  /// One update from `adv` with loss gradient `grad` (ascent direction: for targeted
  /// attacks the sign is already flipped). `state` is per-sample memory (momentum), kept
  /// aligned with the active samples by the base class. Returns the new point before
  /// projection and clipping.
  virtual torch::Tensor step(const torch::Tensor& adv, const torch::Tensor& grad,
                             torch::Tensor& state) const = 0;

  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
