#include "foil/attacks/apgd.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>

#include "foil/attacks/losses.h"
#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/model.h"
#include "grad_score.h"

namespace foil {

ApgdSchedule::ApgdSchedule(int64_t steps, torch::Tensor step, torch::Tensor start_loss)
    : interval_(std::max<int64_t>(static_cast<int64_t>(0.22 * steps), 1)),
      decrease_(std::max<int64_t>(static_cast<int64_t>(0.03 * steps), 1)),
      min_interval_(std::max<int64_t>(static_cast<int64_t>(0.06 * steps), 1)),
      step_(std::move(step)),
      last_loss_(start_loss.detach().clone()),
      increases_(torch::zeros_like(last_loss_)),
      best_at_check_(last_loss_.clone()),
      // No "no improvement since the last halving" test at the first checkpoint.
      halved_at_check_(torch::ones_like(last_loss_, torch::kBool)) {}

torch::Tensor ApgdSchedule::record(const torch::Tensor& loss, const torch::Tensor& best_loss) {
  checked_ = false;
  increases_ += loss.gt(last_loss_).to(increases_.dtype());
  last_loss_ = loss.detach().clone();
  if (++since_check_ < interval_) return torch::zeros_like(loss, torch::kBool);
  const torch::Tensor oscillating = increases_.le(0.75 * interval_);
  const torch::Tensor stalled = halved_at_check_.logical_not() & best_at_check_.ge(best_loss);
  const torch::Tensor halve = oscillating | stalled;
  checked_ = true;
  step_ = torch::where(halve, step_ / 2, step_);
  halved_at_check_ = halve;
  best_at_check_ = best_loss.detach().clone();
  increases_.zero_();
  since_check_ = 0;
  interval_ = std::max(interval_ - decrease_, min_interval_);
  return halve;
}

void ApgdSchedule::keep(const torch::Tensor& k) {
  keep_rows(k, {&step_, &last_loss_, &increases_, &best_at_check_, &halved_at_check_});
}

Apgd::Apgd(AttackOptions options, bool targeted_dlr)
    : Attack(std::move(options)), targeted_dlr_(targeted_dlr) {
  if (targeted_dlr_) options_.loss("dlr");
  // The paper's algorithm (and the reference) starts at a random point of the eps-sphere,
  // whatever AttackOptions' default (PGD's: none) says.
  options_.random_start(true);
}

std::string Apgd::name() const { return targeted_dlr_ ? "apgd-t" : "apgd-" + options_.loss(); }

std::string Apgd::describe() const {
  const auto& o = options_;
  return fmt::format(
      "{}(norm={}, eps={:g}, steps={}, restarts={}, random_start={}, loss={}{}, "
      "momentum=0.75, initial_step=2*eps, seed={}{})",
      name(), o.norm(), o.eps(), o.steps(), o.restarts(), o.random_start(), o.loss(),
      targeted_dlr_ ? fmt::format(", targets={}", o.targets() == 0 ? std::string("auto(9)")
                                                                   : std::to_string(o.targets()))
                    : "",
      o.seed(), o.eot_samples() > 1 ? fmt::format(", eot_samples={}", o.eot_samples()) : "");
}

/// One APGD run over the samples `rows` of the batch, towards `targets` (APGD-T) or not.
/// A sample leaves the run at its first adversarial iterate. Which samples that are is read
/// back to the host every `compact_every_` steps: every step on the CPU, where reading back
/// is free and a broken sample costs a forward and backward per step, every 10 on a GPU,
/// where a read-back stalls the queue of kernels; in between, a broken sample's first
/// adversarial iterate is kept on the device and it is computed along unused (and not
/// counted as a gradient evaluation).
class Apgd::Run {
 public:
  /// `report(step, samples left)` is called every 10 steps.
  using Report = std::function<void(int64_t, int64_t)>;
  Run(const Apgd& a, Model& model, const torch::Tensor& x, const Criterion& criterion,
      torch::Tensor rows, torch::Tensor targets, SampleRandom& rng, AttackResult& r, Report report)
      : report_(std::move(report)),
        a_(a),
        model_(model),
        crit_(criterion.select(rows)),
        compact_every_(x.is_cuda() ? 10 : 1),
        rows_(std::move(rows)),
        targets_(std::move(targets)),
        r_(r) {
    x0_ = x.index_select(0, rows_);
    const double eps = a_.options_.eps();
    adv_ = x0_;
    if (a_.options_.random_start() && eps > 0) {
      const auto shape = x0_.sizes().slice(1);
      torch::Tensor t;
      if (a_.options_.norm() == "linf") {
        t = rng.uniform(rows_.cpu(), shape, x.device()) * 2 - 1;
        t = t / t.flatten(1).abs().amax(1).clamp_min(1e-12).view({-1, 1, 1, 1});
      } else {
        t = rng.normal(rows_.cpu(), shape, x.device());
        t = t / t.flatten(1).norm(2, 1).clamp_min(1e-12).view({-1, 1, 1, 1});
      }
      adv_ = (x0_ + eps * t).clamp(0, 1);
    }
    score_ = torch::zeros({adv_.size(0), adv_.size(2), adv_.size(3)}, adv_.options());
    found_ = torch::zeros({adv_.size(0)}, adv_.options().dtype(torch::kBool));
    evaluations_ = torch::zeros({}, adv_.options().dtype(torch::kLong));
  }

