// Minimal-norm attacks (FAB-T, DeepFool, C&W) against the analytic minimum of linear models.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "attacks/attack_test_util.h"
#include "foil/attacks/cw.h"
#include "foil/attacks/evaluate.h"
#include "foil/attacks/fab.h"
#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

struct LinearCase {
  std::shared_ptr<test::LinearModel> model;
  torch::Tensor x, y;
};

/// Three classes on 1x4x4 inputs near 0.5, each labelled with its prediction.
LinearCase linear_case() {
  torch::manual_seed(11);
  auto w = torch::randn({3, 16});
  auto b = torch::tensor({0.4f, 0.0f, -0.3f});
  LinearCase c{std::make_shared<test::LinearModel>(w, b, ImageShape{1, 4, 4}),
               0.5 + 0.1 * (torch::rand({6, 1, 4, 4}) - 0.5),
               {}};
  torch::NoGradGuard g;
  c.y = c.model->forward(c.x).argmax(1);
  return c;
}

/// The distance from each x to the nearest point classified otherwise: the smallest over the
/// other classes k of (z_y - z_k) / ||w_y - w_k||_q, q the dual norm (L2: 2, Linf: 1).
torch::Tensor analytic_distance(const LinearCase& c, const std::string& norm) {
  torch::NoGradGuard g;
  auto z = c.model->forward(c.x);
  auto out = torch::full({c.x.size(0)}, INFINITY);
  for (int64_t i = 0; i < c.x.size(0); ++i) {
    const int64_t y = c.y[i].item<int64_t>();
    for (int64_t k = 0; k < 3; ++k) {
      if (k == y) continue;
      auto dw = c.model->weight()[y] - c.model->weight()[k];
      const double q = norm == "l2" ? dw.norm().item<double>() : dw.abs().sum().item<double>();
      const double d = (z[i][y] - z[i][k]).item<double>() / q;
      out[i] = std::min(out[i].item<double>(), d);
    }
  }
  return out;
}

void expect_within(const torch::Tensor& found, const torch::Tensor& want, double above,
                   const std::string& what) {
  for (int64_t i = 0; i < want.size(0); ++i) {
    const double f = found[i].item<double>(), w = want[i].item<double>();
    EXPECT_GE(f, w * (1 - 1e-4)) << what << " item " << i;  // nothing beats the minimum
    EXPECT_LE(f, w * (1 + above)) << what << " item " << i;
  }
}

TEST(MinimalNorm, FabReachesTheHyperplaneDistance) {
  const auto c = linear_case();
  for (const std::string norm : {"linf", "l2"}) {
    auto r = make_attack("fab-t", AttackOptions().norm(norm).eps(10).steps(100).targets(2))
                 ->run(*c.model, c.x, Criterion::misclassification(c.y));
    ASSERT_TRUE(r.min_norm.defined());
    EXPECT_TRUE(r.success.all().item<bool>()) << norm;
    expect_within(r.min_norm, analytic_distance(c, norm), 0.01, "fab-t " + norm);
  }
}

// Issue #36 item 4: FAB projects onto the linearised decision hyperplane from either side (a
// point already on the target side moves onto the boundary, not nowhere), at the analytic
// distance |w·p + b| / ||w||_q (q: 2 for L2, 1 for Linf) when the box is not in the way.
TEST(MinimalNorm, FabProjectsOntoTheHyperplaneFromEitherSide) {
  torch::manual_seed(3);
  const auto w = torch::randn({4, 16});
  const auto p = 0.5 + 0.02 * torch::randn({4, 16});
  // Rows 0-1 below the plane, rows 2-3 above it, all within 0.1 of it in Linf.
  const auto b = -(w * p).sum(1) + torch::tensor({-0.05f, -0.02f, 0.02f, 0.05f});
  for (const bool linf : {true, false}) {
    const auto z = project_to_hyperplane(p, w, b, linf);
    const auto value = (w * z).sum(1) + b;
    EXPECT_LT(value.abs().max().item<double>(), 1e-4) << linf;
    const auto moved = linf ? (z - p).abs().amax(1) : (z - p).norm(2, 1);
    const auto want = ((w * p).sum(1) + b).abs() / (linf ? w.abs().sum(1) : w.norm(2, 1));
    EXPECT_LT((moved - want).abs().max().item<double>(), 1e-4) << linf;
  }
  // A restart from the target side of a linear 3-class model: FAB still reaches the minimum.
  const auto c = linear_case();
  for (const std::string norm : {"linf", "l2"}) {
    auto r =
        make_attack(
            "fab-t",
            AttackOptions().norm(norm).eps(10).steps(30).restarts(3).random_start(true).targets(2))
            ->run(*c.model, c.x, Criterion::misclassification(c.y));
    expect_within(r.min_norm, analytic_distance(c, norm), 0.01, "fab-t restarts " + norm);
  }
}

