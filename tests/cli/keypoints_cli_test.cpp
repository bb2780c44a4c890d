// foil keypoints attack / table end to end, and their bad inputs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::read_json;
using test::run_foil;

std::string posenet() { return std::string(FOIL_TEST_MODELS) + "/posenet.foil"; }

TEST(CliKeypoints, AttackWithFileTargetAndTable) {
  const std::string dir = test::temp_dir("cli-kp");
  nlohmann::json pose = nlohmann::json::array();
  for (int k = 0; k < 11; ++k) pose.push_back({20 + 2 * k, 30});
  std::ofstream(dir + "/pose.json") << pose.dump();
  auto r = run_foil("keypoints attack --model " + posenet() +
                    " --data pose:test:8 --eps 0.1 --alpha 0.02 --target file:" + dir +
                    "/pose.json --out " + dir + "/a");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/a/keypoints.json");
  EXPECT_EQ(j["images"].size(), 8u);
  EXPECT_GT(j["mask_share"].get<double>(), 0.0);
  EXPECT_LT(j["mask_share"].get<double>(), 1.0);
  EXPECT_TRUE(std::filesystem::exists(dir + "/a/keypoints.png"));
  auto t = run_foil("keypoints table --model " + posenet() +
                    " --data pose:test:6 --linf-eps 0.05 --l2-eps 2 --steps 3 --target shift:6,8 "
                    "--out " +
                    dir + "/t");
  ASSERT_EQ(t.code, 0) << t.err;
  const auto table = read_json(dir + "/t/table.json");
  EXPECT_EQ(table["rows"].size(), 8u);  // 2 modes x 2 norms x KAA/KAA+ER
  // The target rows' baseline: the clean poses lie 10 px from the target (less where the
  // shifted pose is clamped to the image), none within tau (4 px).
  EXPECT_EQ(table["target_baseline"]["success_rate"], 0.0);
  EXPECT_LE(table["target_baseline"]["pose_rmse"].get<double>(), 10.0 + 1e-9);
  EXPECT_GT(table["target_baseline"]["pose_rmse"].get<double>(), 8.0);
  // Figs. 7c and 10c: pose vs perturbation RMSE, non-target and target.
  for (const char* f : {"/t/curve.svg", "/t/curve-target.svg"}) {
    std::ifstream in(dir + f);
    const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(svg.find("<svg"), std::string::npos) << f;
    EXPECT_NE(svg.find("KAA"), std::string::npos) << f;
  }
  // A TorchScript heatmap model through its "head" tap.
  auto s = run_foil("keypoints attack --model " + test::fixture("pose_heatmap.pt") +
                    " --layer head --data pose:test:4 --mask none --out " + dir + "/s");
  EXPECT_EQ(s.code, 0) << s.err;
}

TEST(CliKeypoints, BadInput) {
  const std::string dir = test::temp_dir("cli-kp-bad");
  const std::string m =
      "keypoints attack --model " + posenet() + " --data pose:test:4 --out " + dir;
  std::ofstream(dir + "/short.json") << "[[1, 2], [3, 4]]";
  expect_bad_input(m + " --target file:" + dir + "/short.json", "11 keypoints");
  nlohmann::json far = nlohmann::json::array();
  for (int k = 0; k < 11; ++k) far.push_back({100, 5});
  std::ofstream(dir + "/far.json") << far.dump();
  expect_bad_input(m + " --target file:" + dir + "/far.json", "inside");
  expect_bad_input(m + " --layer neck", "heatmaps");
  expect_bad_input(m + " --eps -1", "--eps");
  expect_bad_input(m + " --steps 0", "--steps");
  expect_bad_input(m + " --mask random", "--mask");
  expect_bad_input(m + " --target teleport", "--target");
  expect_bad_input("keypoints attack --model " + posenet() + " --data pose:valid", "pose:");
}

}  // namespace
}  // namespace foil
