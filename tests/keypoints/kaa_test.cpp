#include "foil/keypoints/kaa.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/models/torchscript.h"
#include "test_util.h"

namespace foil {
namespace {

std::shared_ptr<Model> pose_fixture() {
  static auto m = std::make_shared<TorchScriptModel>(test::fixture("pose_heatmap.pt"));
  return m;
}

std::shared_ptr<Model> trained_posenet() {
  static auto m = load_model(std::string(FOIL_TEST_MODELS) + "/posenet.foil");
  return m;
}

/// The chosen outputs for one image, computed independently of keypoint_jacobian.
torch::Tensor outputs_of(Model& m, const torch::Tensor& x) {
  const auto hm = m.forward(x, {"head"}).taps.at("head");
  const auto sa = soft_argmax(hm, x.size(3));
  return torch::cat({hm.amax({2, 3}), sa.select(2, 0), sa.select(2, 1)}, 1)[0];
}

TEST(Kaa, JacobianRowsEqualFiniteDifferences) {
  auto& m = *pose_fixture();
  torch::manual_seed(0);
  const auto x = torch::rand({1, 3, 64, 64}, torch::kDouble).to(torch::kFloat);
  const auto j = keypoint_jacobian(m, x, KaaOptions().layer("head"));  // 1 x 33 x 3 x 64 x 64
  ASSERT_EQ(j.sizes(), (std::vector<int64_t>{1, 33, 3, 64, 64}));
  const double h = 1e-2;
  for (int64_t e : {100, 5000, 9000}) {
    auto plus = x.clone(), minus = x.clone();
    plus.view(-1)[e] += h;
    minus.view(-1)[e] -= h;
    torch::NoGradGuard g;
    const auto fd = (outputs_of(m, plus) - outputs_of(m, minus)) / (2 * h);
    const auto col = j[0].view({33, -1}).select(1, e);
    EXPECT_LT((fd - col).abs().max().item<double>(), 2e-2 + 0.05 * col.abs().max().item<double>())
        << "element " << e;
  }
}

TEST(Kaa, MaskMarksExactlyThePixelsWithBothSigns) {
  auto& m = *pose_fixture();
  const auto x = torch::rand({2, 3, 64, 64});
  const auto o = KaaOptions().layer("head").jacobian_threshold(0.2);
  const auto j = keypoint_jacobian(m, x, o);
  const auto c = relational_mask(m, x, o);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t e : {0, 777, 4096, 8000, 12000}) {
      bool pos = false, neg = false;
      for (int64_t l = 0; l < 33; ++l) {
        const auto row = j[n][l].view(-1);
        const double thr = 0.2 * row.abs().max().item<double>();
        const double v = row[e].item<double>();
        pos |= v > thr;
        neg |= v < -thr;
      }
      EXPECT_EQ(c[n].view(-1)[e].item<float>(), (pos && neg) ? 1.0f : 0.0f) << n << " " << e;
    }
  EXPECT_GT(c.sum().item<double>(), 0.0);
  EXPECT_LT(c.mean().item<double>(), 1.0);
}

TEST(Kaa, SourceMaskOverAllHeatmapElementsMatchesTheFullJacobian) {
  // The source's Steps 1-3: J over all 11x16x16 heatmap elements, an absolute alpha, C = 1
  // only where a pixel's row (all outputs x channels) is exactly {+1, -1}; and the variants.
  auto& m = *pose_fixture();
  torch::manual_seed(3);
  const auto x = torch::rand({1, 3, 64, 64});
  const auto base = KaaOptions().layer("head").outputs("heatmap");
  const auto j = keypoint_jacobian(m, x, base)[0];  // 2816 x 3 x 64 x 64
  ASSERT_EQ(j.size(0), 11 * 16 * 16);
  const double alpha = 0.5 * j.abs().mean().item<double>();
  const auto rows = j.permute({2, 3, 1, 0}).reshape({64 * 64, -1});  // pixel x (channel, output)
  const auto pos = rows.gt(alpha).any(1), neg = rows.lt(-alpha).any(1);
  const auto zero = rows.abs().le(alpha).any(1);
  const auto both =
      relational_mask(m, x, KaaOptions(base).jacobian_threshold_abs(alpha).per_pixel(true));
  const auto strict = relational_mask(
      m, x, KaaOptions(base).jacobian_threshold_abs(alpha).per_pixel(true).mask_rule("strict"));
  EXPECT_TRUE(both[0][0].reshape(-1).to(torch::kBool).equal(pos & neg));
  EXPECT_TRUE(strict[0][0].reshape(-1).to(torch::kBool).equal(pos & neg & ~zero));
  // Per pixel: the channels share the value.
  EXPECT_TRUE(both[0][1].equal(both[0][0]) && both[0][2].equal(both[0][0]));
  EXPECT_GT(both.sum().item<double>(), 0.0);
  // Strict is a subset of "both"; here (a small receptive field: most outputs do not see a
  // pixel, J = 0) it is empty, which is what the source's rule says for such a model.
  EXPECT_FALSE((strict.gt(0) & both.eq(0)).any().item<bool>());
  // Per element (not per pixel): each input element's own row.
  const auto element = relational_mask(m, x, KaaOptions(base).jacobian_threshold_abs(alpha));
  const auto erows = j.permute({1, 2, 3, 0}).reshape({3 * 64 * 64, -1});
  EXPECT_TRUE(element[0]
                  .reshape(-1)
                  .to(torch::kBool)
                  .equal(erows.gt(alpha).any(1) & erows.lt(-alpha).any(1)));
  EXPECT_THROW(relational_mask(m, x, KaaOptions(base).mask_rule("some")), InputError);
  EXPECT_THROW(relational_mask(m, x, KaaOptions().layer("head").outputs("heatmap,peak")),
               InputError);
}

TEST(Kaa, MaskedUpdatesStayInsideTheMaskAndTheBudget) {
  auto& m = *pose_fixture();
  const auto x = torch::rand({3, 3, 64, 64});
  for (const std::string norm : {"linf", "l2"}) {
    const double eps = norm == "linf" ? 0.05 : 1.0;
    for (bool targeted : {false, true}) {
      const auto target = targeted ? torch::full({3, 11, 2}, 30.0f) : torch::Tensor();
      const auto r = kaa_attack(
          m, x, target,
          KaaOptions().layer("head").mask("relational").norm(norm).eps(eps).alpha(eps / 4));
      const auto delta = r.adv - x;
      EXPECT_EQ((delta.abs() * (1 - r.mask)).max().item<float>(), 0.0f) << norm;
      EXPECT_GT(delta.abs().max().item<float>(), 0.0f);
      const double size = norm == "linf" ? delta.abs().max().item<double>()
                                         : delta.flatten(1).norm(2, 1).max().item<double>();
      EXPECT_LE(size, eps + 1e-5) << norm;
      EXPECT_GE(r.adv.min().item<float>(), 0.0f);
      EXPECT_LE(r.adv.max().item<float>(), 1.0f);
    }
  }
}

TEST(Kaa, NonTargetAttackOnTrainedModelSucceedsOnMostImages) {
  auto& m = *trained_posenet();
  const PoseData d = load_pose_data("pose:test:40");
  const auto clean = predict_keypoints(m, d.images);
  const auto r = kaa_attack(m, d.images, {}, KaaOptions().eps(0.08).alpha(0.02).steps(10));
  const auto metrics = kaa_metrics(d.images, r.adv, clean, predict_keypoints(m, r.adv), {}, 4.0);
  EXPECT_GT(metrics.success_rate, 0.5);
  EXPECT_GT(metrics.pose_rmse, 4.0);
}

TEST(Kaa, BadInputIsInputError) {
  auto& m = *pose_fixture();
  const auto x = torch::rand({1, 3, 64, 64});
  EXPECT_THROW(kaa_attack(m, x, {}, KaaOptions().layer("neck")), InputError);
  EXPECT_THROW(kaa_attack(m, x, {}, KaaOptions().layer("backbone.0").steps(0)), InputError);
  EXPECT_THROW(kaa_attack(m, x, {}, KaaOptions().layer("head").mask("random")), InputError);
  EXPECT_THROW(kaa_attack(m, x, {}, KaaOptions().layer("head").outputs("peak,z")), InputError);
  EXPECT_THROW(kaa_attack(m, x, torch::zeros({1, 5, 2}), KaaOptions().layer("head")), InputError);
  EXPECT_THROW(kaa_attack(m, x, torch::full({1, 11, 2}, 80.0f), KaaOptions().layer("head")),
               InputError);
}

}  // namespace
}  // namespace foil

