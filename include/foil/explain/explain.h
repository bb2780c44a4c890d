#pragma once
/// @file
/// Where a model looks, for any tapped layer of any Model. Class activation maps of a
/// spatial layer (N x K x h x w) or of a transformer's token layer (N x T x D, read as a grid
/// once class/register tokens are dropped): Grad-CAM (Selvaraju et al. 2017), Grad-CAM++
/// (Chattopadhay et al. 2018), HiResCAM (Draelos & Carin 2020), XGrad-CAM (Fu et al. 2020),
/// LayerCAM (Jiang et al. 2021), Score-CAM (Wang et al. 2020), Ablation-CAM (Desai &
/// Ramaswamy 2020), Eigen-CAM (Muhammad & Yeasin 2020). Attributions of the input: gradient
/// saliency (Simonyan et al. 2014), input x gradient, Integrated Gradients (Sundararajan et al.
/// 2017), SmoothGrad (Smilkov et al. 2017) and Occlusion (Zeiler & Fergus 2014).
///
/// Example:
///   auto layer = default_cam_layer(*model, x);               // last spatial layer
///   auto maps = explain(*model, x, classes, ExplainMethod::kGradCam, layer);  // N×H×W

#include <torch/types.h>

#include <string>
#include <vector>

#include "foil/core/option_fields.h"

namespace foil {

class Model;

/// The methods (see the file comment).
enum class ExplainMethod {
  kGradCam,          ///< weights: the gradient's spatial mean per channel
  kGradCamPlusPlus,  ///< weights: positive gradients, weighted by the closed-form alphas
  kHiResCam,         ///< gradient times activation, element-wise, summed over channels
  kXGradCam,         ///< weights: the gradient's mean weighted by the activation's share
  kLayerCam,         ///< positive gradient times activation, element-wise
  kScoreCam,  ///< weights: the class probability with each channel as an input mask (the authors')
  kAblationCam,          ///< weights: the class score's relative drop with each channel zeroed
  kEigenCam,             ///< the activations' first principal direction (class-agnostic)
  kSaliency,             ///< the input gradient's magnitude (max over channels)
  kInputXGradient,       ///< input times gradient, summed over channels
  kIntegratedGradients,  ///< gradients along the path from a black image, times the difference
  kSmoothGrad,           ///< saliency averaged over noisy copies
  kOcclusion,            ///< the class score's drop when a window is blacked out
};

/// Every method, in the order of the enum.
const std::vector<ExplainMethod>& explain_methods();

/// How the methods that sample or slide work.
struct ExplainOptions {
  int64_t ig_steps = 32;        ///< Integrated Gradients: steps along the path (>= 1)
  int64_t smooth_samples = 25;  ///< SmoothGrad: noisy copies (>= 1)
  double smooth_sigma = 0.15;   ///< SmoothGrad: noise sd, in pixels of [0,1] (the paper's 15%)
  int64_t window = 0;           ///< Occlusion: window side in pixels (0: a seventh of the side)
  int64_t stride = 0;           ///< Occlusion: window stride (0: half the window)
  int64_t batch = 64;  ///< Score-CAM, Ablation-CAM, Occlusion, SmoothGrad: images per forward pass
  uint64_t seed = 0;   ///< SmoothGrad's noise
};

/// Throws InputError naming the flag for IG steps or samples < 1, sigma < 0 or not finite,
/// a negative window or stride, batch < 1.
void check_explain_options(const ExplainOptions& options);

/// The method-specific fields of ExplainOptions a user sets (foil/core/option_fields.h;
/// `used_by`: the methods that read each, by explain_method_name): `foil explain`'s and
/// `foil regions`' flags and foil.explain's keywords. batch and seed are the job's.
const std::vector<OptionField<ExplainOptions>>& explain_option_fields();

/// "gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "scorecam", "ablationcam",
/// "eigencam",
/// "saliency", "inputxgrad", "ig", "smoothgrad" or "occlusion"; throws InputError otherwise.
/// The error names `flag`.
ExplainMethod parse_explain_method(const std::string& name, const std::string& flag = "--method");
/// The name `parse_explain_method` takes back.
std::string explain_method_name(ExplainMethod method);
/// Whether the method needs a spatial (or token) layer.
bool explain_uses_layer(ExplainMethod method);

/// The last layer whose output on `sample` is spatial (N×K×h×w with h·w > 1), or a token
/// layer (see `token_grid`) whose grid tokens the output depends on: Grad-CAM's usual choice,
/// the last convolutional block or transformer block. Throws InputError when there is none.
std::string default_cam_layer(Model& model, const torch::Tensor& sample);

/// A layer output as N×K×h×w: spatial outputs as they are; a token layer N×T×D (T = e + s²,
/// s >= 2, e <= 5 leading class/register tokens) as its last s² tokens on an s×s grid,
/// N×D×s×s. Undefined when neither.
torch::Tensor token_grid(const torch::Tensor& a);

/// Maps for `x` (N×C×H×W) explaining class `classes` (int64 N): N×H×W, non-negative,
/// upsampled (bilinear) to the input size, not normalised. `layer` is used by the CAM
/// methods; a layer neither spatial nor token is an InputError.
torch::Tensor explain(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                      ExplainMethod method, const std::string& layer,
                      const ExplainOptions& options = {});

/// The windows Occlusion slides over an h x w image with `options` (window and stride as the
/// method resolves them): the forward passes it makes per image, besides the clean one.
int64_t occlusion_windows(int64_t h, int64_t w, const ExplainOptions& options);

/// Integrated Gradients' attributions, N×C×H×W, signed: (x - 0) times the mean gradient of the
/// class score at the `steps` points k/steps·x, k = 1..steps (the right Riemann sum of the
/// paper, black baseline). Their sum per image approaches score(x) - score(black) (the
/// completeness axiom) as steps grow.
torch::Tensor integrated_gradients(Model& model, const torch::Tensor& x,
                                   const torch::Tensor& classes, int64_t steps);

/// Each map scaled to [0,1] by its own maximum (all-zero maps stay zero).
torch::Tensor normalize_maps(const torch::Tensor& maps);

/// The top `q` percent of each map's pixels as a bool N×H×W mask (ties broken by order);
/// q in [0, 100].
torch::Tensor top_percent(const torch::Tensor& maps, double q);

/// A colour-mapped (JET) map blended over the image: 3×H×W in [0,1]. `alpha` is the map's
/// weight.
torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& map, double alpha = 0.5);

}  // namespace foil
