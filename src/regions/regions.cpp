#include "foil/regions/regions.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/explain/explain.h"
#include "foil/models/model.h"

namespace foil {

const std::array<std::string, 4>& region_parts() {
  static const std::array<std::string, 4> parts = {"both", "roi_only", "roa_only", "neither"};
  return parts;
}

RegionAnalysis analyze_regions(Model& model, const torch::Tensor& x, const torch::Tensor& x_adv,
                               const torch::Tensor& labels, const torch::Tensor& importance,
                               double q) {
  check_input(q > 0 && q < 100, "--q", "a percentage in (0, 100)", fmt::format("{}", q));
  torch::NoGradGuard no_grad;
  const torch::Tensor delta = (x_adv - x).to(torch::kCPU);
  const torch::Tensor magnitude = delta.abs().sum(1);  // N×H×W
  RegionAnalysis r;
  r.roi = top_percent(importance.to(torch::kCPU), q);
  r.roa = top_percent(magnitude, q);
  const torch::Tensor inter = (r.roi & r.roa).flatten(1).sum(1).to(torch::kDouble);
  const torch::Tensor uni = (r.roi | r.roa).flatten(1).sum(1).to(torch::kDouble);
  r.iou = inter / uni.clamp_min(1);
  const std::array<torch::Tensor, 4> parts = {r.roi & r.roa, r.roi & ~r.roa, ~r.roi & r.roa,
                                              ~r.roi & ~r.roa};
  const double hw = static_cast<double>(magnitude.size(1) * magnitude.size(2));
  const torch::Tensor total_mass = magnitude.flatten(1).sum(1).to(torch::kDouble);
  std::vector<torch::Tensor> pixel, mass, correct;
  auto correct_with = [&](const torch::Tensor& mask) {
    const torch::Tensor xa = x.to(torch::kCPU) + delta * mask.unsqueeze(1).to(delta.dtype());
    return model.forward(xa).argmax(1).cpu().eq(labels.to(torch::kCPU));
  };
  for (const auto& p : parts) {
    pixel.push_back(p.flatten(1).sum(1).to(torch::kDouble) / hw);
    mass.push_back((magnitude * p).flatten(1).sum(1).to(torch::kDouble) /
                   total_mass.clamp_min(1e-12));
    correct.push_back(correct_with(p));
  }
  r.pixel_share = torch::stack(pixel, 1);
  r.mass_share = torch::stack(mass, 1);
  r.correct_in_part = torch::stack(correct, 1);
  r.correct_clean = model.forward(x).argmax(1).cpu().eq(labels.to(torch::kCPU));
  r.correct_full = correct_with(torch::ones_like(r.roi));
  r.correct_in_roi = correct_with(r.roi);
  r.correct_in_roa = correct_with(r.roa);
  return r;
}

}  // namespace foil
