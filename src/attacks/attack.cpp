#include "foil/attacks/attack.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

Attack::Attack(AttackOptions options) : Attack(std::move(options), 10) {}

Attack::Attack(AttackOptions options, int64_t own_steps) : options_(std::move(options)) {
  if (options_.steps() == -1) options_.steps(own_steps);
  norm_ = make_norm(options_.norm());
  const auto& o = options_;
  auto real = [](double v) { return fmt::format("{}", v); };
  // Upper bounds keep a typo from running for days; every float must be finite.
  // Pixels live in [0,1]: no L2 ball of an image up to 4096 x 4096 x 4 needs more than 1e4, and
  // a larger value would not even fit the float tensors it is used with.
  check_input(std::isfinite(o.eps()) && o.eps() >= 0 && o.eps() <= 1e4, "--eps",
              "a value in [0, 10000]", real(o.eps()));
  check_input(std::isfinite(o.alpha()) && o.alpha() > 0 && o.alpha() <= 1e4, "--alpha",
              "a value in (0, 10000]", real(o.alpha()));
  check_input(o.steps() >= 1 && o.steps() <= 100000, "--steps", "an integer in 1..100000",
              std::to_string(o.steps()));
  check_input(o.restarts() >= 1 && o.restarts() <= 1000, "--restarts", "an integer in 1..1000",
              std::to_string(o.restarts()));
  check_input(o.restarts() == 1 || o.random_start(), "--restarts",
              "1 without a random start (restarts would repeat the same deterministic attack)",
              std::to_string(o.restarts()));
  check_input(o.eot_samples() >= 1 && o.eot_samples() <= 1000, "--eot-samples",
              "an integer in 1..1000", std::to_string(o.eot_samples()));
  check_input(std::isfinite(o.decay()) && o.decay() >= 0, "--decay", "a finite value >= 0",
              real(o.decay()));
  check_input(o.loss() == "ce" || o.loss() == "dlr", "--loss", "ce or dlr", "'" + o.loss() + "'");
  check_input(o.targets() >= 0 && o.targets() <= 1000, "--targets",
              "an integer in 0..1000 (0 = min(9, classes - 1))", std::to_string(o.targets()));
  check_input(o.queries() >= 1 && o.queries() <= 1000000, "--max-queries",
              "an integer in 1..1000000", std::to_string(o.queries()));
  check_input(o.p_init() > 0 && o.p_init() <= 1, "--p-init", "a value in (0, 1]", real(o.p_init()));
  check_input(std::isfinite(o.kappa()) && o.kappa() >= 0, "--kappa", "a finite value >= 0",
              real(o.kappa()));
  check_input(o.binary_steps() >= 1 && o.binary_steps() <= 100, "--binary-steps",
              "an integer in 1..100", std::to_string(o.binary_steps()));
  check_input(o.initial_const() > 0 && o.initial_const() <= 1e10, "--initial-const",
              "a finite value > 0", real(o.initial_const()));
  check_input(std::isfinite(o.overshoot()) && o.overshoot() >= 0, "--overshoot",
              "a finite value >= 0", real(o.overshoot()));
  check_input(o.version() == "standard" || o.version() == "fast" || o.version() == "rand",
              "--version", "standard, fast or rand", "'" + o.version() + "'");
  check_input(o.input_diversity() == -1 || (o.input_diversity() >= 0 && o.input_diversity() <= 1),
              "--di-prob", "a value in [0, 1]", real(o.input_diversity()));
  check_input(o.diversity_resize() > 0 && o.diversity_resize() <= 1, "--di-resize",
              "a value in (0, 1]", real(o.diversity_resize()));
  check_input(
      o.ti_kernel() == -1 || (o.ti_kernel() >= 1 && o.ti_kernel() % 2 == 1 && o.ti_kernel() <= 99),
      "--ti-kernel", "an odd integer in 1..99", std::to_string(o.ti_kernel()));
  check_input(o.si_scales() == -1 || (o.si_scales() >= 1 && o.si_scales() <= 20), "--si-scales",
              "an integer in 1..20", std::to_string(o.si_scales()));
  check_input(o.vmi_samples() == -1 || (o.vmi_samples() >= 0 && o.vmi_samples() <= 100),
              "--vmi-samples", "an integer in 0..100", std::to_string(o.vmi_samples()));
  check_input(std::isfinite(o.vmi_beta()) && o.vmi_beta() > 0 && o.vmi_beta() <= 100, "--vmi-beta",
              "a value in (0, 100]", real(o.vmi_beta()));
  check_input(o.spsa_samples() >= 1 && o.spsa_samples() <= 10000, "--spsa-samples",
              "an integer in 1..10000", std::to_string(o.spsa_samples()));
  check_input(std::isfinite(o.spsa_delta()) && o.spsa_delta() > 0 && o.spsa_delta() <= 1,
              "--spsa-delta", "a value in (0, 1]", real(o.spsa_delta()));
  check_input(o.hsj_max_evals() >= 1 && o.hsj_max_evals() <= 1000000, "--hsj-max-evals",
              "an integer in 1..1000000", std::to_string(o.hsj_max_evals()));
  check_input(o.hsj_init_evals() >= 1 && o.hsj_init_evals() <= o.hsj_max_evals(),
              "--hsj-init-evals",
              fmt::format("an integer in 1..{} (--hsj-max-evals)", o.hsj_max_evals()),
              std::to_string(o.hsj_init_evals()));
  if (o.start_images().defined()) {
    const torch::Tensor& s = o.start_images();
    check_input(s.dim() == 4 && s.size(0) >= 1 && s.is_floating_point(), "--starting-images",
                "images (M x C x H x W, float)", fmt::format("a tensor of shape {}", s.sizes()));
    check_input(!o.start_labels().defined() ||
                    (o.start_labels().dim() == 1 && o.start_labels().size(0) == s.size(0)),
                "--starting-images", fmt::format("one label per image ({})", s.size(0)),
                o.start_labels().defined()
                    ? fmt::format("labels of shape {}", o.start_labels().sizes())
                    : "");
  }
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
  check_access(*this, model_access(model));
  AttackResult result;
  result.adv = x.clone();
  result.success = torch::zeros({n}, torch::dtype(torch::kBool).device(x.device()));
  result.pred = torch::full({n}, -1, torch::dtype(torch::kLong).device(x.device()));
  result.grad_score = torch::zeros({n, x.size(2), x.size(3)}, x.options());
  if (n > 0) perturb(model, x, criterion, ids, result);
  return result;
}

void check_access(const Attack& attack, Access has) {
  if (static_cast<int>(has) <= static_cast<int>(attack.access())) return;
  const std::string level =
      has == Access::kScores ? "scores: square, spsa, hopskipjump" : "labels: hopskipjump";
  throw InputError(fmt::format(
      "--attack {}: needs the model's {}, but the model is opened with --access {} (attacks at "
      "{}; or craft on a surrogate with --surrogate)",
      attack.name(), access_name(attack.access()), access_name(has), level));
}

void count_queries(AttackResult& r, const torch::Tensor& rows, int64_t n) {
  if (!r.item_queries.defined())
    r.item_queries = torch::zeros({n}, torch::dtype(torch::kLong).device(rows.device()));
  r.item_queries.index_add_(0, rows, torch::ones_like(rows));
  r.queries += rows.numel();
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
