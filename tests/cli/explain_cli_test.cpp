// foil explain, regions and defend end to end on the trained CNN.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "foil/data/dataset.h"
#include "foil/jobs/job.h"
#include "foil/models/graph_model.h"
#include "foil/patch/trainer.h"
#include "foil/report/figures.h"
#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::read_json;
using test::run_foil;

TEST(CliExplain, OverlaysMapsAndAttackedPanel) {
  const std::string dir = test::temp_dir("cli-explain");
  auto r = run_foil("explain --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:6 --attacked --eps 0.1 --alpha 0.02 --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/explain.json");
  EXPECT_EQ(j["layer"], "pool2");
  EXPECT_EQ(j["images"].size(), 6u);
  EXPECT_TRUE(j.contains("top20_moved_mean"));
  auto grid = read_image(dir + "/overlays.png");
  EXPECT_GT(grid.size(2), 4 * 112);  // four rows: image, map, attacked, map
  EXPECT_TRUE(std::filesystem::exists(dir + "/maps_altered.pt"));
}

TEST(CliExplain, FaithfulnessRanksTheMethodsBesideARandomOrder) {
  const std::string dir = test::temp_dir("cli-explain-faithfulness");
  auto r = run_foil(
      "explain --model " + test::trained_cnn() +
      " --data fashion-mnist:test:4 --faithfulness --methods hirescam,ablationcam,ig,occlusion "
      "--ig-steps 4 --faithfulness-steps 5 --out " +
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = read_json(dir + "/faithfulness.json");
  ASSERT_EQ(j["methods"].size(), 5u);  // the four and the random order
  std::set<std::string> names;
  double last = 1e9;
  for (const auto& m : j["methods"]) {
    names.insert(m["method"].get<std::string>());
    const double score = m["insertion_minus_deletion"].get<double>();
    EXPECT_LE(score, last);  // ranked
    last = score;
  }
  EXPECT_EQ(names, (std::set<std::string>{"hirescam", "ablationcam", "ig", "occlusion", "random"}));
  EXPECT_TRUE(std::filesystem::exists(dir + "/deletion.svg"));
  // The grid: the images, then a row per method (not the random order) with its colour bar.
  const auto grid = read_image(dir + "/methods.png");
  EXPECT_GT(grid.size(2), 5 * 112);  // five rows
  EXPECT_GT(grid.size(3), 4 * 112);  // four images
  // The report's faithfulness section ranks them and shows the curves and the grid inline.
  const std::string page = test::slurp(dir + "/report.html");
  const auto section = page.find("id=\"faithfulness\"");
  ASSERT_NE(section, std::string::npos);
  for (const char* part : {"random order (chance level)", "deletion.svg", "methods.png"})
    EXPECT_NE(page.find(part, section), std::string::npos) << part;
  // Their own --out: concurrent tests would otherwise share the default folder's partial copy.
  const std::string c = "explain --model " + test::trained_cnn() +
                        " --data fashion-mnist:test:2 --out " + dir + "/bad ";
  expect_bad_input(c + "--method lime", "--method");
  expect_bad_input(c + "--method occlusion --window 40", "--window");
  expect_bad_input(c + "--method ig --ig-steps 0", "--ig-steps");
  expect_bad_input(c + "--methods gradcam", "--faithfulness");
  expect_bad_input(c + "--faithfulness --methods gradcam,nope", "--methods:");
  expect_bad_input(c + "--faithfulness --baseline zero", "--baseline");
}

TEST(CliExplain, ReferenceCorrelationIsOneForTheReferenceImageItself) {
  const std::string dir = test::temp_dir("cli-explain-reference");
  // The first test image (an ankle boot) as both the explained image and the reference; a
  // second image gives a correlation that is not 1. (Saliency: this CNN's Grad-CAM map of the
  // first image is all zero, where a correlation is undefined.)
  auto r = run_foil("explain --model " + test::trained_cnn() +
                    " --method saliency --data fashion-mnist:test:2 --class 'Ankle boot' "
                    "--reference fashion-mnist:test:1 --out " +
                    dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/explain.json");
  EXPECT_EQ(j["reference"]["class"], 9);
  EXPECT_NEAR(j["images"][0]["reference_correlation_clean"].get<double>(), 1.0, 1e-6);
  EXPECT_LT(j["images"][1]["reference_correlation_clean"].get<double>(), 0.999);
  EXPECT_TRUE(std::filesystem::exists(dir + "/reference.png"));
  EXPECT_NE(r.out.find("map correlation with the reference"), std::string::npos);
  expect_bad_input("explain --model " + test::trained_cnn() +
                       " --data fashion-mnist:test:2 --reference fashion-mnist:test:1",
                   "--reference: expected --class naming the class it shows");
}

TEST(CliExplain, RegionsWritesStatistics) {
  const std::string dir = test::temp_dir("cli-regions");
  auto r = run_foil("regions --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:100 --eps 0.1 --alpha 0.02 --steps 5 --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/regions.json");
  double pixels = 0;
  for (const auto& [part, v] : j["split"].items()) pixels += v["pixel_share"]["mean"].get<double>();
  EXPECT_NEAR(pixels, 1.0, 1e-9);
  EXPECT_GE(j["iou"]["mean"].get<double>(), 0.0);
  EXPECT_NEAR(j["iou_chance"].get<double>(), 0.1 / 1.9, 1e-12);
  EXPECT_EQ(j["roa_score"], "gradient");
  EXPECT_LT(j["roa_tied_share"]["mean"].get<double>(), 0.01);
  EXPECT_NE(r.out.find("two random 10% regions"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/panels.png"));
  // The importance map's faithfulness beside the chance level, on the first 100 items.
  const auto& f = j["importance_faithfulness"];
  EXPECT_EQ(f["method"], "gradcam");
  EXPECT_EQ(f["n"], 100);
  EXPECT_GT(f["random_insertion_auc"].get<double>(), 0.0);
  EXPECT_NE(r.out.find("importance map gradcam: deletion AUC"), std::string::npos);
}

TEST(CliExplain, DefendLabelsAdaptiveAndNonAdaptive) {
  const std::string dir = test::temp_dir("cli-defend");
  auto r = run_foil("defend --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:100 --eps 0.05 --alpha 0.01 --steps 5 "
                    "--importance layercam --json " +
                    dir + "/d.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("NON-ADAPTIVE"), std::string::npos);
  EXPECT_NE(r.out.find("ADAPTIVE (through the defence"), std::string::npos);
  auto j = read_json(dir + "/d.json");
  EXPECT_EQ(j["defense"]["importance"], "layercam");
  EXPECT_EQ(j["importance_faithfulness"]["method"], "layercam");
  EXPECT_LE(j["robust_accuracy"].get<double>(), j["clean_accuracy"].get<double>());
  EXPECT_LE(j["robust_accuracy_defended_adaptive"].get<double>(),
            j["clean_accuracy_defended"].get<double>());
  EXPECT_NE(j["adaptive_attack"].get<std::string>().find("early_stop=true"), std::string::npos);
}

// Grad-CAM of patched detections: the patch goes on each detected person, as patch train
// placed it.
TEST(CliExplain, APatchOnEachDetectedPersonOfADetector) {
  const std::string dir = test::temp_dir("cli-explain-on-object");
  GraphModel centernet(test::human_model("centernet"));
  const std::string spec = test::kSampleClip + ":every=400";  // 2 frames of a crowded square
  const Dataset data = open_data(spec, centernet);
  int64_t expected = 0;  // a patch on each of the 3 best people (one anywhere when none)
  for (const auto& people : object_boxes_each(centernet, data.images, 0, 3))
    expected += std::max<int64_t>(1, static_cast<int64_t>(people.size()));
  ASSERT_GT(expected, 3);
  const Patch p = Patch::create(PatchOptions().param("free").area(0.005), shape_of(data));
  save_tensor(dir + "/patch.pt", torch::rand(p.params().sizes()));
  std::ofstream(dir + "/patch.json") << R"({"param": "free", "area": 0.005})";
  auto r = run_foil("explain --model " + test::human_model("centernet") + " --data " + spec +
                    " --class person --patch " + dir +
                    "/patch.pt --on-object 0 --objects 3 --out " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = read_json(dir + "/out/explain.json");
  EXPECT_EQ(j["patches_pasted"], expected);
  EXPECT_EQ(j["on_object"]["objects"], 3);
  expect_bad_input("explain --model " + test::trained_cnn() +
                       " --data fashion-mnist:test:2 --on-object 0.5 --out " + dir + "/bad",
                   "--patch");
  expect_bad_input("explain --model " + test::trained_cnn() +
                       " --data fashion-mnist:test:2 --patch " + dir +
                       "/patch.pt --objects 2 --out " + dir + "/bad",
                   "--objects: expected --on-object");
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad"));
}

TEST(CliExplain, BadInput) {
  const std::string m = "--model " + test::trained_cnn() + " --data fashion-mnist:test:4 --out " +
                        test::temp_dir("cli-explain-bad") + "/out";
  expect_bad_input("explain " + m + " --layer conv9", "pool2");  // lists the layers
  expect_bad_input("explain " + m + " --layer logits", "spatial");
  expect_bad_input("explain " + m + " --class 12", "--class");
  expect_bad_input("explain " + m + " --method lime", "--method");
  expect_bad_input("regions " + m + " --q 0", "--q");
  expect_bad_input("regions " + m + " --q 100", "--q");
  expect_bad_input("defend " + m + " --fill inpaint", "--fill");
  expect_bad_input("defend " + m + " --q-vulnerable 120", "--q-vulnerable");
  expect_bad_input("defend " + m + " --adaptive-eot 0", "--adaptive-eot");
  expect_bad_input("regions " + m + " --roa random", "--roa");
  expect_bad_input("attack " + m + " --attack fgm --norm linf", "--norm");
  expect_bad_input("attack " + m + " --restarts 3 --no-random-start", "--restarts");
}

}  // namespace
}  // namespace foil
