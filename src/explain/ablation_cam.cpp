// Ablation-CAM (Desai & Ramaswamy 2020): channel k weighs (y_c - y_c^k) / y_c, where y_c^k is
// the class score with the layer's channel k set to zero, in a forward pass from the layer on.
// pytorch-grad-cam sets a channel to a large negative value instead of zero when the layer's
// output can be negative; foil zeroes it, as the paper.
#include <torch/torch.h>

#include "foil/models/model.h"
#include "methods.h"

namespace foil::detail {

torch::Tensor ablation_cam(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                           const std::string& layer, const torch::Tensor& a,
                           const torch::Tensor& grid, const torch::Tensor& logits, int64_t batch) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), k = grid.size(1);
  // Channels are dim 1 of a spatial output (N×K×h×w), the last dim of a token one (N×T×D).
  const int64_t channel_dim = a.dim() == 4 ? 1 : a.dim() - 1;
  std::vector<int64_t> scale_shape(a.dim(), 1);
  std::vector<torch::Tensor> scores;
  for (int64_t b = 0; b < n * k; b += batch) {
    const int64_t e = std::min(n * k, b + batch);
    const torch::Tensor idx = torch::arange(b, e, torch::kLong).to(x.device());
    const torch::Tensor items = idx.div(k, "floor"), channels = idx.remainder(k);
    scale_shape[0] = e - b;
    scale_shape[channel_dim] = k;
    const torch::Tensor keep = torch::ones({e - b, k}, x.options())
                                   .scatter_(1, channels.view({-1, 1}), 0.0)
                                   .view(scale_shape);
    const torch::Tensor out = model.forward(x.index_select(0, items), {}, {layer, keep}).output;
    scores.push_back(out.gather(1, cls.index_select(0, items)).squeeze(1));
  }
  const torch::Tensor y = logits.gather(1, cls);  // N×1
  const torch::Tensor drop = y - torch::cat(scores).view({n, k});
  // A zero class score cannot be divided by: its raw drops weigh the channels.
  const torch::Tensor weights = torch::where(y != 0, drop / y, drop);
  return torch::relu((weights.view({n, k, 1, 1}) * grid).sum(1));
}

}  // namespace foil::detail
