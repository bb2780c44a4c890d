// foil audit on an object detector: COCO AP clean, under noise and under TOG-vanishing, written
// as a results folder, with COCO annotations or the clean detections as reference.
#include <gtest/gtest.h>

#include <fstream>

#include "foil/metrics/detection.h"
#include "test_util.h"

namespace foil {
namespace {

/// dog.jpg (768x576): the dog (about x 130-310, y 220-540) and the pickup (x 470-690,
/// y 75-165), as COCO annotates (categories by COCO id).
std::string dog_annotations(const std::string& dir) {
  const nlohmann::json j = {
      {"images", {{{"id", 42}, {"file_name", "dog.jpg"}, {"width", 768}, {"height", 576}}}},
      {"categories", {{{"id", 18}, {"name", "dog"}}, {{"id", 3}, {"name", "car"}}}},
      {"annotations",
       {{{"image_id", 42}, {"category_id", 18}, {"bbox", {130, 220, 180, 320}}},
        {{"image_id", 42}, {"category_id", 3}, {"bbox", {470, 75, 220, 90}}}}}};
  const std::string path = dir + "/instances.json";
  std::ofstream(path) << j.dump();
  return path;
}

TEST(AuditDetectCli, TogVanishingHidesWhatNoiseOfTheSameBudgetLeaves) {
  const std::string dir = test::temp_dir("audit-detect");
  const std::string photo = test::asset("photos/dog.jpg");
  // TOG's own 10 steps at its own budget, 8/255.
  auto r = test::run_foil(
      "audit --model " + test::human_model("centernet") + " --data " + photo +
      " --linf-eps 0.0314 --corruptions fog,gaussian_noise --severities 3 --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("task    detect"), std::string::npos) << r.out;  // found from the model
  const auto j = test::read_json(dir + "/out/audit_detect.json");
  EXPECT_EQ(j["task"], "detect");
  EXPECT_NE(j["reference"].get<std::string>().find("clean detections"), std::string::npos);
  // clean, noise, tog-vanishing, tog-fabrication, two corruptions
  ASSERT_EQ(j["rows"].size(), 6u);
  EXPECT_EQ(j["rows"][4]["row"], "gaussian_noise-s3");  // the corruptions' own order
  EXPECT_EQ(j["rows"][5]["corruption"], "fog");
  EXPECT_EQ(j["rows"][5]["severity"], 3);
  EXPECT_TRUE(j["rows"][5]["eps"].is_null());
  EXPECT_FALSE(std::ifstream(dir + "/out/detections-fog-s3.json").good());  // rows only
  const auto& clean = j["rows"][0];
  const auto& noise = j["rows"][1];
  const auto& tog = j["rows"][2];
  EXPECT_EQ(noise["attack"], "noise");
  EXPECT_EQ(tog["attack"], "tog-vanishing");
  EXPECT_DOUBLE_EQ(clean["ap50"].get<double>(), 1.0);  // its own reference
  EXPECT_GE(clean["found"].get<int>(), 3);             // dog, bicycle, car or truck
  EXPECT_LT(tog["found"].get<int>(), clean["found"].get<int>());
  EXPECT_LT(tog["ap50"].get<double>(), noise["ap50"].get<double>());
  const auto& fabrication = j["rows"][3];
  EXPECT_EQ(fabrication["attack"], "tog-fabrication");
  // Its objects outrank the real ones: AP falls below the noise row's. (How many it adds
  // depends on the decoder: CenterNet's peak picking keeps few of a raised plateau.)
  EXPECT_LT(fabrication["ap50"].get<double>(), noise["ap50"].get<double>());
  for (const char* f : {"audit_detect.csv", "detections.json", "report.html", "run.json",
                        "examples.png", "detections-tog-vanishing-linf-0.0314.json"})
    EXPECT_TRUE(std::ifstream(dir + "/out/" + std::string(f)).good()) << f;
  const auto results = test::read_json(dir + "/out/detections.json");
  ASSERT_TRUE(results.is_array());
  ASSERT_FALSE(results.empty());
  for (const char* key : {"image_id", "category_id", "bbox", "score"})
    EXPECT_TRUE(results[0].contains(key)) << key;

  // With COCO annotations: AP in the file's categories, boxes in the photo's pixels.
  r = test::run_foil("audit --model " + test::human_model("nanodet") + " --data " + photo +
                     " --annotations " + dog_annotations(dir) +
                     " --linf-eps 0.0314 --steps 1 --examples 0 --out " + dir + "/coco");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto a = test::read_json(dir + "/coco/audit_detect.json");
  EXPECT_EQ(a["reference"], dir + "/instances.json");
  EXPECT_EQ(a["reference_objects"], 2);
  EXPECT_GT(a["rows"][0]["ap50"].get<double>(), 0.4);  // the dog at least, at IoU 0.5
  // The dog's box, mapped back to the photo's pixels, is where the photo has it.
  double dog = 0;
  for (const auto& d : test::read_json(dir + "/coco/detections.json"))
    if (d["category_id"] == 18 && d["score"].get<double>() >= 0.3)
      dog = std::max(dog, coco_iou({d["bbox"][0], d["bbox"][1], d["bbox"][2], d["bbox"][3]},
                                   {130, 220, 180, 320}, false));
  EXPECT_GT(dog, 0.6);
  for (const auto& d : test::read_json(dir + "/coco/detections.json"))
    EXPECT_TRUE(d["category_id"] == 18 || d["category_id"] == 3) << d.dump();
}

TEST(AuditDetectCli, BadInputIsOneLine) {
  const std::string dir = test::temp_dir("audit-detect-bad");
  const std::string model = test::human_model("nanodet"), photo = test::asset("photos/dog.jpg");
  test::expect_bad_input("audit --task detect --out " + dir + "/a",
                         "--task detect: expected an object detector");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --task classify",
                         "--task classify: expected the task of --model (detect)");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --thorough",
                         "--thorough: not used by detect");
  test::expect_bad_input("audit --annotations x.json --out " + dir + "/b",
                         "--annotations: not used by classify");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --score-threshold 1.5",
                         "--score-threshold");
  test::expect_bad_input("audit --model " + model + " --out " + dir + "/c", "--data");
  test::expect_bad_input("audit --model " + model + " --data " + photo +
                             " --score-threshold 0.999 --out " + dir + "/e",
                         "--score-threshold: expected objects to score");
  test::expect_bad_input(
      "audit --model " + model + " --data " + photo + " --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5",
      "--mean: not used here");
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --severities 2",
                         "--severities: not used here");
  const std::string other = dir + "/other.json";
  std::ofstream(other)
      << R"({"images":[{"id":1,"file_name":"cat.jpg"}],"categories":[{"id":18,"name":"dog"}],"annotations":[]})";
  test::expect_bad_input("audit --model " + model + " --data " + photo + " --annotations " + other +
                             " --out " + dir + "/d",
                         "none for dog.jpg");
}

}  // namespace
}  // namespace foil
