// Randomized smoothing: the statistics, CERTIFY and PREDICT on models whose smoothed answer is
// known.
#include "foil/certify/smoothing.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attacks/attack_test_util.h"
#include "foil/core/error.h"
#include "foil/jobs/certify_job.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(Smoothing, StatisticsMatchHandComputedValues) {
  // scipy.stats.beta.ppf(alpha, k, n - k + 1) and binomtest(k, n, 0.5).pvalue.
  EXPECT_NEAR(clopper_pearson_lower(50, 100, 0.05), 0.41362171463091163, 1e-12);
  EXPECT_NEAR(clopper_pearson_lower(990, 1000, 0.001), 0.9760361871553114, 1e-12);
  EXPECT_NEAR(clopper_pearson_lower(100, 100, 0.001), std::pow(0.001, 0.01), 1e-12);
  EXPECT_EQ(clopper_pearson_lower(0, 100, 0.001), 0.0);
  EXPECT_NEAR(binomial_test_half(60, 100), 0.05688793364098088, 1e-12);
  EXPECT_NEAR(binomial_test_half(40, 100), 0.05688793364098088, 1e-12);
  EXPECT_NEAR(binomial_test_half(5, 5), 0.0625, 1e-15);
  EXPECT_EQ(binomial_test_half(50, 100), 1.0);
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
  // I_x(2, 3) = P(Binomial(4, x) >= 2).
  EXPECT_NEAR(incomplete_beta(0.3, 2, 3), 1 - std::pow(0.7, 4) - 4 * 0.3 * std::pow(0.7, 3), 1e-12);
}

TEST(Smoothing, BadOptionsAreOneLine) {
  for (const SmoothingOptions& o :
       {SmoothingOptions().sigma(0), SmoothingOptions().sigma(NAN), SmoothingOptions().n0(0),
        SmoothingOptions().n(0), SmoothingOptions().alpha(0), SmoothingOptions().alpha(1),
        SmoothingOptions().batch(0)})
    EXPECT_THROW(check_smoothing_options(o), InputError);
}

TEST(Smoothing, ConstantModelIsCertifiedAtTheLargestRadius) {
  // Class 1 whatever the input: every copy agrees, pA = alpha^(1/n).
  test::LinearModel constant(torch::zeros({3, 16}), torch::tensor({0.0, 1.0, 0.0}),
                             ImageShape{1, 4, 4});
  const SmoothingOptions o = SmoothingOptions().sigma(0.5).n0(10).n(500).alpha(0.01).batch(128);
  const auto certs = certify_smoothed(constant, torch::rand({3, 1, 4, 4}), torch::arange(3), o);
  const double pa = std::pow(0.01, 1.0 / 500);
  for (const auto& c : certs) {
    EXPECT_EQ(c.prediction, 1);
    EXPECT_EQ(c.count, 500);
    EXPECT_NEAR(c.p_lower, pa, 1e-12);
    EXPECT_NEAR(c.radius, 0.5 * normal_quantile(pa), 1e-12);
  }
}

TEST(Smoothing, LinearModelCertificateHoldsAndTiesAbstain) {
  // Two classes split by the hyperplane w.x = c: the smoothed model is the model itself, and
  // the exact radius is the distance to the hyperplane. The certificate never exceeds it, and
  // with 20000 copies it comes within 10% of it. A point on the hyperplane is a coin toss:
  // CERTIFY and PREDICT abstain.
  torch::manual_seed(1);
  const torch::Tensor w = torch::randn({16});
  torch::Tensor weights = torch::zeros({2, 16});
  weights[1] = w;
  const torch::Tensor x = torch::rand({3, 1, 4, 4});
  const torch::Tensor score = x.flatten(1).matmul(w);
  // Item 0 at 0.3 from the boundary on class 1's side, item 1 at 0.6, item 2 on it.
  const double c0 = score[0].item<double>() - 0.3 * w.norm().item<double>();
  test::LinearModel model(weights, torch::tensor({0.0, -c0}), ImageShape{1, 4, 4});
  torch::Tensor shifted = x.clone();
  shifted[1] = x[0] + (0.3 * w / w.norm()).view({1, 4, 4});
  shifted[2] = x[0] - (0.3 * w / w.norm()).view({1, 4, 4});
  const SmoothingOptions o = SmoothingOptions().sigma(0.25).n0(100).n(20000).alpha(0.001);
  const auto certs = certify_smoothed(model, shifted, torch::arange(3), o);
  ASSERT_EQ(certs[0].prediction, 1);
  ASSERT_EQ(certs[1].prediction, 1);
  EXPECT_LE(certs[0].radius, 0.3 + 1e-6);
  EXPECT_GE(certs[0].radius, 0.27);
  EXPECT_LE(certs[1].radius, 0.6 + 1e-6);
  EXPECT_GE(certs[1].radius, 0.54);
  EXPECT_EQ(certs[2].prediction, -1);
  EXPECT_EQ(certs[2].radius, 0.0);
  EXPECT_EQ(predict_smoothed(model, shifted.slice(0, 2, 3), torch::tensor({2}), o)[0], -1);
  EXPECT_EQ(predict_smoothed(model, shifted.slice(0, 0, 1), torch::tensor({0}), o)[0], 1);
  // Seeded: the same seed gives the same certificates, alone or in a batch.
  const auto again = certify_smoothed(model, shifted.slice(0, 1, 2), torch::tensor({1}), o);
  EXPECT_EQ(again[0].count, certs[1].count);
  EXPECT_EQ(again[0].radius, certs[1].radius);
  const auto other =
      certify_smoothed(model, shifted, torch::arange(3), SmoothingOptions(o).seed(9));
  EXPECT_NE(other[0].count, certs[0].count);
}

TEST(Smoothing, CertifyJobOnTheTrainedCnn) {
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:6", model->info().input);
  CertifyOptions o;
  o.smoothing = SmoothingOptions().sigma(0.25).n0(20).n(200).alpha(0.01).batch(100);
  o.attack_eps = {0.25, 0.5};
  o.attack_steps = 5;
  const CertifyResult r = run_certify(model, data, o);
  ASSERT_EQ(r.items.size(), 6u);
  EXPECT_EQ(r.radii.front(), 0.0);
  EXPECT_NEAR(r.radii.back(), r.max_radius, 1e-12);
  for (size_t k = 1; k < r.certified_accuracy.size(); ++k)
    EXPECT_LE(r.certified_accuracy[k], r.certified_accuracy[k - 1]);
  for (const auto& c : r.items) EXPECT_LE(c.radius, r.max_radius + 1e-12);
  EXPECT_EQ(r.to_json()["per_item"].size(), 6u);
  // The attack on the smoothed model never beats its certificate.
  ASSERT_EQ(r.empirical_accuracy.size(), 2u);
  for (size_t k = 0; k < 2; ++k)
    EXPECT_GE(r.empirical_accuracy[k], r.certified_at_attack[k]) << r.attack_eps[k];
}

}  // namespace
}  // namespace foil