TEST(MinimalNorm, DeepFoolReachesTheHyperplaneDistance) {
  const auto c = linear_case();
  for (const std::string norm : {"linf", "l2"}) {
    const auto d = analytic_distance(c, norm);
    // Without overshoot the step lands on the boundary (plus DeepFool's 1e-4 margin).
    auto exact = make_attack("deepfool", AttackOptions().norm(norm).eps(10).overshoot(0))
                     ->run(*c.model, c.x, Criterion::misclassification(c.y));
    EXPECT_TRUE(exact.success.all().item<bool>()) << norm;
    expect_within(exact.min_norm, d, 0.01, "deepfool " + norm);
    // The default overshoot of 0.02 goes 2% past it.
    auto over = make_attack("deepfool", AttackOptions().norm(norm).eps(10))
                    ->run(*c.model, c.x, Criterion::misclassification(c.y));
    expect_within(over.min_norm / 1.02, d, 0.01, "deepfool overshoot " + norm);
  }
}

TEST(MinimalNorm, CarliniWagnerFindsNearMinimalPerturbations) {
  const auto c = linear_case();
  auto r = make_attack("cw", AttackOptions().norm("l2").eps(10).steps(200).alpha(0.01))
               ->run(*c.model, c.x, Criterion::misclassification(c.y));
  EXPECT_TRUE(r.success.all().item<bool>());
  expect_within(r.min_norm, analytic_distance(c, "l2"), 0.05, "cw");
}

TEST(MinimalNorm, CarliniWagnerBinarySearchNarrowsC) {
  // Success exactly when c >= 3.7: the bracket always holds 3.7 and shrinks.
  const double threshold = 3.7;
  auto c = torch::tensor({1.0}), lo = torch::tensor({0.0}), hi = torch::tensor({INFINITY});
  double width = INFINITY;
  for (int step = 0; step < 20; ++step) {
    CarliniWagner::update_const(c.ge(threshold), c, lo, hi);
    EXPECT_LE(lo.item<double>(), threshold);
    EXPECT_GE(hi.item<double>(), threshold);
    const double w = (hi - lo).item<double>();
    EXPECT_LE(w, width);
    width = w;
  }
  EXPECT_LT(width, 1e-3);
  EXPECT_NEAR(c.item<double>(), threshold, 1e-3);
}

TEST(MinimalNorm, ResultIsWithinEpsOrTheInputAndCurvesFollow) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:64");
  auto crit = Criterion::misclassification(data.labels);
  auto r =
      make_attack("deepfool", AttackOptions().norm("l2").eps(0.5))->run(*model, data.images, crit);
  auto size = (r.adv - data.images).flatten(1).norm(2, 1);
  for (int64_t i = 0; i < data.size(); ++i) {
    const double m = r.min_norm[i].item<double>();
    if (r.success[i].item<bool>()) {
      EXPECT_LE(m, 0.5 + 1e-5);
      EXPECT_NEAR(size[i].item<double>(), m, 1e-4);
    } else {
      EXPECT_GT(m, 0.5);
      EXPECT_EQ(size[i].item<double>(), 0.0);  // beyond eps the input itself is returned
    }
  }
}

TEST(MinimalNorm, EvaluationCurveAgreesWithRobustAccuracy) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:64");
  for (const double eps : {0.3, 1.0}) {
    auto ev =
        evaluate_attack(*model, data, *make_attack("deepfool", AttackOptions().norm("l2").eps(eps)),
                        EvaluationOptions().batch(20));
    // Robust at eps exactly when the smallest perturbation found is larger than eps.
    EXPECT_DOUBLE_EQ(accuracy_at(ev, {eps})[0], ev.robust_accuracy) << eps;
    EXPECT_DOUBLE_EQ(accuracy_at(ev, {0.0})[0], ev.clean_accuracy);
    EXPECT_GT(ev.min_norm_median, 0.0);
    EXPECT_LE(ev.min_norm_median, ev.min_norm.max().item<double>());
    auto j = ev.to_json();
    EXPECT_EQ(j["minimal_norm"]["per_item"].size(), 64u);
  }
}

TEST(MinimalNorm, NothingFoundIsReportedAsNothing) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:10");
  // With c this small the distance term wins: C&W never leaves the input.
  auto cw = make_attack(
      "cw", AttackOptions().norm("l2").eps(1).steps(3).binary_steps(1).initial_const(1e-9));
  auto ev = evaluate_attack(*model, data, *cw);
  EXPECT_EQ(ev.min_norm_found, 0);
  EXPECT_EQ(ev.min_norm_found_rate, 0.0);
  EXPECT_DOUBLE_EQ(ev.robust_accuracy, ev.clean_accuracy);
  auto j = ev.to_json();
  EXPECT_TRUE(j["minimal_norm"]["median"].is_null());
  EXPECT_TRUE(j["minimal_norm"]["mean"].is_null());
}

}  // namespace
}  // namespace foil
