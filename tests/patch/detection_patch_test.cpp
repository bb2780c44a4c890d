// Patches against detectors: detection rates on a hand-built detector graph whose class
// scores are known in closed form, and vanish/appear objectives that move the class's score.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "../models/tfjs_graph_builder.h"
#include "foil/core/error.h"
#include "foil/jobs/job.h"
#include "foil/models/graph_model.h"
#include "foil/patch/trainer.h"
#include "test_util.h"

namespace foil {
namespace {

/// An 8x8 RGB "detector" with classes red and green: one location whose class logits are
/// 20 * (mean of the channel) - 10, scores their sigmoid, threshold 0.5 (logit 0).
std::string mean_colour_detector_file() {
  const std::string dir = test::temp_dir("tiny-detector");
  test::GraphBuilder g;
  g.input("image", {-1, 8, 8, 3});
  g.ints("axes", {2}, {1, 2});
  g.node("mean", "Mean", {"image", "axes"}, {{"keep_dims", {{"b", true}}}});
  g.constant("kernel", {1, 1, 3, 2}, {20, 0, 0, 20, 0, 0});
  g.constant("bias", {2}, {-10, -10});
  g.node("conv", "Conv2D", {"mean", "kernel"},
         {{"strides", test::attr_ints({1, 1, 1, 1})}, {"padding", test::attr_s("VALID")}});
  g.node("logits", "BiasAdd", {"conv", "bias"});
  g.node("scores", "Sigmoid", {"logits"});
  const std::string path = g.write(dir, "tiny");
  std::ofstream(dir + "/tiny.foil.json")
      << R"({"task": "detection", "class_names": ["red", "green"],
      "class_maps": ["scores"], "outputs": ["scores"], "min_score": 0.5})";
  return path;
}

std::shared_ptr<GraphModel> mean_colour_detector() {
  return std::make_shared<GraphModel>(mean_colour_detector_file());
}

/// Images A (all red), B (black), C (red 0.55 everywhere); labels unused.
Dataset three_images() {
  Dataset d;
  d.images = torch::zeros({3, 3, 8, 8});
  d.images[0][0].fill_(1.0);
  d.images[2][0].fill_(0.55);
  d.labels = torch::zeros({3}, torch::kLong);
  d.class_names = {"red", "green"};
  d.source = "three images";
  return d;
}

/// A 4x4 patch (a quarter of the image) of one colour.
Patch solid_patch(float r, float g, float b) {
  Patch p = Patch::create(PatchOptions().cells(4).area(0.25), ImageShape{3, 8, 8});
  EXPECT_EQ(p.side(), 4);
  p.params() = torch::tensor({r, g, b}).view({3, 1, 1}).expand({3, 4, 4}).clone();
  return p;
}

TEST(DetectionPatch, RatesOnAHandBuiltDetectorAreTheHandComputedOnes) {
  auto model = mean_colour_detector();
  const Dataset data = three_images();
  // Clean red logits: A 10, B -10, C 1 -> detected A and C. With a black quarter: A 5, B -10,
  // C -1.75 -> C hidden. With a red quarter: A 10, B -5, C 3.25 -> nothing changes.
  const auto black = evaluate_detection_patch(*model, data, solid_patch(0, 0, 0), {}, 0, 0.5, 4, 1);
  EXPECT_EQ(black.n, 3);
  EXPECT_EQ(black.repeats, 4);
  EXPECT_DOUBLE_EQ(black.clean_detection_rate, 2.0 / 3);
  EXPECT_DOUBLE_EQ(black.patched_detection_rate, 1.0 / 3);
  EXPECT_DOUBLE_EQ(black.hidden_rate, 0.5);
  EXPECT_DOUBLE_EQ(black.appeared_rate, 0.0);
  const auto red = evaluate_detection_patch(*model, data, solid_patch(1, 0, 0), {}, 0, 0.5, 4, 1);
  EXPECT_DOUBLE_EQ(red.patched_detection_rate, 2.0 / 3);
  EXPECT_DOUBLE_EQ(red.hidden_rate, 0.0);
  // Green: nothing is green clean; a green quarter gives logit -5: still not detected.
  const auto green = evaluate_detection_patch(*model, data, solid_patch(0, 1, 0), {}, 1, 0.5, 2, 1);
  EXPECT_DOUBLE_EQ(green.clean_detection_rate, 0.0);
  EXPECT_DOUBLE_EQ(green.patched_detection_rate, 0.0);
  EXPECT_DOUBLE_EQ(green.hidden_rate, -1.0);  // nothing detected clean: undefined
  // Any class (-1): red counts.
  const auto any = evaluate_detection_patch(*model, data, solid_patch(0, 0, 0), {}, -1, 0.5, 1, 1);
  EXPECT_DOUBLE_EQ(any.clean_detection_rate, 2.0 / 3);
  // This detector has no box decoder: no boxes to count, the box rates undefined.
  EXPECT_EQ(any.clean_boxes, 0);
  EXPECT_DOUBLE_EQ(any.box_recall, -1.0);
  EXPECT_DOUBLE_EQ(any.under_patch_recall, -1.0);
}

