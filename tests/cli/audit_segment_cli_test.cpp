// foil audit on a semantic segmenter (MediaPipe selfie): mean IoU clean, under noise and under
// PGD, SegPGD and CosPGD, written as a results folder, with label PNGs or the clean masks as
// reference.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(AuditSegmentCli, AttacksLowerMeanIouMoreThanNoiseOfTheSameBudget) {
  const std::string dir = test::temp_dir("audit-segment");
  const std::string photo = test::asset("photos/astronaut.png");
  auto r = test::run_foil("audit --model " + test::human_model("selfie") + " --data " + photo +
                          " --linf-eps 0.0314 --steps 3 --corruptions fog --severities 3 --out " +
                          dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("task    segment"), std::string::npos) << r.out;  // found from the model
  const auto j = test::read_json(dir + "/out/audit_segment.json");
  EXPECT_EQ(j["task"], "segment");
  EXPECT_EQ(j["reference"], "the model's clean masks");
  EXPECT_EQ(j["classes"], nlohmann::json({"background", "person"}));
  ASSERT_EQ(j["rows"].size(), 6u);  // clean, noise, pgd, segpgd, cospgd, fog
  const auto& clean = j["rows"][0];
  EXPECT_DOUBLE_EQ(clean["miou"].get<double>(), 1.0);  // its own reference
  // The astronaut is a person: a good share of the clean mask is hers.
  EXPECT_GT(clean["per_class"][1]["reference_pixels"].get<double>(),
            0.3 * clean["pixels"].get<double>());
  EXPECT_EQ(clean["pixels"], 512 * 512);  // scored at the photo's own resolution
  const double noise = j["rows"][1]["miou"];
  EXPECT_GT(noise, 0.9);
  for (int k : {2, 3, 4}) {
    EXPECT_EQ(j["rows"][k]["eps"], 0.0314);
    EXPECT_LT(j["rows"][k]["miou"].get<double>(), noise - 0.2) << j["rows"][k]["row"];
  }
  EXPECT_EQ(j["rows"][5]["row"], "fog-s3");
  for (const char* f : {"audit_segment.csv", "report.html", "run.json", "examples.png"})
    EXPECT_TRUE(std::ifstream(dir + "/out/" + std::string(f)).good()) << f;

  // With label PNGs: the upper half of the photo called person, the rest background, the
  // bottom rows not scored.
  const std::string masks = dir + "/masks";
  std::filesystem::create_directories(masks);
  torch::Tensor labels = torch::zeros({1, 512, 512});  // written as label / 255
  labels.slice(1, 0, 256).fill_(1);
  labels.slice(1, 500, 512).fill_(255);
  write_image(masks + "/astronaut.png", labels / 255);
  r = test::run_foil("audit --model " + test::human_model("selfie") + " --data " + photo +
                     " --annotations " + masks +
                     " --linf-eps 0.0314 --steps 1 --examples 0 --out " + dir + "/gt");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = test::read_json(dir + "/gt/audit_segment.json");
  EXPECT_EQ(a["reference"], "label PNGs in " + masks);
  EXPECT_EQ(a["rows"][0]["pixels"], 500 * 512);
  EXPECT_EQ(a["rows"][0]["per_class"][1]["reference_pixels"], 256 * 512);
  EXPECT_LT(a["rows"][0]["miou"].get<double>(), 0.9);  // the model does not agree with it
  EXPECT_FALSE(std::ifstream(dir + "/gt/examples.png").good());
}

TEST(AuditSegmentCli, AnOnnxSegmenterIsAuditedByItsSidecarsClasses) {
  // torchvision's LR-ASPP exported at build time (random weights): 21 VOC classes per pixel.
  const std::string dir = test::temp_dir("audit-segment-onnx");
  const auto r =
      test::run_foil("audit --model " + test::fixture("onnx/lraspp_mobilenet_v3_large.onnx") +
                     " --data " + test::asset("photos/dog.jpg") +
                     " --linf-eps 0.0314 --steps 2 --examples 1 --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/out/audit_segment.json");
  ASSERT_EQ(j["classes"].size(), 21u);
  EXPECT_EQ(j["classes"][15], "person");
  EXPECT_EQ(j["rows"][0]["pixels"], 768 * 576);
  EXPECT_DOUBLE_EQ(j["rows"][0]["pixel_accuracy"].get<double>(), 1.0);
  ASSERT_EQ(j["rows"].size(), 5u);  // clean, noise, pgd, segpgd, cospgd
  EXPECT_EQ(j["rows"][4]["per_class"].size(), 21u);
  EXPECT_TRUE(std::ifstream(dir + "/out/examples.png").good());
}

TEST(AuditSegmentCli, BadInputIsOneLine) {
  const std::string dir = test::temp_dir("audit-segment-bad");
  const std::string model = test::human_model("selfie"), photo = test::asset("photos/dog.jpg");
  test::expect_bad_input("audit --task segment --out " + dir + "/a",
                         "--task segment: expected a semantic segmenter");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --task detect",
                         "--task detect: expected the task of --model (segment)");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --score-threshold 0.5",
                         "--score-threshold");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --annotations " + dir +
                             "/none --out " + dir + "/b",
                         "no such folder");
  std::filesystem::create_directories(dir + "/masks");
  write_image(dir + "/masks/dog.png", torch::zeros({1, 10, 10}));
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --annotations " + dir +
                             "/masks --out " + dir + "/c",
                         "dog.png: expected a mask of the photo's size, 768x576, got 10x10");
  EXPECT_FALSE(std::filesystem::exists(dir + "/c"));
}

}  // namespace
}  // namespace foil
