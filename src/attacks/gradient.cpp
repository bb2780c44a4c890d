#include "foil/attacks/gradient.h"

#include <torch/torch.h>

#include "foil/attacks/sample_random.h"
#include "foil/models/model.h"
#include "grad_score.h"

namespace foil {

void GradientAttack::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                             const torch::Tensor& ids, AttackResult& result) const {
  const int64_t n = x.size(0);
  const double eps = options_.eps();
  const double sign = criterion.is_targeted() ? -1.0 : 1.0;
  // Random starts come from each sample's own stream: the same start in any batch, shard or
  // device.
  SampleRandom rng(options_.seed(), ids);

  for (int64_t restart = 0; restart < options_.restarts(); ++restart) {
    // Later restarts only attack what is still unbroken.
    torch::Tensor active = restart == 0 ? torch::arange(n, x.options().dtype(torch::kLong))
                                        : result.success.logical_not().nonzero().flatten();
    if (active.numel() == 0) break;
    torch::Tensor x0 = x.index_select(0, active);
    Criterion crit = criterion.select(active);
    torch::Tensor adv = x0.clone();
    if (options_.random_start() && eps > 0)
      adv = (x0 + norm_->random_start(rng, active.cpu(), x0, eps)).clamp(0, 1);
    torch::Tensor state = torch::zeros_like(x0);
    // This restart's accumulated |gradient| per pixel; it replaces the result's score
    // wherever this restart's example is taken.
    torch::Tensor score = torch::zeros({x0.size(0), x.size(2), x.size(3)}, x.options());

    for (int64_t s = 0; s < options_.steps() && active.numel() > 0; ++s) {
      adv.requires_grad_(true);
      torch::Tensor logits = model.forward(adv);
      if (s == 0 && restart == 0) check_logits(logits, name(), 2);
      result.gradient_evaluations += active.numel();
      torch::Tensor keep;  // rows of `adv` still attacked after this step's success check
      if (options_.early_stop()) {
        torch::Tensor done = crit.is_adversarial(logits.detach());
        if (done.any().item<bool>()) {
          torch::Tensor idx = done.nonzero().flatten();
          result.adv.index_copy_(0, active.index_select(0, idx), adv.detach().index_select(0, idx));
          result.success.index_fill_(0, active.index_select(0, idx), true);
          result.grad_score.index_copy_(0, active.index_select(0, idx), score.index_select(0, idx));
          result.pred.index_copy_(0, active.index_select(0, idx),
                                  logits.detach().argmax(1).index_select(0, idx));
          keep = done.logical_not().nonzero().flatten();
          active = active.index_select(0, keep);
          if (active.numel() == 0) break;
          x0 = x0.index_select(0, keep);
          state = state.index_select(0, keep);
          score = score.index_select(0, keep);
          crit = crit.select(keep);
          logits = logits.index_select(0, keep);
        }
      }
      auto loss_of = [&](const torch::Tensor& in, const torch::Tensor& l) {
        return sign * attack_cross_entropy(model, in, l, crit.loss_classes());
      };
      const torch::Tensor rows_in = keep.defined() ? adv.index_select(0, keep) : adv;
      torch::Tensor grad = torch::autograd::grad({loss_of(rows_in, logits)}, {adv})[0];
      adv = adv.detach();
      if (keep.defined()) {
        grad = grad.index_select(0, keep);
        adv = adv.index_select(0, keep);
      }
      for (int64_t e = 1; e < options_.eot_samples(); ++e) {
        const torch::Tensor a = adv.clone().requires_grad_(true);
        grad = grad + torch::autograd::grad({loss_of(a, model.forward(a))}, {a})[0];
        result.gradient_evaluations += active.numel();
      }
      if (options_.eot_samples() > 1) grad = grad / static_cast<double>(options_.eot_samples());
      add_abs_over_channels(score, grad);
      torch::Tensor next = step(adv, grad, state);
      adv = (x0 + norm_->project(next - x0, eps)).clamp(0, 1).detach();
    }
    if (active.numel() == 0) break;
    torch::NoGradGuard no_grad;
    const torch::Tensor logits = model.forward(adv);
    torch::Tensor done = crit.is_adversarial(logits);
    // The first restart's result stands for every sample; later ones replace it only
    // where they succeed.
    torch::Tensor take =
        restart == 0 ? torch::arange(active.numel(), active.options()) : done.nonzero().flatten();
    result.adv.index_copy_(0, active.index_select(0, take), adv.index_select(0, take));
    result.pred.index_copy_(0, active.index_select(0, take),
                            logits.argmax(1).index_select(0, take));
    result.grad_score.index_copy_(0, active.index_select(0, take), score.index_select(0, take));
    result.success.index_copy_(0, active, result.success.index_select(0, active).logical_or(done));
  }
}

}  // namespace foil
