#include "foil/keypoints/pose.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/core/error.h"

namespace foil {
namespace {

TEST(KeypointOks, IsCocosSimilarityWithItsSigmas) {
  const auto& sigmas = coco_keypoint_sigmas();
  ASSERT_EQ(sigmas.size(), 17u);
  EXPECT_DOUBLE_EQ(sigmas[0], 0.026);   // nose
  EXPECT_DOUBLE_EQ(sigmas[16], 0.089);  // right ankle
  torch::manual_seed(1);
  const torch::Tensor truth = torch::rand({2, 17, 2}, torch::kDouble) * 100;
  const torch::Tensor area = torch::tensor({2500.0, 900.0}, torch::kDouble);
  EXPECT_TRUE(
      torch::allclose(keypoint_oks(truth, truth, area, sigmas), torch::ones({2}, torch::kDouble)));
  // One keypoint (a wrist, sigma 0.062) 5 px off: exp(-25 / (2 * area * (2 * 0.062)^2)).
  torch::Tensor moved = truth.clone();
  moved[0][9][0] += 3;
  moved[0][9][1] += 4;
  const double e = std::exp(-25.0 / (2 * 2500 * std::pow(2 * 0.062, 2)));
  EXPECT_NEAR(keypoint_oks(moved, truth, area, sigmas)[0].item<double>(), (16 + e) / 17, 1e-9);
  EXPECT_THROW(keypoint_oks(truth.slice(1, 0, 5), truth.slice(1, 0, 5), area, sigmas), InputError);
}

TEST(PoseData, DeterministicBySeedWithJointsInside) {
  const PoseData a = make_pose_data(20, 7), b = make_pose_data(20, 7), c = make_pose_data(20, 8);
  EXPECT_TRUE(a.images.equal(b.images));
  EXPECT_TRUE(a.keypoints.equal(b.keypoints));
  EXPECT_FALSE(a.keypoints.equal(c.keypoints));
  EXPECT_EQ(a.keypoints.sizes(), (std::vector<int64_t>{20, 11, 2}));
  EXPECT_GE(a.keypoints.min().item<float>(), 2.0f);
  EXPECT_LE(a.keypoints.max().item<float>(), 61.0f);
  EXPECT_GE(a.images.min().item<float>(), 0.0f);
  EXPECT_LE(a.images.max().item<float>(), 1.0f);
}

TEST(PoseData, GroundTruthSitsOnTheRenderedLimbs) {
  // Each limb has its own hue: left arm red, right arm blue, left leg green, right leg
  // yellow. The pixels at a hand or foot show that hue.
  const PoseData d = make_pose_data(60, 3);
  struct Joint {
    int index;
    int hue;  // 0 red, 1 blue, 2 green, 3 yellow
  };
  const Joint joints[] = {{4, 0}, {6, 1}, {8, 2}, {10, 3}};
  int hits = 0, total = 0;
  for (int64_t i = 0; i < d.size(); ++i)
    for (const auto& j : joints) {
      const int64_t x = std::lround(d.keypoints[i][j.index][0].item<float>());
      const int64_t y = std::lround(d.keypoints[i][j.index][1].item<float>());
      const auto patch = d.images[i].slice(1, y - 1, y + 2).slice(2, x - 1, x + 2);
      const auto r = patch[0], g = patch[1], b = patch[2];
      torch::Tensor ok;
      if (j.hue == 0) ok = (r - g).gt(0.25);
      if (j.hue == 1) ok = (b - r).gt(0.25);
      if (j.hue == 2) ok = (g - r).gt(0.25);
      if (j.hue == 3) ok = ((r + g) / 2 - b).gt(0.25);
      hits += ok.any().item<bool>();
      ++total;
    }
  EXPECT_GE(hits, total * 9 / 10) << hits << " of " << total;
}

TEST(PoseData, SpecsParse) {
  EXPECT_EQ(load_pose_data("pose:test:12").size(), 12);
  EXPECT_THROW(load_pose_data("pose:valid"), InputError);
  EXPECT_THROW(load_pose_data("pose:test:0"), InputError);
}

TEST(Heatmaps, ArgmaxDecodeRecoversRenderedCoordinates) {
  // At full resolution, integer keypoints come back exactly.
  const auto kp = torch::randint(2, 62, {4, 11, 2}).to(torch::kFloat);
  EXPECT_TRUE(decode_heatmaps(render_heatmaps(kp, 64, 64), 64).equal(kp));
  // At a quarter resolution, within half a heatmap pixel (2 image pixels).
  const auto any = torch::rand({4, 11, 2}) * 60 + 2;
  const auto err =
      (decode_heatmaps(render_heatmaps(any, 64, 16), 64) - any).abs().max().item<float>();
  EXPECT_LE(err, 2.0f + 1e-4f);
  // Soft-argmax agrees with the peak for sharp maps.
  EXPECT_LT((soft_argmax(render_heatmaps(kp, 64, 64) * 10, 64) - kp).abs().max().item<float>(),
            0.1f);
  EXPECT_NEAR(pck(kp, kp + 3, 4.0), 0.0, 1e-12);
  EXPECT_NEAR(pck(kp, kp + 2, 4.0), 1.0, 1e-12);
}

}  // namespace
}  // namespace foil
