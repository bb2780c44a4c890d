#include "foil/explain/explain.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <opencv2/imgproc.hpp>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "methods.h"

namespace foil {
namespace F = torch::nn::functional;

namespace {

struct MethodName {
  ExplainMethod method;
  const char* name;
};
constexpr MethodName kMethods[] = {
    {ExplainMethod::kGradCam, "gradcam"},         {ExplainMethod::kGradCamPlusPlus, "gradcam++"},
    {ExplainMethod::kHiResCam, "hirescam"},       {ExplainMethod::kXGradCam, "xgradcam"},
    {ExplainMethod::kLayerCam, "layercam"},       {ExplainMethod::kScoreCam, "scorecam"},
    {ExplainMethod::kAblationCam, "ablationcam"}, {ExplainMethod::kEigenCam, "eigencam"},
    {ExplainMethod::kSaliency, "saliency"},       {ExplainMethod::kInputXGradient, "inputxgrad"},
    {ExplainMethod::kIntegratedGradients, "ig"},  {ExplainMethod::kSmoothGrad, "smoothgrad"},
    {ExplainMethod::kOcclusion, "occlusion"},
};

/// Whether the CAM follows the class score's gradient at the layer.
bool gradient_weighted(ExplainMethod m) {
  return m != ExplainMethod::kScoreCam && m != ExplainMethod::kAblationCam &&
         m != ExplainMethod::kEigenCam;
}

/// Extra tokens a token layer may carry before its grid: a class token and register tokens.
constexpr int64_t kMaxExtraTokens = 5;

}  // namespace

const std::vector<ExplainMethod>& explain_methods() {
  static const std::vector<ExplainMethod> all = [] {
    std::vector<ExplainMethod> v;
    for (const auto& m : kMethods) v.push_back(m.method);
    return v;
  }();
  return all;
}

ExplainMethod parse_explain_method(const std::string& name, const std::string& flag) {
  std::vector<std::string> names;
  for (const auto& m : kMethods) {
    if (name == m.name) return m.method;
    names.emplace_back(m.name);
  }
  throw InputError(
      fmt::format("{}: expected one of {}, got '{}'", flag, fmt::join(names, ", "), name));
}

std::string explain_method_name(ExplainMethod method) {
  for (const auto& m : kMethods)
    if (m.method == method) return m.name;
  return "";
}

bool explain_uses_layer(ExplainMethod m) {
  return m == ExplainMethod::kGradCam || m == ExplainMethod::kGradCamPlusPlus ||
         m == ExplainMethod::kHiResCam || m == ExplainMethod::kXGradCam ||
         m == ExplainMethod::kLayerCam || m == ExplainMethod::kScoreCam ||
         m == ExplainMethod::kAblationCam || m == ExplainMethod::kEigenCam;
}

void check_explain_options(const ExplainOptions& o) {
  check_input(o.ig_steps >= 1 && o.ig_steps <= 100000, "--ig-steps", "an integer in 1..100000",
              std::to_string(o.ig_steps));
  check_input(o.smooth_samples >= 1 && o.smooth_samples <= 100000, "--samples",
              "an integer in 1..100000", std::to_string(o.smooth_samples));
  check_input(std::isfinite(o.smooth_sigma) && o.smooth_sigma >= 0 && o.smooth_sigma <= 10,
              "--noise", "a value in [0, 10]", fmt::format("{}", o.smooth_sigma));
  check_input(o.window >= 0, "--window", "a window side >= 1 (0: a seventh of the image)",
              std::to_string(o.window));
  check_input(o.stride >= 0, "--stride", "a stride >= 1 (0: half the window)",
              std::to_string(o.stride));
  check_input(o.batch >= 1 && o.batch <= 100000, "--batch", "an integer in 1..100000",
              std::to_string(o.batch));
}

torch::Tensor token_grid(const torch::Tensor& a) {
  if (a.dim() == 4 && a.size(2) * a.size(3) > 1) return a;
  if (a.dim() != 3) return {};
  const int64_t t = a.size(1);
  const auto s = static_cast<int64_t>(std::floor(std::sqrt(static_cast<double>(t))));
  const int64_t extra = t - s * s;
  if (s < 2 || extra > kMaxExtraTokens) return {};
  return a.slice(1, extra).reshape({a.size(0), s, s, a.size(2)}).permute({0, 3, 1, 2});
}

std::string default_cam_layer(Model& model, const torch::Tensor& sample) {
  const auto names = model.layer_names();
  torch::AutoGradMode enable_grad(true);
  const auto input = sample.slice(0, 0, 1).detach().to(model.device()).requires_grad_(true);
  const auto out = model.forward(input, names);
  // The last spatial or token layer the output depends on (graphs may compute spatial values
  // after or beside it, such as a detector's box decode; a transformer's last layers may feed
  // only the class token to the head).
  std::vector<std::string> spatial;
  std::vector<torch::Tensor> taps;
  // A detector's class-score head computes the scores themselves, not features.
  const auto* tfjs = dynamic_cast<const GraphModel*>(&model);
  for (const auto& name : names) {
    const auto& t = out.taps.at(name);
    if (tfjs && tfjs->class_head_nodes().count(name)) continue;
    if (token_grid(t).defined() && t.requires_grad()) {
      spatial.push_back(name);
      taps.push_back(t);
    }
  }
  if (!taps.empty()) {
    const auto grads = torch::autograd::grad({out.output.sum()}, taps, {}, false, false, true);
    for (size_t k = grads.size(); k-- > 0;)
      if (grads[k].defined() &&
          (taps[k].dim() == 4 || token_grid(grads[k]).abs().sum().item<double>() > 0))
        return spatial[k];
  }
  throw InputError("model " + model.info().name +
                   ": no layer with a spatial output (N x K x h x w) or a token grid (N x T x D) "
                   "for a CAM; use --method saliency");
}

torch::Tensor detail::upsample_maps(const torch::Tensor& maps, int64_t h, int64_t w) {
  return F::interpolate(maps.unsqueeze(1), F::InterpolateFuncOptions()
                                               .size(std::vector<int64_t>{h, w})
                                               .mode(torch::kBilinear)
                                               .align_corners(false))
      .squeeze(1);
}

torch::Tensor explain(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                      ExplainMethod method, const std::string& layer, const ExplainOptions& o) {
  check_explain_options(o);
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor input = x.detach().to(model.device()).requires_grad_(true);
  const torch::Tensor cls = classes.to(model.device()).view({-1, 1});
  const int64_t h = x.size(2), w = x.size(3);
  switch (method) {
    case ExplainMethod::kSaliency:
    case ExplainMethod::kInputXGradient: {
      const torch::Tensor score = model.forward(input).gather(1, cls).sum();
      const torch::Tensor g = torch::autograd::grad({score}, {input})[0];
      if (method == ExplainMethod::kSaliency) return g.abs().amax(1);
      return (g * input.detach()).sum(1).abs();
    }
    case ExplainMethod::kIntegratedGradients:
      return integrated_gradients(model, input, classes, o.ig_steps).sum(1).abs();
    case ExplainMethod::kSmoothGrad:
      return detail::smooth_grad(model, input.detach(), cls, o);
    case ExplainMethod::kOcclusion:
      return detail::occlusion(model, input.detach(), cls, o);
    default:
      break;
  }
  const auto out = model.forward(input, {layer});
  const torch::Tensor a = out.taps.at(layer);
  const torch::Tensor grid = token_grid(a);
  check_input(grid.defined(), "--layer " + layer,
              "a layer with a spatial output (N x K x h x w) or a token grid (N x T x D, T = "
              "s^2 plus at most 5 class/register tokens) for a CAM",
              fmt::format("an output of shape {}", fmt::join(a.sizes(), "x")));
  torch::Tensor cam;
  if (gradient_weighted(method)) {
    const torch::Tensor score = out.output.gather(1, cls).sum();
    const torch::Tensor g = torch::autograd::grad({score}, {a})[0];
    cam = detail::gradient_cam(method, grid.detach(), token_grid(g));
  } else if (method == ExplainMethod::kScoreCam) {
    cam = detail::score_cam(model, input.detach(), cls, grid.detach(), o.batch);
  } else if (method == ExplainMethod::kAblationCam) {
    cam = detail::ablation_cam(model, input.detach(), cls, layer, a.detach(), grid.detach(),
                               out.output.detach(), o.batch);
  } else {
    cam = detail::eigen_cam(grid.detach());
  }
  return detail::upsample_maps(cam, h, w).detach();
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
