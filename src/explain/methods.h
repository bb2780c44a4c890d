#pragma once
// The explain module's methods, one file each; `explain` (explain.cpp) dispatches to them.

#include <torch/types.h>

#include <string>

#include "foil/explain/explain.h"

namespace foil {

class Model;

namespace detail {

/// A CAM's N×h×w map upsampled (bilinear) to h x w pixels: N×h×w.
torch::Tensor upsample_maps(const torch::Tensor& maps, int64_t h, int64_t w);

/// Grad-CAM, Grad-CAM++, HiResCAM, XGrad-CAM or LayerCAM from a layer's activations `a` and
/// the class score's gradient `g` (both N×K×h×w): N×h×w, non-negative.
torch::Tensor gradient_cam(ExplainMethod method, const torch::Tensor& a, const torch::Tensor& g);

/// `m` (N×1×H×W, in [0,1]) applied to images `x` in the model's normalised space, as the CAM
/// references mask: where m is 0 a pixel takes the model's mean colour (black without a mean).
torch::Tensor normalized_mask(const Model& model, const torch::Tensor& x, const torch::Tensor& m);

/// Score-CAM (the authors' weights: the class probability of each masked input) from activations
/// `a` (N×K×h×w) of images `x` for classes `cls` (N×1).
torch::Tensor score_cam(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                        const torch::Tensor& a, int64_t batch);

/// Ablation-CAM of images `x` for classes `cls` (N×1) at `layer`, whose output `a` (as tapped)
/// reads as `grid` (N×K×h×w), `logits` the clean output.
torch::Tensor ablation_cam(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                           const std::string& layer, const torch::Tensor& a,
                           const torch::Tensor& grid, const torch::Tensor& logits, int64_t batch);

/// Eigen-CAM from activations `a` (N×K×h×w): N×h×w.
torch::Tensor eigen_cam(const torch::Tensor& a);

/// SmoothGrad of images `x` for classes `cls` (N×1): N×H×W.
torch::Tensor smooth_grad(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                          const ExplainOptions& options);

/// Occlusion of images `x` for classes `cls` (N×1): N×H×W.
torch::Tensor occlusion(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                        const ExplainOptions& options);

}  // namespace detail
}  // namespace foil
