// Score-CAM as its authors compute it (Wang et al. 2020, haofanwang/Score-CAM): each channel,
// upsampled and min-max scaled to [0,1], masks the model's normalised input; the class's
// softmax probability on each masked input weighs its channel. No softmax over the channels
// (pytorch-grad-cam's variant); a constant channel, which cannot be scaled, weighs 0 (the
// authors skip it).
#include <torch/torch.h>

#include "foil/models/model.h"
#include "methods.h"

namespace foil::detail {

torch::Tensor normalized_mask(const Model& model, const torch::Tensor& x, const torch::Tensor& m) {
  const std::vector<double>& mean = model.info().mean;
  if (mean.empty()) return x * m;
  // x' with (x' - mean) / std = m (x - mean) / std: masked-out pixels take the mean colour.
  const torch::Tensor mu = torch::tensor(mean, x.options().dtype(torch::kDouble))
                               .to(x.scalar_type())
                               .view({1, -1, 1, 1});
  return mu + m * (x - mu);
}

torch::Tensor score_cam(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                        const torch::Tensor& a, int64_t batch) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), k = a.size(1), h = x.size(2), w = x.size(3);
  // N×K×H×W masks, each channel min-max scaled.
  torch::Tensor up = upsample_maps(a.flatten(0, 1), h, w).view({n, k, h, w});
  const torch::Tensor lo = up.amin({2, 3}, true), hi = up.amax({2, 3}, true);
  const torch::Tensor varies = (hi > lo).view({n, k});
  up = torch::where(hi > lo, (up - lo) / (hi - lo), torch::zeros_like(up));
  std::vector<torch::Tensor> scores;
  for (int64_t b = 0; b < n * k; b += batch) {
    const int64_t e = std::min(n * k, b + batch);
    const torch::Tensor idx = torch::arange(b, e, torch::kLong).to(x.device());
    const torch::Tensor items = idx.div(k, "floor");
    const torch::Tensor masked = normalized_mask(
        model, x.index_select(0, items), up.flatten(0, 1).index_select(0, idx).unsqueeze(1));
    scores.push_back(
        torch::softmax(model.forward(masked), 1).gather(1, cls.index_select(0, items)).squeeze(1));
  }
  const torch::Tensor weights =
      torch::where(varies, torch::cat(scores).view({n, k}), torch::zeros({n, k}, x.options()));
  return torch::relu((weights.view({n, k, 1, 1}) * a).sum(1));
}

}  // namespace foil::detail