  void go() {
    const double eps = a_.options_.eps();
    const bool linf = a_.options_.norm() == "linf";
    evaluate();
    best_loss_ = loss_, x_best_ = adv_, grad_best_ = grad_, prev_ = adv_, best_logits_ = logits_;
    start_loss_ = loss_;
    schedule_.emplace(a_.options_.steps(), torch::full_like(loss_, 2 * eps), loss_);
    if (!compact()) return;
    add_abs_over_channels(score_, grad_);
    auto project = [&](const torch::Tensor& p) {
      return (x0_ + a_.norm_->project(p - x0_, eps)).clamp(0, 1);
    };
    for (int64_t i = 0; i < a_.options_.steps(); ++i) {
      if (i > 0 && i % compact_every_ == 0 && !compact()) return;
      if (i % 10 == 0) report_(i, rows_.numel());
      const torch::Tensor step = schedule_->step().view({-1, 1, 1, 1});
      const torch::Tensor dir = linf ? grad_.sign() : grad_ / (l2_per_sample(grad_) + 1e-12);
      const torch::Tensor z = project(adv_ + step * dir);
      const double m = i == 0 ? 1.0 : 0.75;
      const torch::Tensor next = project(adv_ + m * (z - adv_) + (1 - m) * (adv_ - prev_));
      prev_ = adv_;
      adv_ = next;
      evaluate();
      add_abs_over_channels(score_, grad_);
      const torch::Tensor improved = loss_.gt(best_loss_);
      const torch::Tensor im4 = improved.view({-1, 1, 1, 1});
      x_best_ = torch::where(im4, adv_, x_best_);
      grad_best_ = torch::where(im4, grad_, grad_best_);
      best_logits_ = torch::where(improved.view({-1, 1}), logits_, best_logits_);
      best_loss_ = torch::where(improved, loss_, best_loss_);
      const torch::Tensor halve = schedule_->record(loss_, best_loss_).view({-1, 1, 1, 1});
      if (schedule_->at_checkpoint()) {  // back to the best point where the step was halved
        adv_ = torch::where(halve, x_best_, adv_);
        grad_ = torch::where(halve, grad_best_, grad_);
      }
    }
    if (!compact()) return;
    // Whether the loss rose over this run (a check of the evaluation; broken samples left
    // with it true).
    r_.loss_rose.index_copy_(0, rows_,
                             r_.loss_rose.index_select(0, rows_) | best_loss_.gt(start_loss_));
    // Unbroken samples: the point of highest loss stands for them where nothing else does.
    const torch::Tensor unset = r_.pred.index_select(0, rows_).lt(0).nonzero().flatten();
    if (unset.numel() > 0) {
      const torch::Tensor at = rows_.index_select(0, unset);
      record_rows(r_, at, x_best_.index_select(0, unset), best_logits_.index_select(0, unset),
                  torch::zeros({unset.numel()}, torch::dtype(torch::kBool).device(at.device())));
      r_.grad_score.index_copy_(0, at, score_.index_select(0, unset));
    }
  }

 private:
  /// Loss, logits and gradient at `adv_`; samples adversarial there for the first time are
  /// marked in `found_`, with their iterate, logits and score so far.
  void evaluate() {
    // The loss and its gradient at `a`; with EOT the gradient is the mean over
    // eot_samples passes (for defences with random parts), the loss the first pass's.
    auto loss_at = [&](const torch::Tensor& a, torch::Tensor& logits) {
      logits = model_.forward(a);
      if (targets_.defined()) return dlr_targeted_loss(logits, crit_.labels(), targets_);
      if (a_.options_.loss() == "dlr")
        return crit_.is_targeted() ? dlr_targeted_loss(logits, crit_.labels(), crit_.targets())
                                   : dlr_loss(logits, crit_.labels());
      return crit_.is_targeted() ? torch::Tensor(-ce_loss(logits, crit_.targets()))
                                 : ce_loss(logits, crit_.labels());
    };
    torch::Tensor a = adv_.detach().requires_grad_(true);
    torch::Tensor logits;
    torch::Tensor loss = loss_at(a, logits);
    grad_ = torch::autograd::grad({loss.sum()}, {a})[0];
    const int64_t eot = a_.options_.eot_samples();
    for (int64_t e = 1; e < eot; ++e) {
      torch::Tensor more_logits;
      grad_ += torch::autograd::grad({loss_at(a, more_logits).sum()}, {a})[0];
    }
    if (eot > 1) grad_ /= static_cast<double>(eot);
    // Counted for the samples still attacked, not those computed along unused.
    evaluations_ += found_.logical_not().sum() * eot;
    logits_ = logits.detach();
    loss_ = loss.detach();
    const torch::Tensor first = crit_.is_adversarial(logits_) & found_.logical_not();
    if (!found_adv_.defined()) {
      found_adv_ = adv_, found_logits_ = logits_, found_score_ = score_.clone();
    } else {
      found_adv_ = torch::where(first.view({-1, 1, 1, 1}), adv_, found_adv_);
      found_logits_ = torch::where(first.view({-1, 1}), logits_, found_logits_);
      found_score_ = torch::where(first.view({-1, 1, 1}), score_, found_score_);
    }
    found_ |= first;
  }

