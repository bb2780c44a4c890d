#pragma once
/// @file
/// White-box attacks on semantic segmentation: PGD on the mean pixel cross-entropy (the
/// baseline), SegPGD (Gu et al. 2022, "SegPGD: An Effective and Efficient Adversarial Attack
/// for Evaluating and Boosting Segmentation Robustness") and CosPGD (Agnihotri & Keuper 2024,
/// "CosPGD: an efficient white-box adversarial attack for pixel-wise prediction tasks"), as the
/// CosPGD authors' reference computes them (shashankskagnihotri/cospgd, whose
/// attack_implementations.py also holds SegPGD's loss):
///
/// - every step reads the current adversarial prediction; the per-pixel cross-entropy ignores
///   pixels labelled `ignore_index` (255);
/// - SegPGD weights the pixels the prediction gets right by 1 - lambda and the wrong ones by
///   lambda, lambda = t / (2T) at step t = 0..T-1 (the paper's (t-1)/(2T) from t = 1);
/// - CosPGD weights each pixel by the cosine similarity, over the classes, of the softmax of
///   its logits and the one-hot label (detached: a weight, not a term to differentiate);
/// - steps: Linf the sign of the gradient, L2 the gradient scaled to unit norm per image;
///   after each the perturbation is projected into the ball and the image into [0,1];
/// - a random start: uniform in [-eps, eps] (Linf), or uniform in [-1, 1] rescaled to norm eps
///   (L2), then clipped to [0,1];
/// - the step size: eps / 3 in Linf and 0.4 eps in L2, the ratios of the reference's sweep
///   (0.01 at eps 0.03; 0.1 at 0.251 and 0.2 at 0.502). No early stop: segmentation has no
///   single "fooled" event.
///
/// The loss of each image is its own sum over pixels divided by its pixel count, so an image's
/// result does not depend on the batch it runs in (the reference sums a batch; the sign and
/// the per-image L2 step do not see the difference).
///
/// Example:
///   auto logits = [&](const torch::Tensor& x) { return selfie.forward(x); };  // N×K×H×W
///   foil::SegAttackOptions o;
///   o.loss = "segpgd";
///   torch::Tensor adv = foil::segmentation_attack(logits, images, labels, o);

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace foil {

/// A segmenter's logits per pixel and class, N×K×H×W, differentiable in the pixels.
using PixelLogits = std::function<torch::Tensor(const torch::Tensor& pixels)>;

/// The attack's settings; the defaults are the reference's sweep.
struct SegAttackOptions {
  std::string loss = "segpgd";  ///< pgd (mean pixel cross-entropy), segpgd or cospgd
  std::string norm = "linf";    ///< linf or l2
  double eps = 8.0 / 255;       ///< the budget
  int64_t steps = 10;           ///< iterations T
  double step_size = -1;        ///< per step; < 0: eps / 3 (Linf), 0.4 eps (L2)
  bool random_start = true;     ///< start at random in the ball, as the reference does
  /// SegPGD's lambda at every step; < 0: the schedule t / (2T). 0.5 weights every pixel alike
  /// (PGD's direction).
  double lambda = -1;
  int64_t ignore_index = 255;  ///< labels of pixels that are not scored
  uint64_t seed = 0;           ///< the random start, drawn per item (its own stream)
  /// The items' ids for their random streams (int64 N); undefined: 0..N-1.
  torch::Tensor ids;
};

/// The loss an attack of kind `loss` raises at step `step` of `steps`, per image (N): the
/// weighted sum of the pixels' cross-entropy over the image's pixel count. `logits` N×K×H×W,
/// `labels` int64 N×H×W.
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const SegAttackOptions& options, int64_t step);

/// Attacks `pixels` (N×C×H×W in [0,1]) so that the prediction leaves `labels` (int64 N×H×W at
/// the logits' resolution: the ground truth, or the clean prediction); returns the adversarial
/// images. Throws InputError for a budget, step count, loss or norm out of range.
torch::Tensor segmentation_attack(const PixelLogits& logits, const torch::Tensor& pixels,
                                  const torch::Tensor& labels, const SegAttackOptions& options);

}  // namespace foil
