#include "foil/attacks/criterion.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

#include "foil/core/error.h"

namespace foil {

Criterion Criterion::misclassification(torch::Tensor labels) {
  Criterion c;
  c.labels_ = std::move(labels);
  return c;
}

Criterion Criterion::targeted(torch::Tensor labels, torch::Tensor targets) {
  Criterion c;
  c.labels_ = std::move(labels);
  c.targets_ = std::move(targets);
  return c;
}

torch::Tensor Criterion::is_adversarial(const torch::Tensor& logits) const {
  const auto pred = logits.argmax(1);
  return is_targeted() ? pred.eq(targets_) : pred.ne(labels_);
}

Criterion Criterion::select(const torch::Tensor& index) const {
  Criterion c;
  c.labels_ = labels_.index_select(0, index);
  if (is_targeted()) c.targets_ = targets_.index_select(0, index);
  return c;
}

Criterion Criterion::to(c10::Device device) const {
  Criterion c;
  c.labels_ = labels_.to(device);
  if (is_targeted()) c.targets_ = targets_.to(device);
  return c;
}

TargetSpec TargetSpec::parse(const std::string& text, int64_t num_classes) {
  TargetSpec t;
  if (text.empty()) return t;
  if (text == "random") {
    t.mode = Mode::kRandom;
  } else if (text == "least-likely") {
    t.mode = Mode::kLeastLikely;
  } else {
    const auto label = parse_integer(text);
    check_input(label.has_value(), "--targeted", "random, least-likely or a class index",
                "'" + text + "'");
    t.mode = Mode::kLabel;
    t.label = *label;
    if (num_classes > 0)
      check_input(t.label < num_classes, "--targeted",
                  "a class index in 0.." + std::to_string(num_classes - 1), text);
  }
  return t;
}

std::string TargetSpec::str() const {
  switch (mode) {
    case Mode::kNone:
      return "untargeted";
    case Mode::kLabel:
      return "targeted:" + std::to_string(label);
    case Mode::kRandom:
      return "targeted:random";
    case Mode::kLeastLikely:
      return "targeted:least-likely";
  }
  return "";
}

Criterion make_criterion(const TargetSpec& spec, const torch::Tensor& labels,
                         const torch::Tensor& clean_logits, uint64_t seed, int64_t offset) {
  const int64_t n = labels.size(0), k = clean_logits.size(1);
  switch (spec.mode) {
    case TargetSpec::Mode::kNone:
      return Criterion::misclassification(labels);
    case TargetSpec::Mode::kLabel:
      return Criterion::targeted(labels, torch::full_like(labels, spec.label));
    case TargetSpec::Mode::kLeastLikely:
      return Criterion::targeted(labels, clean_logits.argmin(1));
    case TargetSpec::Mode::kRandom: {
      // A shift of 1..k-1 modulo k never lands on the label; per-sample generators keyed by
      // the item's position make the target independent of the batch size.
      std::vector<int64_t> shift(n);
      for (int64_t i = 0; i < n; ++i) {
        auto gen = at::make_generator<at::CPUGeneratorImpl>(seed * 1000003ULL + offset + i);
        shift[i] = 1 + torch::randint(k - 1, {1}, gen).item<int64_t>();
      }
      auto s = torch::tensor(shift, torch::kInt64).to(labels.device());
      return Criterion::targeted(labels, (labels + s).remainder(k));
    }
  }
  return Criterion::misclassification(labels);
}

int64_t target_count(int64_t requested, int64_t classes) {
  const int64_t k = requested == 0 ? std::min<int64_t>(9, classes - 1) : requested;
  check_input(k >= 1 && k <= classes - 1, "--targets",
              "at most " + std::to_string(classes - 1) + " for a model with " +
                  std::to_string(classes) + " classes",
              std::to_string(k));
  return k;
}

torch::Tensor top_k_targets(const torch::Tensor& logits, const torch::Tensor& labels, int64_t k) {
  const int64_t classes = logits.size(1);
  check_input(k >= 1 && k <= classes - 1, "--targets",
              "between 1 and " + std::to_string(classes - 1), std::to_string(k));
  const torch::Tensor label_mask =
      torch::zeros_like(logits, torch::kBool).scatter_(1, labels.view({-1, 1}), true);
  return logits.masked_fill(label_mask, -std::numeric_limits<float>::infinity())
      .argsort(1, /*descending=*/true)
      .slice(1, 0, k);
}

}  // namespace foil
