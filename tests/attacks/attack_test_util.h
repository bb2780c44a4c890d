#pragma once
// Shared by the attack tests: linear classifiers with known input gradients and known
// distances to their decision boundaries, and the reproducibility check.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <memory>
#include <string>

#include "foil/attacks/attack.h"
#include "foil/models/model.h"

namespace foil::test {

/// logits = W·flatten(x) + b on C×H×W inputs.
/// Another model's forward with something done around it: subclasses override run() and
/// call inner() (test doubles for spies and hostile models).
class WrappedModel : public Model {
 public:
  explicit WrappedModel(std::shared_ptr<Model> inner) : inner_(std::move(inner)) {
    info_ = inner_->info();
  }
  std::vector<std::string> layer_names() const override { return inner_->layer_names(); }
  void to(c10::Device) override {}

 protected:
  Model& inner() { return *inner_; }

 private:
  std::shared_ptr<Model> inner_;
};

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

/// The same seed gives the same result, and each item attacked alone (with its position as
/// id) gives what it got in the batch: example, success and, for ensembles, stage. oneDNN is
/// off meanwhile: on some CPUs it picks other convolution kernels for a batch of 1 than for a
/// batch of 6, whose logits differ in the last bits, and an attack's step-size checkpoints
/// then decide differently (seen: APGD-DLR L2 moved one item by 0.004); the property checked
/// here is foil's, not the kernels'.
inline void expect_reproducible_and_batch_independent(const Attack& attack, Model& model,
                                                      const torch::Tensor& x, const Criterion& crit,
                                                      const std::string& what) {
  struct MkldnnOff {
    bool was = at::globalContext().userEnabledMkldnn();
    MkldnnOff() { at::globalContext().setUserEnabledMkldnn(false); }
    ~MkldnnOff() { at::globalContext().setUserEnabledMkldnn(was); }
  } off;
  const AttackResult batch = attack.run(model, x, crit);
  const AttackResult again = attack.run(model, x, crit);
  EXPECT_TRUE(batch.adv.equal(again.adv)) << what;
  EXPECT_TRUE(batch.success.equal(again.success)) << what;
  if (batch.stage.defined()) EXPECT_TRUE(batch.stage.equal(again.stage)) << what;
  for (int64_t i = 0; i < x.size(0); ++i) {
    const auto id = torch::tensor({i});
    const AttackResult one = attack.run(model, x.slice(0, i, i + 1), crit.select(id), id);
    EXPECT_LT((one.adv - batch.adv.slice(0, i, i + 1)).abs().max().item<double>(), 1e-5)
        << what << " item " << i;
    EXPECT_EQ(one.success.item<bool>(), batch.success[i].item<bool>()) << what << " item " << i;
    if (batch.stage.defined())
      EXPECT_EQ(one.stage.item<int64_t>(), batch.stage[i].item<int64_t>()) << what << " item " << i;
  }
}

}  // namespace foil::test
