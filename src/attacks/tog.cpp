// TOG-vanishing and TOG-fabrication (foil/attacks/tog.h).
#include "foil/attacks/tog.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"

namespace foil {
namespace {

/// Per-item L2 norm of N×... as N×1×1×1 (never below 1e-12).
torch::Tensor tog_item_norm(const torch::Tensor& t) {
  return t.flatten(1).norm(2, 1).clamp_min(1e-12).view({-1, 1, 1, 1});
}

/// `delta` projected into the ball of radius eps.
torch::Tensor tog_project(const torch::Tensor& delta, bool linf, double eps) {
  if (linf) return delta.clamp(-eps, eps);
  return delta * (eps / tog_item_norm(delta)).clamp_max(1.0);
}

}  // namespace

torch::Tensor vanishing_loss(const torch::Tensor& logits) {
  return torch::softplus(logits).flatten(1).sum(1);
}

torch::Tensor fabrication_loss(const torch::Tensor& logits) {
  return torch::softplus(-std::get<0>(logits.max(-1))).flatten(1).sum(1);
}

torch::Tensor tog_vanishing(const DetectorLogits& logits, const torch::Tensor& pixels,
                            TogOptions options) {
  options.objective = "vanishing";
  return tog_attack(logits, pixels, options);
}

torch::Tensor tog_attack(const DetectorLogits& logits, const torch::Tensor& pixels,
                         const TogOptions& o) {
  check_input(o.objective == "vanishing" || o.objective == "fabrication", "TOG objective",
              "vanishing or fabrication", "'" + o.objective + "'");
  const auto loss_of = o.objective == "vanishing" ? vanishing_loss : fabrication_loss;
  check_input(o.norm == "linf" || o.norm == "l2", "norm", "linf or l2", "'" + o.norm + "'");
  check_input(o.eps > 0 && o.eps <= (o.norm == "linf" ? 1.0 : 1e4), "eps",
              "a budget > 0 (at most 1 in Linf)", fmt::format("{:g}", o.eps));
  check_input(o.steps >= 1 && o.steps <= 100000, "steps", "an integer in 1..100000",
              std::to_string(o.steps));
  const bool linf = o.norm == "linf";
  const double step = o.step_size > 0 ? o.step_size : o.eps / 4;
  const torch::Tensor x = pixels.detach();
  const int64_t n = x.size(0);
  torch::Tensor delta = torch::zeros_like(x);
  if (o.random_start) {
    const torch::Tensor ids = o.ids.defined() ? o.ids : torch::arange(n, torch::kLong);
    // Its own stream: not the same-norm noise baseline drawn from (seed, id), and
    // fabrication's not vanishing's.
    SampleRandom random(
        o.seed ^ (o.objective == "vanishing" ? 0x746f672d76616e69ULL : 0x746f672d66616272ULL), ids);
    const torch::Tensor rows = torch::arange(n, torch::kLong);
    const auto shape = x.sizes().slice(1);
    if (linf) {
      delta = (random.uniform(rows, shape, x.device()) * 2 - 1) * o.eps;
    } else {  // uniform in the L2 ball: a random direction, radius eps * u^(1/d)
      const torch::Tensor dir = random.normal(rows, shape, x.device());
      const double d = static_cast<double>(x[0].numel());
      const torch::Tensor r =
          random.uniform(rows, {1}, x.device()).pow(1.0 / d).view({-1, 1, 1, 1});
      delta = dir / tog_item_norm(dir) * r * o.eps;
    }
    delta = (x + delta).clamp(0, 1) - x;
  }
  for (int64_t s = 0; s < o.steps; ++s) {
    torch::Tensor adv = (x + delta).detach().requires_grad_(true);
    const torch::Tensor loss = loss_of(logits(adv)).sum();
    const torch::Tensor grad = torch::autograd::grad({loss}, {adv})[0].detach();
    const torch::Tensor move = linf ? grad.sign() : grad / tog_item_norm(grad);
    delta = tog_project(delta - step * move, linf, o.eps);
    delta = (x + delta).clamp(0, 1) - x;
  }
  return (x + delta).detach();
}

}  // namespace foil
