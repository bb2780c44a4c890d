#include "foil/attacks/losses.h"

#include <torch/torch.h>

#include <limits>

namespace foil {
namespace {

torch::Tensor at_label(const torch::Tensor& logits, const torch::Tensor& labels) {
  return logits.gather(1, labels.view({-1, 1})).squeeze(1);
}

/// max_{i != y} z_i.
torch::Tensor best_other(const torch::Tensor& logits, const torch::Tensor& labels) {
  const torch::Tensor mask =
      torch::zeros_like(logits, torch::kBool).scatter_(1, labels.view({-1, 1}), true);
  return logits.masked_fill(mask, -std::numeric_limits<float>::infinity()).amax(1);
}

}  // namespace

torch::Tensor logit_margin(const torch::Tensor& logits, const torch::Tensor& labels) {
  return at_label(logits, labels) - best_other(logits, labels);
}

torch::Tensor dlr_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  const torch::Tensor sorted = std::get<0>(logits.sort(1, /*descending=*/true));
  return -logit_margin(logits, labels) / (sorted.select(1, 0) - sorted.select(1, 2) + 1e-12);
}

torch::Tensor dlr_targeted_loss(const torch::Tensor& logits, const torch::Tensor& labels,
                                const torch::Tensor& targets) {
  const torch::Tensor sorted = std::get<0>(logits.sort(1, /*descending=*/true));
  const torch::Tensor scale =
      sorted.select(1, 0) - 0.5 * (sorted.select(1, 2) + sorted.select(1, 3)) + 1e-12;
  return -(at_label(logits, labels) - at_label(logits, targets)) / scale;
}

torch::Tensor ce_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
}

}  // namespace foil
