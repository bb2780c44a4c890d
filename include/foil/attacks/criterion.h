#pragma once
/// @file
/// What counts as a successful attack, per sample (Foolbox `criteria.py`).

#include <torch/types.h>

#include <cstdint>
#include <string>

namespace foil {

/// Untargeted: success when the prediction differs from `labels`. Targeted: success when
/// the prediction equals `targets`. Example: `Criterion::targeted(labels, targets)`.
class Criterion {
 public:
  /// Untargeted: success when the prediction is not `labels` (int64 N).
  static Criterion misclassification(torch::Tensor labels);
  /// Targeted: success when the prediction is `targets` (int64 N).
  static Criterion targeted(torch::Tensor labels, torch::Tensor targets);

  /// Whether it has targets.
  bool is_targeted() const { return targets_.defined(); }
  /// The true labels (int64 N).
  const torch::Tensor& labels() const { return labels_; }
  /// The target classes (int64 N); undefined when untargeted.
  const torch::Tensor& targets() const { return targets_; }
  /// The class the loss is computed against: the target when targeted, else the label.
  const torch::Tensor& loss_classes() const { return is_targeted() ? targets_ : labels_; }
  /// Per-sample bool: does `logits` meet the criterion?
  torch::Tensor is_adversarial(const torch::Tensor& logits) const;
  /// The criterion for a subset of the samples (rows `index`).
  Criterion select(const torch::Tensor& index) const;
  /// The criterion with its tensors on `device`.
  Criterion to(c10::Device device) const;

 private:
  torch::Tensor labels_, targets_;
};

/// How `--targeted` picks targets: a fixed label, a random class other than the label, or
/// the least-likely class of the clean prediction.
struct TargetSpec {
  /// Untargeted, one fixed class, a random other class, the least-likely class.
  enum class Mode { kNone, kLabel, kRandom, kLeastLikely };
  Mode mode = Mode::kNone;  ///< how targets are picked
  int64_t label = -1;       ///< the class of Mode::kLabel
  /// Parses "random", "least-likely" or a class index; "" means untargeted.
  static TargetSpec parse(const std::string& text, int64_t num_classes);
  /// The text `parse` takes back ("" when untargeted).
  std::string str() const;
};

/// Builds the criterion for one batch. `clean_logits` serve least-likely; `seed` and the
/// batch's `offset` in the dataset fix random targets regardless of batching.
Criterion make_criterion(const TargetSpec& spec, const torch::Tensor& labels,
                         const torch::Tensor& clean_logits, uint64_t seed, int64_t offset);

/// The top-k target classes per sample: the classes of the highest clean logits other than
/// the label, in order (N×k). Throws InputError when k > classes - 1.
torch::Tensor top_k_targets(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k);

/// k = `requested`, or min(9, classes - 1) when it is 0.
int64_t target_count(int64_t requested, int64_t classes);

}  // namespace foil
