#include "foil/attacks/attack.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

Attack::Attack(AttackOptions options) : options_(std::move(options)) {
  norm_ = make_norm(options_.norm());
  check_input(options_.eps() >= 0, "--eps", "a value >= 0", fmt::format("{}", options_.eps()));
  check_input(options_.alpha() > 0, "--alpha", "a value > 0", fmt::format("{}", options_.alpha()));
  check_input(options_.steps() >= 1, "--steps", "an integer >= 1",
              std::to_string(options_.steps()));
  check_input(options_.restarts() >= 1, "--restarts", "an integer >= 1",
              std::to_string(options_.restarts()));
  check_input(options_.restarts() == 1 || options_.random_start(), "--restarts",
              "1 without a random start (restarts would repeat the same deterministic attack)",
              std::to_string(options_.restarts()));
  check_input(options_.eot_samples() >= 1, "--eot-samples", "an integer >= 1",
              std::to_string(options_.eot_samples()));
  check_input(options_.decay() >= 0, "--decay", "a value >= 0",
              fmt::format("{}", options_.decay()));
  check_input(options_.loss() == "ce" || options_.loss() == "dlr", "--loss", "ce or dlr",
              "'" + options_.loss() + "'");
  check_input(options_.targets() >= 0, "--targets", "an integer >= 0 (0 = min(9, classes - 1))",
              std::to_string(options_.targets()));
  check_input(options_.queries() >= 1, "--queries", "an integer >= 1",
              std::to_string(options_.queries()));
  check_input(options_.p_init() > 0 && options_.p_init() <= 1, "--p-init", "a value in (0, 1]",
              fmt::format("{}", options_.p_init()));
  check_input(options_.kappa() >= 0, "--kappa", "a value >= 0",
              fmt::format("{}", options_.kappa()));
  check_input(options_.binary_steps() >= 1, "--binary-steps", "an integer >= 1",
              std::to_string(options_.binary_steps()));
  check_input(options_.initial_const() > 0, "--initial-const", "a value > 0",
              fmt::format("{}", options_.initial_const()));
  check_input(options_.overshoot() >= 0, "--overshoot", "a value >= 0",
              fmt::format("{}", options_.overshoot()));
  check_input(options_.version() == "standard" || options_.version() == "fast", "--version",
              "standard or fast", "'" + options_.version() + "'");
}

std::string Attack::describe() const {
  const auto& o = options_;
  return fmt::format(
      "{}(norm={}, eps={:g}, alpha={:g}, steps={}, random_start={}, restarts={}, decay={:g}, "
      "early_stop={}{})",
      name(), o.norm(), o.eps(), o.alpha(), o.steps(), o.random_start(), o.restarts(), o.decay(),
      o.early_stop(), o.eot_samples() > 1 ? fmt::format(", eot_samples={}", o.eot_samples()) : "");
}

AttackResult Attack::run(Model& model, const torch::Tensor& input, const Criterion& full_criterion,
                         const torch::Tensor& sample_ids) const {
  const torch::Tensor x = input.detach().to(model.device());
  const Criterion criterion = full_criterion.to(model.device());
  const int64_t n = x.size(0);
  const torch::Tensor ids =
      sample_ids.defined() ? sample_ids.to(torch::kCPU, torch::kLong) : torch::arange(n);
  check_input(ids.numel() == n, "sample ids", fmt::format("one per sample ({})", n),
              std::to_string(ids.numel()));
  AttackResult result;
  result.adv = x.clone();
  result.success = torch::zeros({n}, torch::dtype(torch::kBool).device(x.device()));
  result.pred = torch::full({n}, -1, torch::dtype(torch::kLong).device(x.device()));
  result.grad_score = torch::zeros({n, x.size(2), x.size(3)}, x.options());
  if (n > 0) perturb(model, x, criterion, ids, result);
  return result;
}

void keep_rows(const torch::Tensor& keep, std::initializer_list<torch::Tensor*> tensors) {
  for (torch::Tensor* t : tensors)
    if (t->defined()) *t = t->index_select(0, keep.to(t->device()));
}

void record_rows(AttackResult& r, const torch::Tensor& rows, const torch::Tensor& adv,
                 const torch::Tensor& logits, const torch::Tensor& success) {
  if (rows.numel() == 0) return;
  r.adv.index_copy_(0, rows, adv.detach());
  r.pred.index_copy_(0, rows, logits.detach().argmax(1));
  r.success.index_copy_(0, rows, success);
}

void check_logits(const torch::Tensor& logits, const std::string& attack, int64_t min_classes) {
  check_input(logits.dim() == 2 && logits.size(1) >= min_classes, "--model",
              fmt::format("class logits N x K with K >= {} for {}", min_classes, attack),
              fmt::format("an output of shape {}", fmt::join(logits.sizes(), "x")));
}

torch::Tensor Attack::clean_logits(Model& model, const torch::Tensor& x,
                                   int64_t min_classes) const {
  torch::NoGradGuard no_grad;
  torch::Tensor logits = model.forward(x);
  check_logits(logits, name(), min_classes);
  return logits;
}

void Attack::keep_within_eps(Model& model, const torch::Tensor& x, const torch::Tensor& best,
                             const torch::Tensor& found, const Criterion& criterion,
                             AttackResult& r) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor size = norm_->size(best - x);
  r.min_norm = torch::where(found, size, torch::full_like(size, INFINITY));
  const torch::Tensor within = found & size.le(options_.eps() * (1 + 1e-6));
  const torch::Tensor adv = torch::where(within.view({-1, 1, 1, 1}), best, x);
  const torch::Tensor logits = model.forward(adv);
  r.adv = adv;
  r.pred = logits.argmax(1);
  r.success = criterion.is_adversarial(logits);
}

}  // namespace foil