Detection box(int64_t cls, float x1, float y1, float x2, float y2) {
  return {cls, "", 0.9f, x1, y1, x2, y2};
}

TEST(DetectionPatch, BoxesAreKeptByAnOverlapOfHalfAndCountedUnderThePatch) {
  EXPECT_DOUBLE_EQ(box_iou(box(0, 0, 0, 10, 10), box(0, 5, 0, 15, 10)), 50.0 / 150);
  EXPECT_DOUBLE_EQ(box_iou(box(0, 0, 0, 10, 10), box(0, 10, 0, 20, 10)), 0.0);  // touching
  const std::vector<Detection> clean = {box(0, 0, 0, 10, 10), box(0, 20, 20, 30, 30),
                                        box(0, 50, 50, 60, 60), box(1, 0, 0, 10, 10)};
  // Found again: the first (IoU 0.81) and the third (same box); the second moved too far
  // (IoU 1/3); a class-1 box where the first was does not keep a class-0 box.
  const std::vector<Detection> patched = {box(0, 1, 1, 10, 10), box(0, 25, 20, 35, 30),
                                          box(0, 50, 50, 60, 60), box(1, 0, 0, 10, 10)};
  const Detection patch = box(-1, 18, 18, 26, 26);  // over the second box only
  const KeptBoxes k = count_kept_boxes(clean, patched, {patch}, 0);
  EXPECT_EQ(k.clean, 3);
  EXPECT_EQ(k.kept, 2);
  EXPECT_EQ(k.under, 1);
  EXPECT_EQ(k.under_kept, 0);
  const KeptBoxes all = count_kept_boxes(clean, {}, {patch}, -1);  // every class; all hidden
  EXPECT_EQ(all.clean, 4);
  EXPECT_EQ(all.kept, 0);
  // Two patches: the second over the third box, which is kept.
  const KeptBoxes two = count_kept_boxes(clean, patched, {patch, box(-1, 52, 52, 58, 58)}, 0);
  EXPECT_EQ(two.under, 2);
  EXPECT_EQ(two.under_kept, 1);
}

// On a real detector, the counts agree with its own clean detections.
TEST(DetectionPatch, CenterNetCountsThePeopleOfEachFrame) {
  auto model = std::make_shared<GraphModel>(test::human_model("centernet"));
  const Dataset data = open_data(test::kSampleClip + ":every=300", *model);  // 3 frames
  size_t people = 0;
  for (const auto& found : model->detect(data.images, -1))
    for (const auto& d : found) people += d.cls == 0;
  ASSERT_GT(people, 6u);  // a crowded square
  Patch tiny = Patch::create(PatchOptions().area(0.001).cells(1), shape_of(data));
  tiny.params().fill_(0.5);
  const auto e = evaluate_detection_patch(*model, data, tiny, {}, 0, model->meta().min_score, 2, 1);
  EXPECT_EQ(e.clean_boxes, static_cast<int64_t>(people));
  EXPECT_GE(e.box_recall, 0.8);  // a 16-pixel grey square hides few of them
  EXPECT_LE(e.box_recall, 1.0);
  EXPECT_LE(e.boxes_under_patch, 2 * e.clean_boxes);
  // A patch on each of the 4 best people covers more of them than one on the best.
  const auto each = object_boxes_each(*model, data.images, 0, 4);
  const auto best = object_boxes(*model, data.images, 0);
  for (size_t i = 0; i < each.size(); ++i) {
    ASSERT_FALSE(each[i].empty());
    EXPECT_LE(each[i].size(), 4u);
    EXPECT_EQ(each[i][0].x1, best[i].x1);
  }
  const auto one = evaluate_detection_patch(*model, data, tiny, PlacementOptions().on_object(0), 0,
                                            model->meta().min_score, 1, 1);
  const auto four =
      evaluate_detection_patch(*model, data, tiny, PlacementOptions().on_object(0).objects(4), 0,
                               model->meta().min_score, 1, 1);
  EXPECT_EQ(four.clean_boxes, one.clean_boxes);
  EXPECT_GE(one.boxes_under_patch, 3);  // each frame's best person
  EXPECT_GE(four.boxes_under_patch, one.boxes_under_patch + 6);
}

