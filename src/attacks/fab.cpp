#include "foil/attacks/fab.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/model.h"

namespace foil {
namespace {

constexpr double kAlphaMax = 0.1, kEta = 1.05, kBeta = 0.9;

}  // namespace

torch::Tensor project_to_hyperplane(const torch::Tensor& p, const torch::Tensor& w,
                                    const torch::Tensor& b, bool linf) {
  // From either side: z(t) = clip(p + t * side * dir) moves w·z monotonically towards the
  // plane with t; find the smallest t that reaches it. Linf: dir = sign(w), t in [0, 1]
  // covers the box. L2: dir = w scaled to max |w_i| = 1 (the KKT form clip(p + lambda w));
  // coordinates with |w_i| below 1e-6 of the largest never saturate within t <= 1e6 and move
  // w·z by a negligible amount.
  auto value = [&](const torch::Tensor& z) { return (w * z).sum(1) + b; };
  const torch::Tensor side = value(p).lt(0).to(p.dtype()) * 2 - 1;  // +1: w·z must rise
  const torch::Tensor scale = w.abs().amax(1, true).clamp_min(1e-30);
  const torch::Tensor dir = (linf ? w.sign() : w / scale) * side.view({-1, 1});
  const double t_max = linf ? 1.0 : 1e6;
  auto at = [&](const torch::Tensor& t) { return (p + t.view({-1, 1}) * dir).clamp(0, 1); };
  torch::Tensor lo = torch::zeros({p.size(0)}, p.options());
  torch::Tensor hi = torch::full({p.size(0)}, t_max, p.options());
  for (int i = 0; i < (linf ? 40 : 64); ++i) {
    const torch::Tensor mid = (lo + hi) / 2;
    const torch::Tensor crossed = (value(at(mid)) * side).ge(0);
    hi = torch::where(crossed, mid, hi);
    lo = torch::where(crossed, lo, mid);
  }
  return torch::where(value(p).eq(0).view({-1, 1}), p, at(hi));
}

std::string FabT::describe() const {
  const auto& o = options_;
  return fmt::format(
      "fab-t(norm={}, eps={:g}, steps={}, restarts={}, targets={}, alpha_max={:g}, eta={:g}, "
      "beta={:g}, early_stop={}, seed={})",
      o.norm(), o.eps(), o.steps(), o.restarts(),
      o.targets() == 0 ? std::string("auto(9)") : std::to_string(o.targets()), kAlphaMax, kEta,
      kBeta, o.early_stop(), o.seed());
}

void FabT::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                   const torch::Tensor& ids, AttackResult& r) const {
  check_input(!criterion.is_targeted(), "--targeted",
              "no target for fab-t (it targets the top-k classes itself)", "a target");
  const torch::Tensor logits0 = clean_logits(model, x);
  const int64_t k = target_count(options_.targets(), logits0.size(1));
  const torch::Tensor targets = top_k_targets(logits0, criterion.labels(), k);
  const bool linf = options_.norm() == "linf";
  const double eps = options_.eps();
  const int64_t n = x.size(0);
  torch::Tensor found = criterion.is_adversarial(logits0);
  torch::Tensor best = x.clone();
  torch::Tensor best_norm =
      torch::where(found, torch::zeros({n}, x.options()), torch::full({n}, INFINITY, x.options()));
  SampleRandom rng(options_.seed(), ids);
  auto size = [&](const torch::Tensor& d) { return norm_->size(d); };

  Progress progress("  fab-t", k * options_.restarts(), /*transient=*/true);
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t restart = 0; restart < options_.restarts(); ++restart) {
      progress.update(j * options_.restarts() + restart, fmt::format("target {}/{}", j + 1, k));
      // Samples already adversarial at the input need nothing; with early stop neither do
      // those with a perturbation within eps.
      torch::Tensor todo = best_norm.gt(0);
      if (options_.early_stop()) todo &= best_norm.gt(eps);
      torch::Tensor rows = todo.nonzero().flatten();
      if (rows.numel() == 0) break;
      torch::Tensor x0 = x.index_select(0, rows);
      torch::Tensor y = criterion.labels().index_select(0, rows);
      torch::Tensor t = targets.select(1, j).index_select(0, rows);
      Criterion crit = criterion.select(rows);
      torch::Tensor xk = x0;
      if (restart > 0) {
        const auto shape = x0.sizes().slice(1);
        torch::Tensor d = linf ? rng.uniform(rows.cpu(), shape, x.device()) * 2 - 1
                               : rng.normal(rows.cpu(), shape, x.device());
        d = d / size(d).clamp_min(1e-12).view({-1, 1, 1, 1});
        // eps / 2 at every restart, as the reference (its per-run best starts at 1e10).
        const torch::Tensor radius = torch::full({rows.numel()}, eps * 0.5, x.options());
        xk = (x0 + radius.view({-1, 1, 1, 1}) * d).clamp(0, 1);
      }
      // Records adversarial rows of `point` (with their logits) as the best where smaller;
      // returns the adversarial mask.
      auto keep_best = [&](const torch::Tensor& point, const torch::Tensor& logits) {
        const torch::Tensor adv = crit.is_adversarial(logits);
        const torch::Tensor nrm = size(point - x0);
        const torch::Tensor better = adv & nrm.lt(best_norm.index_select(0, rows));
        const torch::Tensor idx = better.nonzero().flatten();
        if (idx.numel() > 0) {
          const torch::Tensor at = rows.index_select(0, idx);
          best.index_copy_(0, at, point.index_select(0, idx));
          best_norm.index_copy_(0, at, nrm.index_select(0, idx));
        }
        return adv;
      };
      for (int64_t i = 0; i <= options_.steps() && rows.numel() > 0; ++i) {
        torch::Tensor a = xk.detach().requires_grad_(true);
        torch::Tensor logits = model.forward(a);
        r.gradient_evaluations += rows.numel();
        const torch::Tensor adv = keep_best(xk, logits.detach());
        if (i == options_.steps()) break;  // the last iterate is only checked
        // Adversarial iterates step back towards the original first (beta); the
        // linearisation is then taken there.
        if (adv.any().item<bool>()) {
          xk = torch::where(adv.view({-1, 1, 1, 1}), x0 + kBeta * (xk - x0), xk).detach();
          a = xk.detach().requires_grad_(true);
          logits = model.forward(a);
          r.gradient_evaluations += rows.numel();
        }
        const torch::Tensor f = logits.gather(1, t.view({-1, 1})).squeeze(1) -
                                logits.gather(1, y.view({-1, 1})).squeeze(1);
        const torch::Tensor g = torch::autograd::grad({f.sum()}, {a})[0].flatten(1);
        const torch::Tensor xf = xk.detach().flatten(1), x0f = x0.flatten(1);
        const torch::Tensor b = f.detach() - (g * xf).sum(1);
        const torch::Tensor d_cur = project_to_hyperplane(xf, g, b, linf) - xf;
        const torch::Tensor d_orig = project_to_hyperplane(x0f, g, b, linf) - x0f;
        // The reference's weights: each distance floored at 1e-8, alpha capped at alpha_max.
        const torch::Tensor n_cur = size(d_cur.view_as(xk)).clamp_min(1e-8);
        const torch::Tensor n_orig = size(d_orig.view_as(xk)).clamp_min(1e-8);
        const torch::Tensor alpha = (n_cur / (n_cur + n_orig)).clamp(0, kAlphaMax).view({-1, 1});
        xk = ((xf + kEta * d_cur) * (1 - alpha) + (x0f + kEta * d_orig) * alpha)
                 .clamp(0, 1)
                 .view_as(xk)
                 .detach();
        if (options_.early_stop()) {
          const torch::Tensor keep = best_norm.index_select(0, rows).gt(eps).nonzero().flatten();
          if (keep.numel() < rows.numel()) {
            keep_rows(keep, {&rows, &x0, &y, &t, &xk});
            crit = crit.select(keep);
          }
        }
      }
    }
  }
  keep_within_eps(model, x, best, best_norm.isfinite(), criterion, r);
}

}  // namespace foil