namespace foil {
namespace {

TEST(KaaMetrics, ThreeDimensionalPosesAreJudgedInTheirOwnUnits) {
  // Two poses of 5 joints in metres; the second image's attacked pose moves 3 joints by 0.3 m.
  const torch::Tensor clean = torch::zeros({2, 5, 3});
  torch::Tensor adv = clean.clone();
  adv[1].slice(0, 0, 3).select(1, 2).fill_(0.3);
  const torch::Tensor x = torch::zeros({2, 3, 4, 4});
  const auto non_target = kaa_metrics(x, x, clean, adv, {}, 0.1);
  // Mean displacement: image 0 is 0, image 1 is 3 * 0.3 / 5 = 0.18 > 0.1.
  EXPECT_FALSE(non_target.success[0].item<bool>());
  EXPECT_TRUE(non_target.success[1].item<bool>());
  EXPECT_DOUBLE_EQ(non_target.success_rate, 0.5);
  EXPECT_NEAR(non_target.pose_rmse, std::sqrt(3 * 0.09 / 10), 1e-7);  // 0.3 in float32
  // Target: the attacked pose of image 1 is the target; image 0 has only 2 of 5 joints (40%)
  // within 0.1 m of it, image 1 all of them.
  const torch::Tensor target = adv[1].unsqueeze(0).expand_as(adv).clone();
  const auto targeted = kaa_metrics(x, x, clean, adv, target, 0.1);
  EXPECT_FALSE(targeted.success[0].item<bool>());
  EXPECT_TRUE(targeted.success[1].item<bool>());
  EXPECT_NEAR(targeted.pose_rmse, std::sqrt(3 * 0.09 / 10), 1e-7);  // 0.3 in float32
}

}  // namespace
}  // namespace foil
