// Integrated Gradients (Sundararajan et al. 2017), black baseline, right Riemann sum.
#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/explain/explain.h"
#include "foil/models/model.h"

namespace foil {

torch::Tensor integrated_gradients(Model& model, const torch::Tensor& x,
                                   const torch::Tensor& classes, int64_t steps) {
  check_input(steps >= 1, "--ig-steps", "an integer >= 1", std::to_string(steps));
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor input = x.detach().to(model.device());
  const torch::Tensor cls = classes.to(model.device()).view({-1, 1});
  torch::Tensor total = torch::zeros_like(input);
  for (int64_t k = 1; k <= steps; ++k) {
    const torch::Tensor point =
        (input * (static_cast<double>(k) / static_cast<double>(steps))).requires_grad_(true);
    const torch::Tensor score = model.forward(point).gather(1, cls).sum();
    total += torch::autograd::grad({score}, {point})[0];
  }
  return (input * total / static_cast<double>(steps)).detach();
}

}  // namespace foil
