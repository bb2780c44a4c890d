#include "foil/explain/explain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <opencv2/imgproc.hpp>

#include "foil/core/error.h"
#include "foil/models/model.h"
#include "foil/models/tfjs.h"

namespace foil {
namespace F = torch::nn::functional;

ExplainMethod parse_explain_method(const std::string& name) {
  if (name == "gradcam") return ExplainMethod::kGradCam;
  if (name == "gradcam++") return ExplainMethod::kGradCamPlusPlus;
  if (name == "saliency") return ExplainMethod::kSaliency;
  if (name == "inputxgrad") return ExplainMethod::kInputXGradient;
  throw InputError("--method: expected gradcam, gradcam++, saliency or inputxgrad, got '" + name +
                   "'");
}

std::string explain_method_name(ExplainMethod m) {
  switch (m) {
    case ExplainMethod::kGradCam:
      return "gradcam";
    case ExplainMethod::kGradCamPlusPlus:
      return "gradcam++";
    case ExplainMethod::kSaliency:
      return "saliency";
    case ExplainMethod::kInputXGradient:
      return "inputxgrad";
  }
  return "";
}

bool explain_uses_layer(ExplainMethod m) {
  return m == ExplainMethod::kGradCam || m == ExplainMethod::kGradCamPlusPlus;
}

std::string default_cam_layer(Model& model, const torch::Tensor& sample) {
  const auto names = model.layer_names();
  torch::AutoGradMode enable_grad(true);
  const auto input = sample.slice(0, 0, 1).detach().to(model.device()).requires_grad_(true);
  const auto out = model.forward(input, names);
  // The last spatial layer the output depends on (graphs may compute spatial values after
  // or beside it, such as a detector's box decode).
  std::vector<std::string> spatial;
  std::vector<torch::Tensor> taps;
  // A detector's class-score head computes the scores themselves, not features.
  const auto* tfjs = dynamic_cast<const TfjsModel*>(&model);
  for (const auto& name : names) {
    const auto& t = out.taps.at(name);
    if (tfjs && tfjs->class_head_nodes().count(name)) continue;
    if (t.dim() == 4 && t.size(2) * t.size(3) > 1 && t.requires_grad()) {
      spatial.push_back(name);
      taps.push_back(t);
    }
  }
  if (!taps.empty()) {
    const auto grads = torch::autograd::grad({out.output.sum()}, taps, {}, false, false, true);
    for (size_t k = grads.size(); k-- > 0;)
      if (grads[k].defined()) return spatial[k];
  }
  throw InputError("model " + model.info().name +
                   ": no layer with a spatial output (N x K x h x w) for Grad-CAM; use --method "
                   "saliency");
}

torch::Tensor explain(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                      ExplainMethod method, const std::string& layer) {
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor input = x.detach().to(model.device()).requires_grad_(true);
  const torch::Tensor cls = classes.to(model.device()).view({-1, 1});
  const int64_t h = x.size(2), w = x.size(3);
  if (!explain_uses_layer(method)) {
    const torch::Tensor score = model.forward(input).gather(1, cls).sum();
    const torch::Tensor g = torch::autograd::grad({score}, {input})[0];
    if (method == ExplainMethod::kSaliency) return g.abs().amax(1);
    return (g * input.detach()).sum(1).abs();
  }
  const auto out = model.forward(input, {layer});
  const torch::Tensor a = out.taps.at(layer);
  check_input(a.dim() == 4 && a.size(2) * a.size(3) > 1, "--layer " + layer,
              "a layer with a spatial output (N x K x h x w) for Grad-CAM",
              fmt::format("an output of shape {}", fmt::join(a.sizes(), "x")));
  const torch::Tensor score = out.output.gather(1, cls).sum();
  const torch::Tensor g = torch::autograd::grad({score}, {a})[0];
  torch::Tensor weights;
  if (method == ExplainMethod::kGradCam) {
    weights = g.mean({2, 3}, /*keepdim=*/true);
  } else {
    // Grad-CAM++ with the exponential-score closed form used by pytorch-grad-cam.
    const torch::Tensor g2 = g.pow(2), g3 = g2 * g;
    const torch::Tensor sum_a = a.detach().sum({2, 3}, /*keepdim=*/true);
    torch::Tensor alpha = g2 / (2 * g2 + sum_a * g3 + 1e-7);
    alpha = torch::where(g.ne(0), alpha, torch::zeros_like(alpha));
    weights = (torch::relu(g) * alpha).sum({2, 3}, /*keepdim=*/true);
  }
  torch::Tensor cam = torch::relu((weights * a.detach()).sum(1, /*keepdim=*/true));
  cam = F::interpolate(cam, F::InterpolateFuncOptions()
                                .size(std::vector<int64_t>{h, w})
                                .mode(torch::kBilinear)
                                .align_corners(false));
  return cam.squeeze(1).detach();
}

torch::Tensor normalize_maps(const torch::Tensor& maps) {
  const torch::Tensor m = maps.flatten(1).amax(1).view({-1, 1, 1});
  return maps / m.clamp_min(1e-12);
}

torch::Tensor top_percent(const torch::Tensor& maps, double q) {
  check_input(q >= 0 && q <= 100, "q", "a percentage in [0, 100]", fmt::format("{}", q));
  const int64_t n = maps.size(0), hw = maps.size(1) * maps.size(2);
  const int64_t k = static_cast<int64_t>(std::llround(q / 100.0 * static_cast<double>(hw)));
  torch::Tensor mask = torch::zeros({n, hw}, maps.options().dtype(torch::kBool));
  if (k > 0) {
    const torch::Tensor idx = std::get<1>(maps.reshape({n, hw}).topk(k, 1));
    mask.scatter_(1, idx, true);
  }
  return mask.view({n, maps.size(1), maps.size(2)});
}

torch::Tensor overlay(const torch::Tensor& image, const torch::Tensor& map, double alpha) {
  const int64_t h = map.size(0), w = map.size(1);
  torch::Tensor m = map.detach().cpu().clamp(0, 1).mul(255).to(torch::kUInt8).contiguous();
  cv::Mat grey(static_cast<int>(h), static_cast<int>(w), CV_8UC1, m.data_ptr());
  cv::Mat colour;
  cv::applyColorMap(grey, colour, cv::COLORMAP_JET);
  cv::cvtColor(colour, colour, cv::COLOR_BGR2RGB);
  torch::Tensor heat = torch::from_blob(colour.data, {h, w, 3}, torch::kUInt8)
                           .permute({2, 0, 1})
                           .to(torch::kFloat32)
                           .div(255.0);
  torch::Tensor img = image.detach().cpu();
  if (img.size(0) == 1) img = img.expand({3, h, w});
  return ((1 - alpha) * img + alpha * heat).clamp(0, 1);
}

}  // namespace foil
