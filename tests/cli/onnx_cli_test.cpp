// foil's own trained Fashion-MNIST CNN through TorchScript -> ONNX (scripts/foil_to_onnx.py):
// every command takes the ONNX file, and it gives the numbers the original model gives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

using test::read_json;
using test::run_foil;

/// A model trained by foil, converted to ONNX by scripts/foil_to_onnx.py.
std::string converted(const std::string& model, const std::string& name) {
  const std::string dir = test::temp_dir("onnx-" + name);
  const std::string out = dir + "/" + name + ".onnx";
  const std::string cmd = std::string(FOIL_PYTHON) + " " + FOIL_SCRIPTS + "/foil_to_onnx.py " +
                          model + " " + out + " > " + dir + "/log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  return out;
}

/// The trained CNN as ONNX, converted once per test process.
const std::string& onnx_cnn() {
  static const std::string path = converted(test::trained_cnn(), "cnn");
  return path;
}

TEST(OnnxCli, TrainedCnnPredictsAsTheOriginal) {
  const std::string dir = test::temp_dir("onnx-predict");
  for (const auto& [name, model] :
       {std::pair{"onnx", onnx_cnn()}, std::pair{"foil", test::trained_cnn()}}) {
    auto r = run_foil("predict --model " + model + " --data fashion-mnist:test:50 --json " + dir +
                      "/" + name + ".json");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const auto a = read_json(dir + "/onnx.json"), b = read_json(dir + "/foil.json");
  EXPECT_EQ(a["backend"], "onnx");
  // Raw outputs by name: the ONNX graph's output is "logits".
  const auto out_a = torch::tensor(a["outputs"]["logits"]["data"].get<std::vector<float>>());
  const auto out_b = torch::tensor(b["outputs"]["output"]["data"].get<std::vector<float>>());
  ASSERT_EQ(out_a.numel(), 500);
  EXPECT_LE((out_a - out_b).abs().max().item<double>(), 1e-4 * out_b.abs().max().item<double>());
  for (size_t i = 0; i < 50; ++i)  // class names come from the sidecar the converter wrote
    EXPECT_EQ(a["items"][i]["top"][0]["name"], b["items"][i]["top"][0]["name"]);
}

TEST(OnnxCli, ReliableEvaluationGivesTheOriginalsRobustAccuracy) {
  const std::string dir = test::temp_dir("onnx-apgd");
  for (const auto& [name, model] :
       {std::pair{"onnx", onnx_cnn()}, std::pair{"foil", test::trained_cnn()}}) {
    auto r = run_foil("attack --model " + model +
                      " --data fashion-mnist:test:100 --attack apgd-ce --eps 0.05 --steps 10 "
                      "--json " +
                      dir + "/" + name + ".json");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const auto a = read_json(dir + "/onnx.json"), b = read_json(dir + "/foil.json");
  EXPECT_EQ(a["clean_accuracy"], b["clean_accuracy"]);
  // Float rounding may flip a step's sign on a flat gradient: at most one image in 100.
  EXPECT_NEAR(a["robust_accuracy"].get<double>(), b["robust_accuracy"].get<double>(), 0.011);
  EXPECT_LT(a["robust_accuracy"].get<double>(), a["clean_accuracy"].get<double>());
}

TEST(OnnxCli, EveryCommandTakesAnOnnxModel) {
  const std::string dir = test::temp_dir("onnx-commands");
  const std::string m = "--model " + onnx_cnn() + " ";
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"audit " + m + "--data fashion-mnist:test:40 --linf-eps 0.05 --l2-eps 1 --steps 5 --out " +
           dir + "/audit",
       dir + "/audit/audit.json"},
      {"explain " + m + "--data fashion-mnist:test:4 --attacked --eps 0.1 --alpha 0.02 --out " +
           dir + "/explain",
       dir + "/explain/explain.json"},
      {"regions " + m + "--data fashion-mnist:test:40 --eps 0.1 --alpha 0.02 --steps 3 --out " +
           dir + "/regions",
       dir + "/regions/regions.json"},
      {"defend " + m + "--data fashion-mnist:test:40 --eps 0.05 --alpha 0.01 --steps 3 --json " +
           dir + "/defend.json",
       dir + "/defend.json"},
      {"patch train " + m + "--data fashion-mnist:train:100 --target 8 --cells 11 --epochs 1 " +
           "--out " + dir + "/patch",
       dir + "/patch/summary.json"},
      {"bench " + m + "--batch 8 --steps 1 --repeats 1 --json " + dir + "/bench.json",
       dir + "/bench.json"}};
  for (const auto& [args, result] : runs) {
    auto r = run_foil(args);
    ASSERT_EQ(r.code, 0) << args << "\n" << r.err;
    EXPECT_TRUE(std::filesystem::exists(result)) << result;
  }
  // Grad-CAM's default layer is the last 4-D feature map: the second pooling's output (the
  // original model's default, "pool2", is the same value).
  EXPECT_EQ(read_json(dir + "/explain/explain.json")["layer"], "/pool2/0/MaxPool_output_0");
}

TEST(OnnxCli, HeatmapKeypointModelGivesTheOriginalsHeatmapsAndIsAttacked) {
  const std::string posenet = std::string(FOIL_TEST_MODELS) + "/posenet.foil";
  const std::string onnx = converted(posenet, "posenet");
  const std::string dir = test::temp_dir("onnx-keypoints");
  for (const auto& [name, model] : {std::pair{"onnx", onnx}, std::pair{"foil", posenet}}) {
    auto r = run_foil("predict --model " + model + " --data pose:test:4 --json " + dir + "/" +
                      name + ".json");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  const auto a = read_json(dir + "/onnx.json"), b = read_json(dir + "/foil.json");
  EXPECT_EQ(a["task"], "keypoints");
  ASSERT_EQ(a["items"].size(), 4u);
  EXPECT_EQ(a["items"][0]["keypoints"].size(), 11u);
  // The heatmaps are the original's. (The keypoints are decoded by each format's rule: the
  // sidecar's "heatmap" decode maps cell centres as EfficientPose does, foil's zoo its own.)
  const auto maps_a = torch::tensor(a["outputs"]["heatmaps"]["data"].get<std::vector<float>>());
  const auto maps_b = torch::tensor(b["outputs"]["output"]["data"].get<std::vector<float>>());
  ASSERT_EQ(maps_a.numel(), 4 * 11 * 16 * 16);
  EXPECT_LE((maps_a - maps_b).abs().max().item<double>(), 1e-4 * maps_b.abs().max().item<double>());
  auto r = run_foil("keypoints attack --model " + onnx +
                    " --data pose:test:4 --eps 0.1 --alpha 0.02 --steps 3 --out " + dir + "/a");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/a/keypoints.json"));
}

TEST(OnnxCli, BadModelsAreOneLineExitTwo) {
  test::expect_bad_input("predict --model " + test::fixture("onnx/bad/unknown_op.onnx") +
                             " --data fashion-mnist:test:2",
                         "operator 'Hardmax'");
  test::expect_bad_input("predict --model " + test::fixture("onnx/bad/inner/outside.onnx") +
                             " --data fashion-mnist:test:2",
                         "leaves the model's folder");
}

}  // namespace
}  // namespace foil
