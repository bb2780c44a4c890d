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

double iou_chance(double q) {
  const double f = q / 100.0;
  return f / (2.0 - f);
}

torch::Tensor top_percent_ranked(const torch::Tensor& score, const torch::Tensor& tie_break,
                                 double q, torch::Tensor* tied_share) {
  check_input(q >= 0 && q <= 100, "q", "a percentage in [0, 100]", fmt::format("{}", q));
  const int64_t n = score.size(0), hw = score.size(1) * score.size(2);
  const int64_t k = static_cast<int64_t>(std::llround(q / 100.0 * static_cast<double>(hw)));
  const torch::Tensor s = score.reshape({n, hw}), t = tie_break.reshape({n, hw}).to(s.dtype());
  // Lexicographic order (score, then tie_break), descending: a stable sort by the secondary
  // key, then a stable sort by the primary one.
  const torch::Tensor by_t = std::get<1>(t.sort(/*stable=*/true, 1, /*descending=*/true));
  const torch::Tensor by_s =
      std::get<1>(s.gather(1, by_t).sort(/*stable=*/true, 1, /*descending=*/true));
  const torch::Tensor order = by_t.gather(1, by_s);
  torch::Tensor mask = torch::zeros({n, hw}, s.options().dtype(torch::kBool));
  if (k > 0) mask.scatter_(1, order.slice(1, 0, k), true);
  if (tied_share) {
    torch::Tensor share = torch::zeros({n}, s.options().dtype(torch::kDouble));
    if (k > 0 && k < hw) {
      const torch::Tensor last = order.select(1, k - 1).unsqueeze(1);
      const torch::Tensor tied = s.eq(s.gather(1, last)) & t.eq(t.gather(1, last));
      const torch::Tensor cut = (tied & ~mask).any(1);
      share = torch::where(cut, tied.sum(1).to(torch::kDouble) / static_cast<double>(hw), share);
    }
    *tied_share = share;
  }
  return mask.view({n, score.size(1), score.size(2)});
}

RegionAnalysis analyze_regions(Model& model, const torch::Tensor& x, const torch::Tensor& x_adv,
                               const torch::Tensor& labels, const torch::Tensor& importance,
                               double q, const torch::Tensor& attack_score) {
  check_input(q > 0 && q < 100, "--q", "a percentage in (0, 100)", fmt::format("{}", q));
  torch::NoGradGuard no_grad;
  const torch::Tensor delta = (x_adv - x).to(torch::kCPU);
  const torch::Tensor magnitude = delta.abs().sum(1);  // N×H×W
  RegionAnalysis r;
  r.roi = top_percent(importance.to(torch::kCPU), q);
  const torch::Tensor score =
      attack_score.defined() ? attack_score.to(torch::kCPU).to(magnitude.dtype()) : magnitude;
  r.roa = top_percent_ranked(score, magnitude, q, &r.roa_tied_share);
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
