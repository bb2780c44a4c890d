// TensorFlow.js models through the CLI: the demonstrations (MoveNet on real photos, the
// emotion classifier under FGSM/PGD with Grad-CAM) and bad model files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace foil {
namespace {

namespace fs = std::filesystem;
using test::run_foil;

std::string q(const std::string& s) { return "'" + s + "'"; }

double keypoint(const nlohmann::json& kps, const std::string& name, const char* axis) {
  for (const auto& k : kps)
    if (k["name"] == name) return k[axis].get<double>();
  ADD_FAILURE() << "no keypoint " << name;
  return 0;
}

class MoveNetPhoto : public ::testing::TestWithParam<std::string> {};

TEST_P(MoveNetPhoto, PredictDrawsAPlausibleSkeleton) {
  const std::string dir = test::temp_dir("movenet");
  auto r = run_foil("predict --model " + q(test::human_model("movenet-lightning")) + " --data " +
                    q(test::asset("photos/" + GetParam())) + " --draw " + dir + " --json " + dir +
                    "/pred.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::file_size(dir + "/keypoints-0.png") > 1000);
  const auto j = test::read_json(dir + "/pred.json");
  EXPECT_EQ(j["task"], "keypoints");
  const auto& kps = j["items"][0]["keypoints"];
  ASSERT_EQ(kps.size(), 17u);
  double score = 0;
  for (const auto& k : kps) score += k["score"].get<double>() / 17;
  EXPECT_GT(score, 0.3);  // a person is found (the photos show one clearly)
  // Head above shoulders above hips above ankles (y grows downwards).
  const double nose = keypoint(kps, "nose", "y"), shoulder = keypoint(kps, "left_shoulder", "y"),
               hip = keypoint(kps, "left_hip", "y"), ankle = keypoint(kps, "left_ankle", "y");
  EXPECT_LT(nose, shoulder);
  EXPECT_LT(shoulder, hip);
  EXPECT_LT(hip, ankle);
  // The raw output tensor is in the JSON too.
  EXPECT_EQ(j["outputs"]["Identity:0"]["shape"], (std::vector<int>{1, 1, 17, 3}));
}

INSTANTIATE_TEST_SUITE_P(Photos, MoveNetPhoto, ::testing::Values("messi5.jpg", "basketball1.png"),
                         [](const auto& info) {
                           return info.param.substr(0, info.param.find('.'));
                         });

TEST(TfjsCli, EmotionClassifierUnderFgsmPgdWithGradCam) {
  const std::string dir = test::temp_dir("emotion");
  const std::string model = q(test::human_model("emotion")), face = q(test::astronaut_face());
  auto r = run_foil("predict --model " + model + " --data " + face + " --json " + dir + "/p.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::read_json(dir + "/p.json")["items"][0]["top"][0]["name"], "happy") << r.out;

  for (const std::string attack : {"fgsm --eps 0.03", "pgd --eps 0.01 --alpha 0.0025 --steps 10"}) {
    r = run_foil("attack --model " + model + " --data " + face + " --attack " + attack +
                 " --json " + dir + "/a.json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = test::read_json(dir + "/a.json");
    EXPECT_EQ(j["clean_accuracy"], 1.0) << attack;
    EXPECT_EQ(j["attack_success_rate"], 1.0) << attack;
  }
  r = run_foil("explain --model " + model + " --data " + face +
               " --attacked --eps 0.01 --alpha 0.0025 --out " + dir + "/explain");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::file_size(dir + "/explain/overlays.png") > 1000);
  EXPECT_NE(r.out.find("gradcam on layer"), std::string::npos) << r.out;
}

TEST(TfjsCli, KeypointAttackOnMoveNetMovesThePose) {
  const std::string dir = test::temp_dir("movenet-kaa");
  auto r = run_foil("keypoints attack --model " + q(test::human_model("movenet-lightning")) +
                    " --data " + q(test::asset("photos/messi5.jpg")) +
                    " --eps 0.03 --alpha 0.006 --steps 10 --mask none --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/keypoints.json");
  EXPECT_GT(j["pose_rmse"].get<double>(), 4.0);  // the decoded pose moved by more than tau
  // MoveNet's keypoints are COCO's 17: COCO's OKS of the attacked pose to the clean one.
  EXPECT_GT(j["oks"].get<double>(), 0.0);
  EXPECT_LT(j["oks"].get<double>(), 1.0);
  EXPECT_TRUE(j["pck_0.1"].is_number());
  EXPECT_TRUE(fs::exists(dir + "/keypoints.png"));
}

TEST(TfjsCli, PatchTrainsOnAGraphModel) {
  const std::string dir = test::temp_dir("tfjs-patch");
  auto r = run_foil("patch train --model " + q(test::human_model("emotion")) + " --data " +
                    q(test::astronaut_face()) +
                    " --epochs 2 --batch 1 --area 0.1 --eval-on-train --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // One photo: nothing to hold out, and the output says the numbers are on training data.
  EXPECT_NE(r.out.find("NOT held out"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("take the model's prediction"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(dir + "/patch.pt"));
}

/// A copy of the emotion model in a fresh folder, for breaking.
std::string emotion_copy(const std::string& name) {
  const std::string dir = test::temp_dir(name);
  fs::copy(test::human_model("emotion"), dir + "/emotion.json");
  fs::copy(test::asset("human/models/emotion.bin"), dir + "/emotion.bin");
  return dir;
}

void edit_json(const std::string& path, const std::function<void(nlohmann::json&)>& edit) {
  auto j = test::read_json(path);
  edit(j);
  std::ofstream(path) << j.dump();
}

TEST(TfjsCli, BadModelFilesAreOneLineErrors) {
  const std::string face = " --data " + q(test::astronaut_face());
  {
    const std::string dir = emotion_copy("no-shard");
    fs::remove(dir + "/emotion.bin");
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face,
                           "emotion.bin is missing");
  }
  {
    const std::string dir = emotion_copy("truncated");
    fs::resize_file(dir + "/emotion.bin", fs::file_size(dir + "/emotion.bin") / 2);
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face, "truncated");
  }
  {
    const std::string dir = emotion_copy("sizes");
    edit_json(dir + "/emotion.json", [](nlohmann::json& j) {
      j["weightsManifest"][0]["weights"][0]["shape"][0] = 5;  // 3x3 kernel -> 5x3
    });
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face, "the manifest");
  }
  {
    const std::string dir = emotion_copy("not-graph");
    std::ofstream(dir + "/emotion.json")
        << R"({"modelTopology": {"nodes": []}, "weightsManifest": []})";
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face,
                           "not a TensorFlow.js model (expected modelTopology.node");
    std::ofstream(dir + "/emotion.json") << R"({"modelTopology": {"class_name": "Sequential"}})";
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face, "no weightsManifest");
    std::ofstream(dir + "/emotion.json")
        << R"({"modelTopology": {"class_name": "Sequential"}, "weightsManifest": []})";
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face,
                           "a Sequential model without layers");
  }
  {
    const std::string dir = emotion_copy("op");
    edit_json(dir + "/emotion.json", [](nlohmann::json& j) {
      for (auto& n : j["modelTopology"]["node"])
        if (n["op"] == "Relu") n["op"] = "Erfinv";
    });
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face, "'Erfinv'");
  }
  {
    const std::string dir = emotion_copy("types");
    edit_json(dir + "/emotion.json",
              [](nlohmann::json& j) { j["modelTopology"]["node"][3]["input"] = 7; });
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face,
                           "modelTopology.node[3]");
  }
  {
    const std::string dir = emotion_copy("json");
    std::ofstream(dir + "/emotion.json") << "{\"modelTopology\": ";
    test::expect_bad_input("predict --model " + dir + "/emotion.json" + face, "not valid JSON");
  }
  // A MoveNet (keypoints, not class scores) where a classifier is needed.
  test::expect_bad_input("attack --model " + q(test::human_model("movenet-lightning")) +
                             " --data " + q(test::asset("photos/messi5.jpg")),
                         "class scores");
}

}  // namespace
}  // namespace foil
