#pragma once
/// @file
/// Where a model looks: Grad-CAM (Selvaraju et al. 2017), Grad-CAM++ (Chattopadhay et
/// al. 2018), gradient saliency (Simonyan et al. 2014) and input x gradient, for any tapped
/// layer of any Model.
///
/// Example:
///   auto layer = default_cam_layer(*model, x);               // last spatial layer
///   auto maps = explain(*model, x, classes, ExplainMethod::kGradCam, layer);  // N×H×W

#include <torch/types.h>

#include <string>

namespace foil {

class Model;

/// Grad-CAM, Grad-CAM++, the input gradient's magnitude, input × gradient.
enum class ExplainMethod { kGradCam, kGradCamPlusPlus, kSaliency, kInputXGradient };

/// "gradcam", "gradcam++", "saliency" or "inputxgrad"; throws InputError otherwise.
ExplainMethod parse_explain_method(const std::string& name);
/// The name `parse_explain_method` takes back.
std::string explain_method_name(ExplainMethod method);
/// Whether the method needs a spatial layer.
bool explain_uses_layer(ExplainMethod method);

/// The last layer whose output on `sample` is spatial (N×K×h×w with h·w > 1): Grad-CAM's
/// usual choice, the last convolutional block. Throws InputError when there is none.
std::string default_cam_layer(Model& model, const torch::Tensor& sample);

/// Maps for `x` (N×C×H×W) explaining class `classes` (int64 N): N×H×W, non-negative,
/// upsampled (bilinear) to the input size, not normalised. `layer` is used by the CAM
/// methods; a non-spatial layer is an InputError.
torch::Tensor explain(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                      ExplainMethod method, const std::string& layer);

/// Each map scaled to [0,1] by its own maximum (all-zero maps stay zero).
torch::Tensor normalize_maps(const torch::Tensor& maps);

/// The top `q` percent of each map's pixels as a bool N×H×W mask (ties broken by order);
/// q in [0, 100].
torch::Tensor top_percent(const torch::Tensor& maps, double q);

/// A colour-mapped (JET) map blended over the image: 3×H×W in [0,1]. `alpha` is the map's
/// weight.
torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& map, double alpha = 0.5);

}  // namespace foil
