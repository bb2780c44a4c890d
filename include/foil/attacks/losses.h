#pragma once
/// @file
/// Per-sample losses of the reliable-evaluation attacks (Croce & Hein 2020): all are
/// maximised by the attacker.

#include <torch/types.h>

namespace foil {

/// Difference of logits ratio, untargeted: -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12)
/// with z sorted descending (needs >= 3 classes). Shift- and scale-invariant in the logits.
torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& labels);

/// Targeted DLR: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12) (needs >= 4 classes).
torch::Tensor dlr_targeted_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const torch::Tensor& targets);

/// The margin z_y - max_{i != y} z_i: negative exactly when the prediction is not y.
torch::Tensor logit_margin(const torch::Tensor& logits, const torch::Tensor& labels);

/// Per-sample cross-entropy.
torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace foil
