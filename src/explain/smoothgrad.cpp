// SmoothGrad (Smilkov et al. 2017): the saliency map (|gradient|, max over channels) averaged
// over noisy copies of the image (noise sd in pixels of [0,1]; the paper's 15% of the range).
#include <torch/torch.h>

#include "foil/models/model.h"
#include "methods.h"

namespace foil::detail {

torch::Tensor smooth_grad(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                          const ExplainOptions& o) {
  torch::AutoGradMode enable_grad(true);
  const int64_t n = x.size(0);
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  torch::Tensor total = torch::zeros({n, x.size(2), x.size(3)}, x.options());
  const int64_t per_pass = std::max<int64_t>(1, o.batch / std::max<int64_t>(1, n));
  for (int64_t s = 0; s < o.smooth_samples; s += per_pass) {
    const int64_t copies = std::min(per_pass, o.smooth_samples - s);
    const torch::Tensor noise = torch::randn({copies * n, x.size(1), x.size(2), x.size(3)}, gen);
    const torch::Tensor noisy =
        (x.detach().repeat({copies, 1, 1, 1}) + o.smooth_sigma * noise.to(x.device()))
            .requires_grad_(true);
    const torch::Tensor score = model.forward(noisy).gather(1, cls.repeat({copies, 1})).sum();
    const torch::Tensor g = torch::autograd::grad({score}, {noisy})[0];
    total += g.abs().amax(1).view({copies, n, x.size(2), x.size(3)}).sum(0);
  }
  return (total / static_cast<double>(o.smooth_samples)).detach();
}

}  // namespace foil::detail
