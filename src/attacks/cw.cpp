#include "foil/attacks/cw.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/attacks/losses.h"
#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

CarliniWagner::CarliniWagner(AttackOptions options) : Attack(std::move(options)) {
  check_input(options_.norm() == "l2", "--norm", "l2 for cw (C&W-L2)", "'" + options_.norm() + "'");
}

std::string CarliniWagner::describe() const {
  const auto& o = options_;
  return fmt::format(
      "cw(norm=l2, eps={:g}, steps={} per c, binary_steps={}, initial_const={:g}, kappa={:g}, "
      "lr={:g})",
      o.eps(), o.steps(), o.binary_steps(), o.initial_const(), o.kappa(), o.alpha());
}

void CarliniWagner::update_const(const torch::Tensor& success, torch::Tensor& c, torch::Tensor& lo,
                                 torch::Tensor& hi) {
  hi = torch::where(success, torch::minimum(hi, c), hi);
  lo = torch::where(success, lo, torch::maximum(lo, c));
  // 10·c stops at 1e10: beyond it c·f overflows and the optimisation turns to NaN.
  c = torch::where(hi.isfinite(), (lo + hi) / 2, (c * 10).clamp_max(1e10));
}

void CarliniWagner::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                            const torch::Tensor& /*ids*/, AttackResult& r) const {
  const torch::Tensor logits0 = clean_logits(model, x);
  torch::Tensor found = criterion.is_adversarial(logits0);
  torch::Tensor best = x.clone();
  const torch::Tensor rows = found.logical_not().nonzero().flatten();
  if (rows.numel() > 0) {
    const torch::Tensor x0 = x.index_select(0, rows);
    const Criterion crit = criterion.select(rows);
    const int64_t m = rows.numel();
    // f <= -kappa exactly when the margin of the wanted class reaches kappa.
    auto objective = [&](const torch::Tensor& logits) {
      return crit.is_targeted() ? -logit_margin(logits, crit.targets())
                                : logit_margin(logits, crit.labels());
    };
    const torch::Tensor w0 = torch::atanh((x0 * 2 - 1).clamp(-1 + 1e-6, 1 - 1e-6));
    torch::Tensor c = torch::full({m}, options_.initial_const(), x.options());
    torch::Tensor lo = torch::zeros_like(c), hi = torch::full_like(c, INFINITY);
    torch::Tensor best_l2 = torch::full_like(c, INFINITY), best_adv = x0.clone();
    for (int64_t b = 0; b < options_.binary_steps(); ++b) {
      torch::Tensor w = w0.clone().requires_grad_(true);
      torch::optim::Adam adam({w}, torch::optim::AdamOptions(options_.alpha()));
      torch::Tensor success = torch::zeros({m}, torch::dtype(torch::kBool).device(x.device()));
      for (int64_t s = 0; s < options_.steps(); ++s) {
        const torch::Tensor xa = (torch::tanh(w) + 1) / 2;
        const torch::Tensor logits = model.forward(xa);
        r.gradient_evaluations += m;
        const torch::Tensor l2sq = (xa - x0).flatten(1).pow(2).sum(1);
        const torch::Tensor f = objective(logits);
        adam.zero_grad();
        (l2sq + c * f.clamp_min(-options_.kappa())).sum().backward();
        adam.step();
        torch::NoGradGuard no_grad;
        const torch::Tensor ok = crit.is_adversarial(logits) & f.le(-options_.kappa());
        const torch::Tensor l2 = l2sq.detach().sqrt();
        const torch::Tensor better = ok & l2.lt(best_l2);
        best_l2 = torch::where(better, l2, best_l2);
        best_adv = torch::where(better.view({-1, 1, 1, 1}), xa.detach(), best_adv);
        success |= ok;
      }
      update_const(success, c, lo, hi);
    }
    best.index_copy_(0, rows, best_adv);
    found.index_copy_(0, rows, best_l2.isfinite());
  }
  keep_within_eps(model, x, best, found, criterion, r);
}

}  // namespace foil
