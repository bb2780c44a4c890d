// Score-CAM (Wang et al. 2020): each channel, upsampled and scaled to [0,1], masks the image;
// the class probability on each masked image, softmaxed over the channels, weighs them.
#include <torch/torch.h>

#include "foil/models/model.h"
#include "methods.h"

namespace foil::detail {

torch::Tensor score_cam(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                        const torch::Tensor& a, int64_t batch) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), k = a.size(1), h = x.size(2), w = x.size(3);
  // N×K×H×W masks, each channel min-max scaled (a constant channel masks everything out).
  torch::Tensor up = upsample_maps(a.flatten(0, 1), h, w).view({n, k, h, w});
  const torch::Tensor lo = up.amin({2, 3}, true), hi = up.amax({2, 3}, true);
  up = torch::where(hi > lo, (up - lo) / (hi - lo), torch::zeros_like(up));
  // The paper's increase of confidence subtracts the baseline's score, the same for every
  // channel: the softmax over channels does not change, so it is left out.
  std::vector<torch::Tensor> scores;
  for (int64_t b = 0; b < n * k; b += batch) {
    const int64_t e = std::min(n * k, b + batch);
    const torch::Tensor idx = torch::arange(b, e, torch::kLong).to(x.device());
    const torch::Tensor items = idx.div(k, "floor");
    const torch::Tensor masked =
        x.index_select(0, items) * up.flatten(0, 1).index_select(0, idx).unsqueeze(1);
    scores.push_back(
        torch::softmax(model.forward(masked), 1).gather(1, cls.index_select(0, items)).squeeze(1));
  }
  const torch::Tensor weights = torch::softmax(torch::cat(scores).view({n, k}), 1);
  return torch::relu((weights.view({n, k, 1, 1}) * a).sum(1));
}

}  // namespace foil::detail
