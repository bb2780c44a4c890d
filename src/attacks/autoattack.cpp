#include "foil/attacks/autoattack.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "foil/attacks/apgd.h"
#include "foil/attacks/fab.h"
#include "foil/attacks/square.h"
#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

AutoAttack::AutoAttack(AttackOptions options) : Attack(std::move(options)) {
  AttackOptions o = options_;
  o.random_start(true).early_stop(true);
  // fast: the top-3 targets unless asked otherwise (standard: top-9).
  if (options_.version() == "fast" && o.targets() == 0) o.targets(3);
  if (options_.version() == "rand") {
    // For randomised models, as the reference's version='rand': APGD-CE and APGD-DLR, each
    // gradient the mean over 20 passes (EOT).
    o.eot_samples(20);
    stages_.push_back(std::make_unique<Apgd>(AttackOptions(o).loss("ce"), false));
    stages_.push_back(std::make_unique<Apgd>(AttackOptions(o).loss("dlr"), false));
    return;
  }
  stages_.push_back(std::make_unique<Apgd>(AttackOptions(o).loss("ce"), false));
  stages_.push_back(std::make_unique<Apgd>(o, true));
  if (options_.version() == "standard") {
    stages_.push_back(std::make_unique<FabT>(o));
    // As the reference builds it: the schedule at the raw query count (resc_schedule=False).
    stages_.push_back(std::make_unique<Square>(AttackOptions(o).square_rescale(false)));
  }
}

std::vector<std::string> AutoAttack::stage_names() const {
  std::vector<std::string> names;
  for (const auto& s : stages_) names.push_back(s->name());
  return names;
}

std::string AutoAttack::describe() const {
  std::vector<std::string> parts;
  for (const auto& s : stages_) parts.push_back(s->describe());
  return fmt::format("autoattack(version={}: {})", options_.version(), fmt::join(parts, ", "));
}

void AutoAttack::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                         const torch::Tensor& ids, AttackResult& r) const {
  check_input(!criterion.is_targeted(), "--targeted",
              "no target for autoattack (it measures untargeted robustness)", "a target");
  const torch::Tensor logits = clean_logits(model, x);
  const torch::Tensor wrong = criterion.is_adversarial(logits);
  record_rows(r, torch::arange(x.size(0), ids.options().device(x.device())), x, logits, wrong);
  r.stage = torch::full({x.size(0)}, -1, torch::dtype(torch::kLong).device(x.device()));
  r.stage_unconfirmed.assign(stages_.size(), 0);
  for (size_t s = 0; s < stages_.size(); ++s) {
    const torch::Tensor rows = r.success.logical_not().nonzero().flatten();
    if (rows.numel() == 0) break;
    const Criterion crit = criterion.select(rows);
    AttackResult sub =
        stages_[s]->run(model, x.index_select(0, rows), crit, ids.index_select(0, rows.cpu()));
    r.gradient_evaluations += sub.gradient_evaluations;
    r.queries += sub.queries;
    // The final check of the reference's run_standard_evaluation: a point is broken only if
    // the model, run once more on the returned example, is fooled by it.
    torch::Tensor logits;
    {
      torch::NoGradGuard no_grad;
      logits = model.forward(sub.adv);
    }
    const torch::Tensor confirmed = crit.is_adversarial(logits);
    r.stage_unconfirmed[s] = (sub.success & confirmed.logical_not()).sum().item<int64_t>();
    // Robust points keep the clean input, as the reference returns them; the first stage's
    // per-pixel attack score stands for them all (Region of Attack).
    if (s == 0) r.grad_score.index_copy_(0, rows, sub.grad_score);
    if (s == 0 && sub.loss_rose.defined()) {
      r.loss_rose = torch::ones({x.size(0)}, torch::dtype(torch::kBool).device(x.device()));
      r.loss_rose.index_copy_(0, rows, sub.loss_rose);
    }
    const torch::Tensor take = confirmed.nonzero().flatten();
    const torch::Tensor at = rows.index_select(0, take);
    r.adv.index_copy_(0, at, sub.adv.index_select(0, take));
    r.pred.index_copy_(0, at, logits.argmax(1).index_select(0, take));
    r.success.index_fill_(0, at, true);
    r.stage.index_fill_(0, at, static_cast<int64_t>(s));
  }
}

}  // namespace foil