/// The class's mean best score over `data` with `patch` placed at random (seed fixed).
double mean_score(Model& model, const Dataset& data, const Patch& patch, int64_t cls) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto places = sample_placements(patch, data.size(), {3, 8, 8}, {}, gen);
  const auto x = apply_patch(data.images, patch.render(), patch.mask(), places, {});
  return torch::sigmoid(model.forward(x).select(1, cls)).mean().item<double>();
}

TEST(DetectionPatch, VanishLowersTheClassScoreAndAppearRaisesIt) {
  auto model = mean_colour_detector();
  Dataset data = three_images();
  data.images[1][1].fill_(0.45);  // B a little green: green logit -1
  const auto options = PatchTrainOptions().epochs(20).batch(3).lr(0.1);
  const Patch grey = Patch::create(PatchOptions().cells(4).area(0.25), ImageShape{3, 8, 8});
  const auto vanish =
      train_patch({model}, data, grey, ObjectiveOptions().loss("vanish").target(0), {}, options);
  EXPECT_LT(mean_score(*model, data, vanish.patch, 0), mean_score(*model, data, grey, 0) - 0.05);
  EXPECT_LT(vanish.patch.params()[0].mean().item<double>(), 0.1);  // the patch turned un-red
  const auto appear =
      train_patch({model}, data, grey, ObjectiveOptions().loss("appear").target(1), {}, options);
  EXPECT_GT(mean_score(*model, data, appear.patch, 1), mean_score(*model, data, grey, 1) + 0.05);
  EXPECT_GT(appear.patch.params()[1].mean().item<double>(), 0.9);  // and green
}

TEST(DetectionPatch, CommandLineTrainsAndEvaluatesOnARealDetector) {
  const std::string dir = test::temp_dir("detect-patch");
  const std::string common = " --task detect --class dog --model " +
                             test::human_model("centernet") + " --data " +
                             test::asset("photos/dog.jpg");
  auto t = test::run_foil("patch train" + common +
                          " --eval-on-train --epochs 2 --batch 1 --area 0.1 --out " + dir + "/p");
  ASSERT_EQ(t.code, 0) << t.err;
  EXPECT_NE(t.out.find("vanish loss, class dog"), std::string::npos) << t.out;
  const auto summary = test::read_json(dir + "/p/summary.json");
  EXPECT_EQ(summary["evaluation"][0]["clean_detection_rate"], 1.0);  // CenterNet sees the dog
  EXPECT_TRUE(std::filesystem::exists(dir + "/p/patched.png"));
  // Evaluated on CenterNet (512x512) and NanoDet (416x416): each at its own input size.
  auto e = test::run_foil("patch eval" + common + " --model " + test::human_model("nanodet") +
                          " --patch " + dir + "/p/patch.pt --repeats 2 --on-object 0.5 --json " +
                          dir + "/eval.json --draw " + dir + "/boxes.png");
  ASSERT_EQ(e.code, 0) << e.err;
  const auto j = test::read_json(dir + "/eval.json");
  EXPECT_EQ(j["class"], "dog");
  EXPECT_EQ(j["placement"]["on_object"], 0.5);
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["repeats"], 2);
  EXPECT_EQ(j["models"][1]["clean_detection_rate"], 1.0);  // NanoDet sees the dog too
  EXPECT_TRUE(j["models"][0]["patched_detection_rate"].is_number());
  EXPECT_TRUE(std::filesystem::exists(dir + "/boxes.png"));
}

