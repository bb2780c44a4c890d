// foil predict on the other backends: a zoo classifier and the zoo heatmap pose model.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "foil/keypoints/kaa.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(PredictCli, ClassifierTopClassesAgreeWithTheRawOutput) {
  const std::string dir = test::temp_dir("predict-cnn");
  auto r = test::run_foil("predict --model " + test::trained_cnn() +
                          " --data fashion-mnist:test:5 --top 2 --json " + dir + "/p.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/p.json");
  EXPECT_EQ(j["task"], "classifier");
  ASSERT_EQ(j["items"].size(), 5u);
  const auto& raw = j["outputs"]["output"];
  EXPECT_EQ(raw["shape"], (std::vector<int>{5, 10}));
  const auto logits = torch::tensor(raw["data"].get<std::vector<float>>()).view({5, 10});
  const auto prob = torch::softmax(logits, 1);
  for (int64_t i = 0; i < 5; ++i) {
    const auto& top = j["items"][i]["top"];
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0]["class"].get<int64_t>(), logits[i].argmax().item<int64_t>());
    EXPECT_NEAR(top[0]["probability"].get<double>(), prob[i].max().item<double>(), 1e-5);
    EXPECT_GE(top[0]["probability"].get<double>(), top[1]["probability"].get<double>());
  }
  EXPECT_NE(r.out.find(j["items"][0]["top"][0]["name"].get<std::string>()), std::string::npos);
}

TEST(PredictCli, PoseModelKeypointsAreTheHeatmapDecode) {
  const std::string dir = test::temp_dir("predict-pose");
  const std::string model = std::string(FOIL_TEST_MODELS) + "/posenet.foil";
  auto r = test::run_foil("predict --model " + model + " --data pose:test:3 --draw " + dir +
                          " --json " + dir + "/p.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/p.json");
  EXPECT_EQ(j["task"], "keypoints");
  auto m = load_model(model);
  const auto kp = predict_keypoints(*m, load_pose_data("pose:test:3").images);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::filesystem::exists(dir + "/keypoints-" + std::to_string(i) + ".png"));
    const auto& list = j["items"][i]["keypoints"];
    ASSERT_EQ(list.size(), 11u);
    for (int64_t k = 0; k < 11; ++k) {
      EXPECT_NEAR(list[k]["x"].get<double>(), kp[i][k][0].item<double>(), 1e-3);
      EXPECT_NEAR(list[k]["y"].get<double>(), kp[i][k][1].item<double>(), 1e-3);
    }
  }
}

TEST(PredictCli, BadInputs) {
  test::expect_bad_input("predict --model " + test::trained_cnn() + " --data nowhere.png",
                         "nowhere.png");
  test::expect_bad_input(
      "predict --model " + test::trained_cnn() + " --data fashion-mnist:test:2 --top 0", "--top");
  test::expect_bad_input("predict --model " + test::trained_cnn() + " --data " +
                             test::asset("photos/messi5.jpg") + "@500,0,100,100",
                         "crop inside");
}

}  // namespace
}  // namespace foil
