#pragma once
/// @file
/// What a patch optimises (`000_...`, Labarbarie et al. ICLR 2024): the decision
/// boundary (cross-entropy), one target image's features (feature point), or the whole
/// target-class feature distribution through optimal transport (sliced Wasserstein); and,
/// against detectors (`001_...`), a class's detection score lowered (vanish) or raised (appear).

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

namespace foil {

class Model;
struct Dataset;

/// What a patch optimises: the classifier loss or the optimal-transport feature objective.
struct ObjectiveOptions {
  /// "ce", "feature" or "ot"; for detectors also "vanish" (minimise the class's best detection
  /// score over the image, sigmoid of the Model output's class logit; every class's when
  /// target is -1) and "appear" (minimise -log of that score). Default "ce".
  TORCH_ARG(std::string, loss) = "ce";
  /// Target class; -1 = untargeted (ce: maximise the true-class loss; vanish: all classes).
  TORCH_ARG(int64_t, target) = -1;
  /// Tapped layers for feature/ot (default: default_feature_layer).
  TORCH_ARG(std::vector<std::string>, layers) = {};
  /// One weight per layer (default: all 1).
  TORCH_ARG(std::vector<double>, weights) = {};
  /// Random directions of the sliced Wasserstein distance, redrawn every step. Default 500.
  TORCH_ARG(int64_t, projections) = 500;
  /// Use the exact 1-D W2 along each feature axis instead of random projections.
  TORCH_ARG(bool, exact_1d) = false;
  /// Clean target-class images for the target distribution (at most). Default 500.
  TORCH_ARG(int64_t, max_target_images) = 500;
  /// Images feature/ot take the target distribution from (the first max_target_images of
  /// them), at the model's input size; undefined (default): the training data's images
  /// labelled as the target.
  TORCH_ARG(torch::Tensor, target_images) = {};
};

/// Squared 1-D Wasserstein-2 distance between the columns of `a` (N×K) and `b` (M×K), by
/// matching sorted values (quantiles of b interpolated when N != M), summed over the columns
/// (the reference's per-axis sum: a layer weighs in proportion to its width).
torch::Tensor wasserstein2_1d(const torch::Tensor& a, const torch::Tensor& b);

/// Sliced W2² between the rows of `a` (N×D) and `b` (M×D): the mean over `projections` random
/// unit directions (drawn from `gen`); 0 means the exact per-axis variant (the sum over the
/// D axes).
torch::Tensor sliced_wasserstein2(const torch::Tensor& a, const torch::Tensor& b,
                                  int64_t projections, at::Generator* gen = nullptr);

/// The feature layer feature/ot patches use by default: the model's last spatial layer (its
/// last convolutional features), else its last layer that is not as wide as the class count
/// (never the logits or the Softmax). Throws InputError when there is none.
std::string default_feature_layer(Model& model, const torch::Tensor& sample);

/// Pooled features of a tap: global-average-pooled when spatial, flattened otherwise.
torch::Tensor pooled(const torch::Tensor& tap);

/// A loss to minimise over patched images, for one source model.
class PatchObjective {
 public:
  virtual ~PatchObjective() = default;
  /// The loss for `patched` images with true `labels`.
  virtual torch::Tensor loss(Model& model, const torch::Tensor& patched,
                             const torch::Tensor& labels, at::Generator& gen) = 0;
  /// Whether the loss is a mean of per-image terms; false for a loss of the whole batch's
  /// feature distribution (ot).
  virtual bool per_item() const { return true; }
  /// Data-parallel training: `patched` is this process's share of a batch split over the job's
  /// processes. A per-image loss then averages over the share (the trainer weights the shares);
  /// a distribution loss gathers the other shares' features and is the whole batch's, its
  /// gradient flowing into this share only.
  void set_shared(bool shared) { shared_ = shared; }

 protected:
  bool shared_ = false;  ///< see set_shared
};

/// Builds the objective for `model`; feature/ot take their targets from `data`'s images of
/// the target class. Throws InputError on bad options (unknown layers are listed).
std::unique_ptr<PatchObjective> make_objective(const ObjectiveOptions& options, Model& model,
                                               const Dataset& data);

}  // namespace foil
