#include "foil/attacks/deepfool.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

std::string DeepFool::describe() const {
  const auto& o = options_;
  return fmt::format("deepfool(norm={}, eps={:g}, steps={}, overshoot={:g}, candidates=10)",
                     o.norm(), o.eps(), o.steps(), o.overshoot());
}

void DeepFool::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                       const torch::Tensor& /*ids*/, AttackResult& r) const {
  check_input(!criterion.is_targeted(), "--targeted", "no target for deepfool (untargeted)",
              "a target");
  const torch::Tensor logits0 = clean_logits(model, x);
  const int64_t candidates = std::min<int64_t>(10, logits0.size(1));
  // Candidate classes: the label first, then the highest other clean logits.
  const torch::Tensor others = top_k_targets(logits0, criterion.labels(), candidates - 1);
  const bool linf = options_.norm() == "linf";
  torch::Tensor found = criterion.is_adversarial(logits0);
  torch::Tensor best = x.clone();
  torch::Tensor rows = found.logical_not().nonzero().flatten();
  torch::Tensor x0 = x.index_select(0, rows), cls = others.index_select(0, rows);
  torch::Tensor y = criterion.labels().index_select(0, rows);
  Criterion crit = criterion.select(rows);
  torch::Tensor total = torch::zeros_like(x0), xk = x0;
  for (int64_t i = 0; i <= options_.steps() && rows.numel() > 0; ++i) {
    torch::Tensor a = xk.detach().requires_grad_(true);
    torch::Tensor logits = model.forward(a);
    const torch::Tensor adv = crit.is_adversarial(logits.detach());
    if (adv.any().item<bool>()) {
      const torch::Tensor idx = adv.nonzero().flatten();
      best.index_copy_(0, rows.index_select(0, idx), xk.index_select(0, idx));
      found.index_fill_(0, rows.index_select(0, idx), true);
      const torch::Tensor keep = adv.logical_not().nonzero().flatten();
      keep_rows(keep, {&rows, &x0, &cls, &y, &total, &xk, &a, &logits});
      crit = crit.select(keep);
      if (rows.numel() == 0) break;
      // The graph no longer matches the kept rows: recompute on them.
      a = xk.detach().requires_grad_(true);
      logits = model.forward(a);
      r.gradient_evaluations += rows.numel();
    }
    if (i == options_.steps()) break;
    const torch::Tensor zy = logits.gather(1, y.view({-1, 1})).squeeze(1);
    torch::Tensor best_dist, best_f, best_w;
    for (int64_t j = 0; j < cls.size(1); ++j) {
      const torch::Tensor f = logits.gather(1, cls.select(1, j).view({-1, 1})).squeeze(1) - zy;
      const torch::Tensor w =
          torch::autograd::grad({f.sum()}, {a}, {}, /*retain_graph=*/j + 1 < cls.size(1))[0];
      r.gradient_evaluations += rows.numel();
      const torch::Tensor wn = linf ? w.flatten(1).abs().sum(1) : w.flatten(1).norm(2, 1);
      const torch::Tensor dist = f.detach().abs() / wn.clamp_min(1e-12);
      if (j == 0) {
        best_dist = dist, best_f = f.detach(), best_w = w;
        continue;
      }
      const torch::Tensor closer = dist.lt(best_dist);
      best_dist = torch::where(closer, dist, best_dist);
      best_f = torch::where(closer, f.detach(), best_f);
      best_w = torch::where(closer.view({-1, 1, 1, 1}), w, best_w);
    }
    const torch::Tensor fl = best_f.abs() + 1e-4;
    torch::Tensor step;
    if (linf) {
      step = (fl / best_w.flatten(1).abs().sum(1).clamp_min(1e-12)).view({-1, 1, 1, 1}) *
             best_w.sign();
    } else {
      step = (fl / best_w.flatten(1).pow(2).sum(1).clamp_min(1e-24)).view({-1, 1, 1, 1}) * best_w;
    }
    total = total + step;
    xk = (x0 + (1 + options_.overshoot()) * total).clamp(0, 1).detach();
  }
  keep_within_eps(model, x, best, found, criterion, r);
}

}  // namespace foil
