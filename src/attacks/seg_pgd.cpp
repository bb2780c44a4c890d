// PGD, SegPGD and CosPGD on segmentation (foil/attacks/seg_pgd.h).
#include "foil/attacks/seg_pgd.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/attacks/norm.h"
#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"

namespace foil {
namespace {

void check_seg_loss(const SegAttackOptions& o) {
  check_input(o.loss == "pgd" || o.loss == "segpgd" || o.loss == "cospgd", "segmentation attack",
              "pgd, segpgd or cospgd", "'" + o.loss + "'");
  check_input(o.lambda <= 1, "SegPGD lambda", "a weight in [0, 1] (< 0: the schedule)",
              fmt::format("{:g}", o.lambda));
}

}  // namespace

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const SegAttackOptions& o, int64_t step) {
  check_input(logits.dim() == 4 && labels.dim() == 3 && logits.size(0) == labels.size(0) &&
                  logits.size(2) == labels.size(1) && logits.size(3) == labels.size(2),
              "segmentation labels", "N×H×W at the logits' resolution",
              fmt::format("labels {} for logits {}", labels.sizes(), logits.sizes()));
  check_seg_loss(o);
  const int64_t k = logits.size(1);
  const torch::Tensor outside =
      labels.ne(o.ignore_index).logical_and(labels.lt(0).logical_or(labels.ge(k)));
  check_input(!outside.any().item<bool>(), "segmentation labels",
              fmt::format("classes 0..{} or the ignore index {}", k - 1, o.ignore_index), "others");
  namespace F = torch::nn::functional;
  const torch::Tensor ce = F::cross_entropy(
      logits, labels,
      F::CrossEntropyFuncOptions().ignore_index(o.ignore_index).reduction(torch::kNone));
  torch::Tensor weight;
  if (o.loss == "segpgd") {
    const double lambda =
        o.lambda >= 0 ? o.lambda : static_cast<double>(step) / (2.0 * static_cast<double>(o.steps));
    const torch::Tensor right = logits.argmax(1).eq(labels);
    weight = torch::where(right, torch::full({}, 1 - lambda, ce.options()),
                          torch::full({}, lambda, ce.options()));
  } else if (o.loss == "cospgd") {
    // The reference clamps labels into the classes before one-hot (ignored pixels' CE is 0).
    const torch::Tensor onehot =
        torch::one_hot(labels.clamp(0, k - 1), k).permute({0, 3, 1, 2}).to(logits.dtype());
    weight = torch::cosine_similarity(torch::softmax(logits, 1), onehot, 1).detach();
  } else {  // pgd
    return ce.flatten(1).sum(1) / static_cast<double>(ce[0].numel());
  }
  return (weight * ce).flatten(1).sum(1) / static_cast<double>(ce[0].numel());
}

torch::Tensor segmentation_attack(const PixelLogits& logits, const torch::Tensor& pixels,
                                  const torch::Tensor& labels, const SegAttackOptions& o) {
  check_seg_loss(o);
  const std::unique_ptr<Norm> norm = make_norm(o.norm);
  check_input(o.eps > 0 && o.eps <= (o.norm == "linf" ? 1.0 : 1e4), "eps",
              "a budget > 0 (at most 1 in Linf)", fmt::format("{:g}", o.eps));
  check_input(o.steps >= 1 && o.steps <= 100000, "steps", "an integer in 1..100000",
              std::to_string(o.steps));
  const bool linf = o.norm == "linf";
  const double step = o.step_size > 0 ? o.step_size : (linf ? o.eps / 3 : 0.4 * o.eps);
  const torch::Tensor x = pixels.detach();
  const torch::Tensor y = labels.to(x.device(), torch::kLong);
  const int64_t n = x.size(0);
  torch::Tensor delta = torch::zeros_like(x);
  if (o.random_start) {
    const torch::Tensor ids = o.ids.defined() ? o.ids : torch::arange(n, torch::kLong);
    SampleRandom random(o.seed ^ 0x7365672d70676421ULL, ids);  // its own stream
    const torch::Tensor rows = torch::arange(n, torch::kLong);
    delta = random.uniform(rows, x.sizes().slice(1), x.device()) * 2 - 1;
    // The reference's: uniform in [-eps, eps] (Linf); uniform in [-1, 1] rescaled to norm
    // eps (L2).
    delta = linf ? delta * o.eps : delta / l2_per_sample(delta).clamp_min(1e-12) * o.eps;
    delta = (x + delta).clamp(0, 1) - x;
  }
  for (int64_t s = 0; s < o.steps; ++s) {
    torch::Tensor adv = (x + delta).detach().requires_grad_(true);
    const torch::Tensor loss = segmentation_loss(logits(adv), y, o, s).sum();
    const torch::Tensor grad = torch::autograd::grad({loss}, {adv})[0].detach();
    delta = norm->project(delta + step * norm->direction(grad), o.eps);
    delta = (x + delta).clamp(0, 1) - x;
  }
  return (x + delta).detach();
}

}  // namespace foil
