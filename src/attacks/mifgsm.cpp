#include "foil/attacks/mifgsm.h"

#include <torch/torch.h>

namespace foil {

torch::Tensor MiFgsm::step(const torch::Tensor& adv, const torch::Tensor& grad,
                           torch::Tensor& momentum) const {
  auto g = grad / grad.abs().mean({1, 2, 3}, /*keepdim=*/true).clamp_min(1e-12);
  g = g + options_.decay() * momentum;
  momentum = g;
  return adv + options_.alpha() * norm_->direction(g);
}

}  // namespace foil
