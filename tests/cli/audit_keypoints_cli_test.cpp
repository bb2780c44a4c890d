// foil audit on a keypoint model (MoveNet): OKS, PCK@0.1 and pose RMSE to the clean pose under
// noise and under KAA, written as a results folder.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace foil {
namespace {

TEST(AuditKeypointsCli, KaaMovesThePoseFartherThanNoiseOfTheSameBudget) {
  const std::string dir = test::temp_dir("audit-keypoints");
  const auto r = test::run_foil("audit --model " + test::human_model("movenet-lightning") +
                                " --data " + test::asset("photos/messi5.jpg") +
                                " --linf-eps 0.0314 --steps 5 --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("task    keypoints"), std::string::npos) << r.out;  // from the model
  const auto j = test::read_json(dir + "/out/audit_keypoints.json");
  EXPECT_EQ(j["task"], "keypoints");
  EXPECT_EQ(j["keypoints"].size(), 17u);
  EXPECT_NE(j["reference"].get<std::string>().find("own decode"), std::string::npos);
  ASSERT_EQ(j["rows"].size(), 3u);  // clean, noise, kaa
  const auto& clean = j["rows"][0];
  EXPECT_DOUBLE_EQ(clean["oks"].get<double>(), 1.0);  // its own reference
  EXPECT_DOUBLE_EQ(clean["pose_rmse"].get<double>(), 0.0);
  const auto& noise = j["rows"][1];
  const auto& kaa = j["rows"][2];
  EXPECT_EQ(kaa["row"], "kaa-linf-0.0314");
  EXPECT_GT(noise["oks"].get<double>(), 0.8);
  EXPECT_LT(kaa["oks"].get<double>(), noise["oks"].get<double>() - 0.3);
  EXPECT_GT(kaa["pose_rmse"].get<double>(), noise["pose_rmse"].get<double>());
  for (const char* f : {"audit_keypoints.csv", "report.html", "run.json", "examples.png"})
    EXPECT_TRUE(std::ifstream(dir + "/out/" + std::string(f)).good()) << f;
}

TEST(AuditKeypointsCli, BadInputIsOneLine) {
  const std::string model = test::human_model("movenet-lightning");
  const std::string photo = test::asset("photos/messi5.jpg");
  test::expect_bad_input("audit --task keypoints", "--task keypoints: expected a keypoint model");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --task segment",
                         "--task segment: expected the task of --model (keypoints)");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --annotations x",
                         "--annotations");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --steps 0", "--steps");
}

}  // namespace
}  // namespace foil