TEST(DetectionPatch, ObjectBoxesAreTheDetectorsBestBoxOfTheClass) {
  GraphModel centernet(test::human_model("centernet"));
  const Dataset data = load_data(test::asset("photos/dog.jpg"), centernet.info().input);
  const auto found = centernet.detect(data.images).front();
  ASSERT_FALSE(found.empty());
  const auto dog = object_boxes(centernet, data.images, 16);  // COCO 16: dog
  ASSERT_EQ(dog.size(), 1u);
  ASSERT_FALSE(dog[0].empty());
  bool matched = false;  // it is one of the detector's own boxes of a dog, the best one
  for (const auto& d : found)
    if (d.cls == 16) {
      matched = d.x1 == dog[0].x1 && d.y1 == dog[0].y1 && d.x2 == dog[0].x2 && d.y2 == dog[0].y2;
      break;
    }
  EXPECT_TRUE(matched);
  const auto any = object_boxes(centernet, data.images, -1);
  EXPECT_EQ(any[0].x1, found[0].x1);
  EXPECT_TRUE(object_boxes(centernet, data.images, 11)[0].empty());  // no stop sign
  GraphModel emotion(test::human_model("emotion"));
  EXPECT_THROW(object_boxes(emotion, torch::zeros({1, 1, 64, 64}), 0), InputError);
}

TEST(DetectionPatch, TransferMatrixOfDetectionRates) {
  const std::string dir = test::temp_dir("detect-transfer");
  const std::string model = mean_colour_detector_file();
  std::filesystem::create_directories(dir + "/photos/red");
  for (const char* f : {"dog.jpg", "person.jpg", "horses.jpg", "messi5.jpg", "astronaut.png"})
    std::filesystem::create_symlink(test::asset(std::string("photos/") + f),
                                    dir + "/photos/red/" + f);
  auto r =
      test::run_foil("patch transfer --task detect --class red --losses vanish,appear --model " +
                     model + " --model " + model + " --data " + dir +
                     "/photos --eval-on-train --epochs 2 --batch 5 --cells 2 --area 0.25 " +
                     "--out " + dir + "/t");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/t/transfer.json");
  EXPECT_EQ(j["metric"], "patched_detection_rate");
  for (const char* loss : {"vanish", "appear"}) {
    const auto& m = j["matrices"][loss]["patched_detection_rate"];
    ASSERT_EQ(m.size(), 2u) << loss;
    // Two copies of one detector: a patch does on the other exactly what it does on its own.
    EXPECT_EQ(m[0][0], m[0][1]) << loss;
    EXPECT_EQ(m[1][1], m[1][0]) << loss;
  }
  EXPECT_TRUE(j["clean_detection_rate"].is_object());
  // Beside the cells: a random patch of the same form at the same placements, per model.
  ASSERT_TRUE(j["random_patch"].is_object());
  for (const auto& [name, rate] : j["random_patch"].items()) {
    EXPECT_GE(rate.get<double>(), 0.0) << name;
    EXPECT_LE(rate.get<double>(), 1.0) << name;
  }
  EXPECT_NE(r.out.find("a random patch of the same form"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir + "/t/transfer-appear.png"));
}

TEST(DetectionPatch, BadInputIsOneLine) {
  const std::string photo = " --data " + test::asset("photos/dog.jpg") + " --eval-on-train";
  test::expect_bad_input(
      "patch train --task detect --class dog --model " + test::human_model("emotion") + photo,
      "--task detect: expected object detectors");
  test::expect_bad_input(
      "patch train --task detect --class unicorn --model " + test::human_model("centernet") + photo,
      "--class: expected a class of the detector (person, bicycle");
  test::expect_bad_input("patch train --task detect --class all --loss appear --model " +
                             test::human_model("centernet") + photo,
                         "one class for --loss appear");
  test::expect_bad_input("patch train --loss vanish --model " + test::human_model("emotion") +
                             " --data " + test::astronaut_face() + " --eval-on-train",
                         "--loss vanish: expected --task detect");
  test::expect_bad_input("patch train --on-object 0.5 --model " + test::human_model("emotion") +
                             " --data " + test::astronaut_face() + " --eval-on-train",
                         "--on-object: expected --task detect");
}

}  // namespace
}  // namespace foil
