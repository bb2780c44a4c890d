// Square: score-based only, within the budget, reproducible per sample.
#include "foil/attacks/square.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/attacks/criterion.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

/// Wraps a model; counts forward passes and whether any could have been differentiated.
class GradientSpy : public test::WrappedModel {
 public:
  using WrappedModel::WrappedModel;
  int64_t calls = 0, differentiable_calls = 0;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    ++calls;
    if (torch::GradMode::is_enabled() || x.requires_grad()) ++differentiable_calls;
    return {inner().forward(x), {}};
  }
};

TEST(Square, StaysWithinEpsAndNeverUsesGradients) {
  auto spy = std::make_shared<GradientSpy>(test::cnn_model());
  auto data = load_data("fashion-mnist:test:40");
  for (const std::string norm : {"linf", "l2"}) {
    const double eps = norm == "linf" ? 0.05 : 1.0;
    auto r = make_attack("square", AttackOptions().norm(norm).eps(eps).queries(300))
                 ->run(*spy, data.images, Criterion::misclassification(data.labels));
    auto delta = (r.adv - data.images).flatten(1);
    const double size =
        norm == "linf" ? delta.abs().max().item<double>() : delta.norm(2, 1).max().item<double>();
    EXPECT_LE(size, eps * (1 + 1e-5)) << norm;
    EXPECT_GE(r.adv.min().item<float>(), 0.0f);
    EXPECT_LE(r.adv.max().item<float>(), 1.0f);
    EXPECT_GT(r.success.sum().item<int64_t>(), 0) << norm;
    EXPECT_EQ(r.gradient_evaluations, 0);
    EXPECT_GT(r.queries, 0);
    EXPECT_LE(r.queries, 300 * data.size());
    // Success is what the model says about the returned example.
    torch::NoGradGuard g;
    EXPECT_TRUE(r.success.equal(test::cnn_model()->forward(r.adv).argmax(1).ne(data.labels)));
  }
  EXPECT_GT(spy->calls, 0);
  EXPECT_EQ(spy->differentiable_calls, 0);
}

TEST(Square, ScheduleHalvesTheSquareOnThePapersSteps) {
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 5, 10000), 0.8);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 11, 10000), 0.4);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 201, 10000), 0.1);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 9000, 10000), 0.8 / 512);
  // Rescaled to the query budget: query 100 of 1000 is query 1000 of 10000.
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 100, 1000), 0.8 / 16);
  auto p = Square::l2_pattern(5);
  EXPECT_NEAR(p.norm().item<double>(), 1.0, 1e-6);
  EXPECT_GT(p[0][2].item<float>(), 0);  // top half positive, peaked in the middle column
  EXPECT_LT(p[4][2].item<float>(), 0);
  EXPECT_GT(p[1][2].item<float>(), p[1][0].item<float>());
}

TEST(Square, SameSeedSameResultAndBatchEqualsPerSample) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:6");
  for (const std::string norm : {"linf", "l2"}) {
    const double eps = norm == "linf" ? 0.03 : 0.5;
    auto a = make_attack("square", AttackOptions().norm(norm).eps(eps).queries(60).seed(5));
    test::expect_reproducible_and_batch_independent(
        *a, *model, data.images, Criterion::misclassification(data.labels), "square " + norm);
  }
}

// Issue #36 item 3: L2 Square keeps the perturbation's norm at eps exactly (no clipping here:
// a 3-channel image at 0.5), while proposals move its mass; a model it cannot fool.
TEST(Square, L2NormIsConservedOnAColourImage) {
  torch::manual_seed(5);
  auto w = torch::randn({3, 3 * 16 * 16}) * 0.01;
  auto model = std::make_shared<test::LinearModel>(w, torch::tensor({50.0f, 0.0f, 0.0f}),
                                                   ImageShape{3, 16, 16});
  const auto x = torch::full({4, 3, 16, 16}, 0.5);
  const auto y = torch::zeros({4}, torch::kLong);
  auto r = make_attack("square", AttackOptions().norm("l2").eps(1.0).queries(200))
               ->run(*model, x, Criterion::misclassification(y));
  EXPECT_FALSE(r.success.any().item<bool>());
  const auto norms = (r.adv - x).flatten(1).norm(2, 1);
  EXPECT_LT((norms - 1.0).abs().max().item<double>(), 1e-5);
  // Proposals were accepted (the margin fell), so the norm survived real updates.
  EXPECT_FALSE(r.adv.equal(make_attack("square", AttackOptions().norm("l2").eps(1.0).queries(1))
                               ->run(*model, x, Criterion::misclassification(y))
                               .adv));
}

// Item 6: targeted Square keeps proposals that lower the cross-entropy to the target, and
// success is hitting the target.
TEST(Square, TargetedReachesTheTarget) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:20");
  const auto target = torch::full({data.size()}, 3, torch::kLong);
  auto r = make_attack("square", AttackOptions().eps(0.15).queries(300))
               ->run(*model, data.images, Criterion::targeted(data.labels, target));
  torch::NoGradGuard g;
  const auto pred = model->forward(r.adv).argmax(1);
  EXPECT_GT(r.success.sum().item<int64_t>(), 0);
  EXPECT_TRUE(r.success.equal(pred.eq(target)));
}

}  // namespace
}  // namespace foil
