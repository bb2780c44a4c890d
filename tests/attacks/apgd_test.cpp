// APGD: the DLR losses, the step-size schedule on hand-made loss curves, and the best point.
#include "foil/attacks/apgd.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/attacks/losses.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(Apgd, DlrOnHandWrittenLogits) {
  // Sorted: 3 (class 1), 2 (class 2), 1 (class 0), 0.5 (class 3).
  auto z = torch::tensor({{1.0f, 3.0f, 2.0f, 0.5f}});
  auto y = torch::tensor({2}, torch::kLong);
  // -(z_y - max other) / (z_pi1 - z_pi3) = -(2 - 3) / (3 - 1).
  EXPECT_NEAR(dlr_loss(z, y).item<double>(), 0.5, 1e-6);
  // Label on top: -(3 - 2) / (3 - 1).
  EXPECT_NEAR(dlr_loss(z, torch::tensor({1}, torch::kLong)).item<double>(), -0.5, 1e-6);
  // Targeted towards class 0: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2) = -(2 - 1) / 2.25.
  EXPECT_NEAR(dlr_targeted_loss(z, y, torch::tensor({0}, torch::kLong)).item<double>(), -1.0 / 2.25,
              1e-6);
  // Invariant to shifting and scaling the logits.
  EXPECT_NEAR(dlr_loss(z * 7 + 3, y).item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(logit_margin(z, y).item<double>(), -1.0, 1e-6);
}

/// Feeds `curve` (one loss per iteration) to a schedule of 100 steps; returns the
/// iterations at which the step was halved.
std::vector<int64_t> halvings(const std::vector<double>& curve, double start_loss) {
  ApgdSchedule s(100, torch::ones({1}), torch::tensor({start_loss}));
  std::vector<int64_t> at;
  double best = start_loss;
  for (size_t i = 0; i < curve.size(); ++i) {
    best = std::max(best, curve[i]);
    if (s.record(torch::tensor({curve[i]}), torch::tensor({best})).item<bool>())
      at.push_back(static_cast<int64_t>(i) + 1);
  }
  EXPECT_NEAR(s.step().item<double>(), std::pow(0.5, at.size()), 1e-12);
  return at;
}

TEST(Apgd, StepSizeFollowsTheCheckpointRule) {
  // Checkpoints for 100 steps: after 22 iterations, then intervals 19, 16, 13, 10, 7, 6, 6.
  const std::vector<int64_t> checkpoints = {22, 41, 57, 70, 80, 87, 93, 99};
  std::vector<double> rising(100), flat(100, 1.0), wave(100), stalled(100);
  for (int i = 0; i < 100; ++i) {
    rising[i] = i + 1;
    wave[i] = i % 2;  // rises in half of the steps
    // Rises in 7 of every 8 steps but never beats the start (10): the best is stuck.
    stalled[i] = (i % 8 == 7) ? -1.0 : (i % 8);
  }
  EXPECT_EQ(halvings(rising, 0.0), std::vector<int64_t>{});  // always improving
  EXPECT_EQ(halvings(flat, 1.0), checkpoints);               // never rising
  EXPECT_EQ(halvings(wave, 0.0), checkpoints);               // rising too rarely
  // Condition 2 only: not halved at 22 (first checkpoint, rises often enough), halved at 41
  // because the best loss did not improve since 22, not at 57 (just halved), again at 70.
  auto s = halvings(stalled, 10.0);
  ASSERT_GE(s.size(), 2u);
  EXPECT_EQ(s[0], 41);
  EXPECT_EQ(s[1], 70);
}

/// Wraps a model and records the per-sample cross-entropy of every input it sees.
class LossSpy : public Model {
 public:
  LossSpy(std::shared_ptr<Model> inner, torch::Tensor labels)
      : inner_(std::move(inner)), labels_(std::move(labels)) {
    info_ = inner_->info();
  }
  std::vector<std::string> layer_names() const override { return inner_->layer_names(); }
  void to(c10::Device) override {}
  std::vector<double> losses;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    torch::Tensor logits = inner_->forward(x);
    if (x.size(0) == 1) losses.push_back(ce_loss(logits.detach(), labels_).item<double>());
    return {logits, {}};
  }

 private:
  std::shared_ptr<Model> inner_;
  torch::Tensor labels_;
};

TEST(Apgd, KeepsTheBestPointItSaw) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:100");
  // A point the attack does not break at a tiny budget: its best-loss point is returned.
  auto probe = make_attack("apgd-ce", AttackOptions().eps(0.002).steps(30));
  auto r = probe->run(*model, data.images, Criterion::misclassification(data.labels));
  const auto robust = (r.success.logical_not() & r.pred.eq(data.labels)).nonzero();
  ASSERT_GT(robust.size(0), 0);
  const int64_t i = robust[0].item<int64_t>();
  auto y = data.labels.slice(0, i, i + 1);
  LossSpy spy(model, y);
  auto one = probe->run(spy, data.images.slice(0, i, i + 1), Criterion::misclassification(y));
  ASSERT_GT(spy.losses.size(), 30u);
  const double best = *std::max_element(spy.losses.begin() + 1, spy.losses.end());
  torch::NoGradGuard g;
  const double returned = ce_loss(model->forward(one.adv), y).item<double>();
  EXPECT_NEAR(returned, best, 1e-5);
  // And the attack made progress: the best point beats the random start.
  EXPECT_GT(best, spy.losses[1]);
}

TEST(Apgd, StrongerThanPgdAtTheSameBudget) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:100");
  auto crit = Criterion::misclassification(data.labels);
  auto robust = [&](const std::string& name, AttackOptions o) {
    auto r = make_attack(name, o)->run(*model, data.images, crit);
    return (r.pred.eq(data.labels)).sum().item<int64_t>();
  };
  const auto pgd =
      robust("pgd", AttackOptions().eps(0.03).alpha(0.0075).steps(10).random_start(true));
  const auto apgd = robust("apgd-ce", AttackOptions().eps(0.03).steps(50));
  const auto apgd_t = robust("apgd-t", AttackOptions().eps(0.03).steps(50).targets(3));
  EXPECT_LE(apgd, pgd);
  EXPECT_LE(apgd_t, pgd);
}

TEST(Apgd, SameSeedSameResultAndBatchEqualsPerSample) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:6");
  for (const std::string norm : {"linf", "l2"}) {
    const double eps = norm == "linf" ? 0.02 : 0.5;
    auto a = make_attack("apgd-dlr", AttackOptions().eps(eps).norm(norm).steps(12).seed(3));
    test::expect_reproducible_and_batch_independent(
        *a, *model, data.images, Criterion::misclassification(data.labels), "apgd-dlr " + norm);
  }
}

}  // namespace
}  // namespace foil