  /// Records the samples found adversarial since the last call and drops them from the run
  /// (one read-back to the host); false when no sample is left.
  bool compact() {
    const torch::Tensor counts = torch::stack({evaluations_, found_.sum()}).cpu();
    r_.gradient_evaluations += counts[0].item<int64_t>();
    evaluations_.zero_();
    if (counts[1].item<int64_t>() == 0) return true;
    const torch::Tensor idx = found_.nonzero().flatten();
    const torch::Tensor at = rows_.index_select(0, idx);
    record_rows(r_, at, found_adv_.index_select(0, idx), found_logits_.index_select(0, idx),
                torch::ones_like(idx, torch::kBool));
    r_.grad_score.index_copy_(0, at, found_score_.index_select(0, idx));
    r_.loss_rose.index_fill_(0, at, true);
    const torch::Tensor keep = found_.logical_not().nonzero().flatten();
    keep_rows(keep, {&rows_, &targets_, &x0_, &adv_, &grad_, &logits_, &loss_, &score_, &found_,
                     &found_adv_, &found_logits_, &found_score_, &best_loss_, &x_best_, &grad_best_,
                     &prev_, &best_logits_, &start_loss_});
    crit_ = crit_.select(keep);
    schedule_->keep(keep);
    return keep.numel() > 0;
  }

  Report report_;
  const Apgd& a_;
  Model& model_;
  Criterion crit_;
  const int64_t compact_every_;
  torch::Tensor rows_, targets_, x0_, adv_, grad_, logits_, loss_, score_;
  /// Per sample: adversarial at an iterate since the last compact(), and that iterate's point,
  /// logits and score.
  torch::Tensor found_, found_adv_, found_logits_, found_score_;
  torch::Tensor evaluations_;  ///< gradient evaluations since the last compact()
  torch::Tensor best_loss_, x_best_, grad_best_, prev_, best_logits_, start_loss_;
  std::optional<ApgdSchedule> schedule_;
  AttackResult& r_;
};

void Apgd::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                   const torch::Tensor& ids, AttackResult& r) const {
  const bool targeted_loss = targeted_dlr_ || criterion.is_targeted();
  const int64_t min_classes = options_.loss() == "dlr" ? (targeted_loss ? 4 : 3) : 2;
  const torch::Tensor logits = clean_logits(model, x, min_classes);
  const int64_t classes = logits.size(1);
  // Inputs that already meet the criterion need no attack.
  const torch::Tensor done = criterion.is_adversarial(logits);
  // Broken samples count as a rise; unbroken ones get whether their loss rose in some run.
  r.loss_rose = done.clone();
  const torch::Tensor at = done.nonzero().flatten();
  record_rows(r, at, x.index_select(0, at), logits.index_select(0, at), done.index_select(0, at));
  SampleRandom rng(options_.seed(), ids);
  auto unbroken = [&] { return r.success.logical_not().nonzero().flatten(); };
  // Progress over every run's steps (a transient bar inside the evaluation's).
  const int64_t steps = options_.steps();
  int64_t runs = options_.restarts(), run = 0;
  std::unique_ptr<Progress> progress;
  auto report = [&](int64_t step, int64_t left) {
    if (!progress) progress = std::make_unique<Progress>("  " + name(), runs * steps, true);
    progress->update(run * steps + step, fmt::format("{} unbroken", left));
  };
  if (!targeted_dlr_) {
    for (; run < runs; ++run) {
      torch::Tensor rows = unbroken();
      if (rows.numel() == 0) return;
      Run(*this, model, x, criterion, rows, {}, rng, r, report).go();
    }
    return;
  }
  check_input(!criterion.is_targeted(), "--targeted",
              "no target for apgd-t (it targets the top-k classes itself; use apgd-ce or "
              "apgd-dlr with --targeted)",
              "a target");
  const int64_t k = target_count(options_.targets(), classes);
  const torch::Tensor order = top_k_targets(logits, criterion.labels(), k);
  runs = k * options_.restarts();
  for (int64_t j = 0; j < k; ++j) {
    for (int64_t restart = 0; restart < options_.restarts(); ++restart, ++run) {
      torch::Tensor rows = unbroken();
      if (rows.numel() == 0) return;
      const torch::Tensor targets = order.select(1, j).index_select(0, rows);
      Run(*this, model, x, criterion, rows, targets, rng, r, report).go();
    }
  }
}

}  // namespace foil
