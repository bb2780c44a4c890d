#pragma once
/// @file
/// TOG-vanishing (Chow et al. 2020, "Adversarial Objectness Gradient Attacks in Real-time
/// Object Detection Systems"; the authors' git-disl/TOG `tog_vanishing`): iterative signed
/// gradient descent on the detector's objectness loss with no objects, so that every object
/// vanishes. As the reference: a uniform random start in the Linf ball, `steps` (10) steps of
/// `step_size` (2/255 at eps 8/255: eps / 4) against the sign of the gradient, projection to
/// the ball and [0,1] after each, no early stop.
///
/// Where foil differs, by necessity: the reference's detectors (YOLOv3, SSD, Faster R-CNN)
/// have an objectness score per anchor; the anchor-free detectors foil runs (CenterNet,
/// NanoDet) score each class at each location, so the objectness loss is the binary
/// cross-entropy of every class score against 0: the sum over locations and classes of
/// -log(1 - p) = softplus(logit). The step is eps / 4 at every budget (the reference fixes
/// 2/255, which is eps / 4 at its 8/255). An L2 budget (not in the reference) takes
/// L2-normalised steps of eps / 4 from a random start in the L2 ball.
///
/// TOG-fabrication (the reference's `tog_fabrication`: the same loop down the objectness loss
/// with every objectness label 1, so that objects appear everywhere): on anchor-free
/// detectors a location's objectness is its best class score, so the loss is the sum over
/// locations of -log(max_c p) = softplus(-max_c logit).
///
/// Example:
///   foil::GraphModel nanodet("nanodet.json");
///   auto logits = [&](const torch::Tensor& x) { return nanodet.class_logits(x); };
///   torch::Tensor adv = foil::tog_vanishing(logits, images, foil::TogOptions());

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>

namespace foil {

/// A detector's class logits at every location: N×locations×classes, differentiable in the
/// pixels (GraphModel::class_logits).
using DetectorLogits = std::function<torch::Tensor(const torch::Tensor& pixels)>;

/// TOG-vanishing's settings; the defaults are the reference's.
struct TogOptions {
  std::string norm = "linf";  ///< linf (the reference) or l2
  double eps = 8.0 / 255;     ///< the budget
  int64_t steps = 10;         ///< iterations (n_iter)
  double step_size = -1;      ///< per step; < 0: eps / 4 (the reference's 2/255 at 8/255)
  bool random_start = true;   ///< start uniformly in the ball, as the reference does
  /// vanishing (every object disappears) or fabrication (objects appear everywhere).
  std::string objective = "vanishing";
  uint64_t seed = 0;  ///< the random start, drawn per item (its own stream)
  /// The items' ids for their random streams (int64 N); undefined: 0..N-1. A batch cut from
  /// a bigger set passes its rows, so each item gets the same start in any batch.
  torch::Tensor ids;
};

/// The objectness loss TOG-vanishing lowers, per image (N): the sum over locations and classes
/// of -log(1 - sigmoid(logit)) = softplus(logit), exact at any logit.
torch::Tensor vanishing_loss(const torch::Tensor& logits);

/// The objectness loss TOG-fabrication lowers, per image (N): the sum over locations of
/// -log(sigmoid(max over classes of the logit)) = softplus(-max logit).
torch::Tensor fabrication_loss(const torch::Tensor& logits);

/// Runs TOG-vanishing or TOG-fabrication (`options.objective`) on `pixels` (N×C×H×W in [0,1]);
/// returns the adversarial images. Throws InputError for a budget or step count out of range, or an
/// unknown norm.
torch::Tensor tog_attack(const DetectorLogits& logits, const torch::Tensor& pixels,
                         const TogOptions& options);
/// tog_attack with the vanishing objective.
torch::Tensor tog_vanishing(const DetectorLogits& logits, const torch::Tensor& pixels,
                            TogOptions options);

}  // namespace foil
