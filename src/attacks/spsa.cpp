#include "foil/attacks/spsa.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "foil/attacks/losses.h"
#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

Spsa::Spsa(AttackOptions options) : Attack(std::move(options), default_steps("spsa")) {
  check_input(options_.norm() == "linf", "--norm", "linf for spsa (Uesato et al.'s Linf form)",
              "'" + options_.norm() + "'");
}

std::string Spsa::describe() const {
  const auto& o = options_;
  return fmt::format(
      "spsa(norm=linf, eps={:g}, lr={:g}, steps={}, random_start={}, samples={}, delta={:g}, "
      "max_queries={}, seed={})",
      o.eps(), o.alpha(), o.steps(), o.random_start(), o.spsa_samples(), o.spsa_delta(),
      o.queries(), o.seed());
}

void Spsa::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                   const torch::Tensor& ids, AttackResult& r) const {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const double eps = options_.eps(), d = options_.spsa_delta(), lr = options_.alpha();
  const double sign = criterion.is_targeted() ? -1.0 : 1.0;
  const int64_t samples = options_.spsa_samples(), per_step = 2 * samples + 1;
  // Directions drawn per forward pass: by image size only, so each sample's stream, and its
  // result, do not depend on the batch.
  const int64_t chunk = std::clamp<int64_t>((int64_t{1} << 20) / x[0].numel(), 1, 32);
  const auto shape = x.sizes().slice(1);
  SampleRandom rng(options_.seed(), ids);
  torch::Tensor rows = torch::arange(n, x.options().dtype(torch::kLong));
  torch::Tensor x0 = x, pert = torch::zeros_like(x), m = torch::zeros_like(x),
                v = torch::zeros_like(x);
  // The random start (cleverhans always takes one): uniform in the eps-ball, within [0,1].
  if (options_.random_start() && eps > 0)
    pert = (x + norm_->random_start(rng, rows.cpu(), x, eps)).clamp(0, 1) - x;
  Criterion crit = criterion;
  r.item_queries = torch::zeros({n}, rows.options());
  auto loss = [&](const torch::Tensor& logits, const Criterion& c) {
    return sign * logit_margin(logits, c.loss_classes());
  };
  for (int64_t step = 0;; ++step) {
    // One query: fooled samples leave; so do those the next step would take past the budget.
    const torch::Tensor adv = (x0 + pert).clamp(0, 1);
    const torch::Tensor logits = model.forward(adv);
    if (step == 0) check_logits(logits, name(), 2);
    count_queries(r, rows, n);
    const torch::Tensor done = crit.is_adversarial(logits);
    const torch::Tensor spent = r.item_queries.index_select(0, rows);
    const torch::Tensor stop = done | spent.add(per_step).gt(options_.queries()) |
                               torch::full_like(done, step >= options_.steps());
    if (stop.any().item<bool>()) {
      const torch::Tensor idx = stop.nonzero().flatten();
      record_rows(r, rows.index_select(0, idx), adv.index_select(0, idx),
                  logits.index_select(0, idx), done.index_select(0, idx));
      const torch::Tensor keep = stop.logical_not().nonzero().flatten();
      keep_rows(keep, {&rows, &x0, &pert, &m, &v});
      crit = crit.select(keep);
    }
    if (rows.numel() == 0) return;
    // The gradient estimate from `samples` Rademacher directions, two queries each.
    const int64_t k = rows.numel();
    torch::Tensor g = torch::zeros_like(pert);
    const torch::Tensor base = x0 + pert;
    for (int64_t first = 0; first < samples; first += chunk) {
      const int64_t s = std::min(chunk, samples - first);
      std::vector<int64_t> dims = {s};
      dims.insert(dims.end(), shape.begin(), shape.end());
      const torch::Tensor dir =
          rng.uniform(rows.cpu(), dims, x.device()).lt(0.5).to(x.dtype()) * 2 - 1;  // k,s,C,H,W
      const torch::Tensor b = base.unsqueeze(1);
      const torch::Tensor plus = (b + d * dir).flatten(0, 1), minus = (b - d * dir).flatten(0, 1);
      const torch::Tensor both = model.forward(torch::cat({plus, minus}));
      const torch::Tensor rep = rows.repeat_interleave(s);
      count_queries(r, rep, n);
      count_queries(r, rep, n);
      const Criterion c2 = crit.select(torch::arange(k, rows.options()).repeat_interleave(s));
      const torch::Tensor lp = loss(both.slice(0, 0, k * s), c2).view({k, s});
      const torch::Tensor lm = loss(both.slice(0, k * s), c2).view({k, s});
      const torch::Tensor diff = ((lp - lm) / (2 * d)).view({k, s, 1, 1, 1});
      g += (diff * dir).sum(1);
    }
    g /= static_cast<double>(samples);
    // Adam on the perturbation (descending the loss), then the projections.
    const double t = static_cast<double>(step + 1);
    m = 0.9 * m + 0.1 * g;
    v = 0.999 * v + 0.001 * g * g;
    const torch::Tensor mhat = m / (1 - std::pow(0.9, t)), vhat = v / (1 - std::pow(0.999, t));
    pert = (pert - lr * mhat / (vhat.sqrt() + 1e-8)).clamp(-eps, eps);
    pert = (x0 + pert).clamp(0, 1) - x0;
  }
}

}  // namespace foil
