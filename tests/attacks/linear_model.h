#pragma once
// Linear classifiers with known input gradients and known distances to their decision
// boundaries, for the attack tests.

#include <torch/torch.h>

#include "foil/models/model.h"

namespace foil::test {

/// logits = W·flatten(x) + b on C×H×W inputs.
class LinearModel : public Model {
 public:
  LinearModel(torch::Tensor w, torch::Tensor b, ImageShape shape)
      : w_(std::move(w)), b_(std::move(b)) {
    info_.name = "linear";
    info_.input = shape;
    info_.num_classes = w_.size(0);
  }
  explicit LinearModel(torch::Tensor w)
      : LinearModel(w, torch::zeros({w.size(0)}), ImageShape{1, 4, 4}) {}
  std::vector<std::string> layer_names() const override { return {"logits"}; }
  void to(c10::Device) override {}
  const torch::Tensor& weight() const { return w_; }
  const torch::Tensor& bias() const { return b_; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    return {x.flatten(1).matmul(w_.t()) + b_, {}};
  }

 private:
  torch::Tensor w_, b_;
};

}  // namespace foil::test
