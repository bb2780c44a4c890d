#include "foil/models/model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <sstream>

#include "foil/core/error.h"

namespace foil {

torch::Tensor Model::forward(const torch::Tensor& x) { return forward(x, {}).output; }

TapOutputs Model::forward(const torch::Tensor& x, const std::vector<std::string>& taps) {
  check_input_shape(x);
  check_tap_names(taps);
  return run(normalize(x.to(device_)), taps);
}

TapOutputs Model::forward(const torch::Tensor& x, const std::vector<std::string>& taps,
                          const LayerScale& edit) {
  check_input_shape(x);
  check_tap_names(taps);
  check_tap_names({edit.layer});
  check_input(edit.scale.defined(), "layer scale", "a tensor", "none");
  return run_scaled(normalize(x.to(device_)), taps, {edit.layer, edit.scale.to(device_)});
}

TapOutputs Model::run_scaled(const torch::Tensor& /*normalized*/,
                             const std::vector<std::string>& /*taps*/, const LayerScale& /*edit*/) {
  throw InputError(
      fmt::format("model {} ({}): cannot edit a layer's output (needed by "
                  "Ablation-CAM); use another method",
                  info_.name, info_.backend));
}

void Model::set_normalization(std::vector<double> mean, std::vector<double> std) {
  check_input(mean.size() == std.size(), "--mean/--std", "lists of the same length",
              fmt::format("{} and {} values", mean.size(), std.size()));
  for (double s : std) check_input(s > 0, "--std", "values > 0", fmt::format("{}", s));
  if (info_.input.channels > 0 && !mean.empty())
    check_input(static_cast<int64_t>(mean.size()) == info_.input.channels || mean.size() == 1,
                "--mean/--std",
                fmt::format("1 or {} values (one per channel)", info_.input.channels),
                fmt::format("{}", mean.size()));
  info_.mean = std::move(mean);
  info_.std = std::move(std);
  mean_t_ = std_t_ = torch::Tensor();
  if (!info_.mean.empty()) {
    const auto c = static_cast<int64_t>(info_.mean.size());
    mean_t_ = torch::tensor(info_.mean, torch::kFloat32).view({1, c, 1, 1}).to(device_);
    std_t_ = torch::tensor(info_.std, torch::kFloat32).view({1, c, 1, 1}).to(device_);
  }
}

torch::Tensor Model::normalize(const torch::Tensor& x) const {
  if (!mean_t_.defined()) return x;
  return (x - mean_t_.to(x.device())) / std_t_.to(x.device());
}

void Model::check_input_shape(const torch::Tensor& x) const {
  const ImageShape& s = info_.input;
  std::string got = "a " + std::to_string(x.dim()) + "-d tensor";
  if (x.dim() == 4)
    got = fmt::format("{}x{}x{} (batch of {})", x.size(1), x.size(2), x.size(3), x.size(0));
  const bool ok = x.dim() == 4 && (s.channels == 0 || x.size(1) == s.channels) &&
                  (s.height == 0 || x.size(2) == s.height) &&
                  (s.width == 0 || x.size(3) == s.width);
  check_input(ok, "model " + info_.name + " input", "images of shape " + s.str(), got);
}

void Model::check_tap_names(const std::vector<std::string>& taps) const {
  if (taps.empty()) return;
  const auto names = layer_names();
  for (const auto& t : taps) {
    if (std::find(names.begin(), names.end(), t) != names.end()) continue;
    // Graph models have hundreds of layers: name the last ones, where taps usually go.
    const size_t shown = std::min<size_t>(names.size(), 12);
    throw InputError(fmt::format("layer '{}': not a layer of model {} (available: {}{})", t,
                                 info_.name, shown < names.size() ? "..., " : "",
                                 fmt::join(names.end() - shown, names.end(), ", ")));
  }
}

std::vector<double> parse_number_list(const std::string& text, const std::string& flag) {
  std::vector<double> out;
  for (const std::string& item : split_list(text, flag)) {
    const auto v = parse_decimal(item);
    if (!v)
      throw InputError(flag + ": expected a comma-separated list of finite decimal numbers, got '" +
                       text + "'");
    out.push_back(*v);
  }
  check_input(!out.empty(), flag, "a comma-separated list of numbers", "'" + text + "'");
  return out;
}

}  // namespace foil
