// COCO box AP (foil/metrics/detection.h) on hand-made boxes, each value worked out by hand
// from COCOeval's definition (matching, 101 recall points, category and area rules).
#include "foil/metrics/detection.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "foil/core/error.h"
#include "test_util.h"

namespace foil {
namespace {

/// Ground truth of `images` images and categories 1 and 2 ("person", "dog").
DetectionGroundTruth truth(int images, std::vector<GroundTruthBox> objects) {
  DetectionGroundTruth gt;
  for (int i = 0; i < images; ++i) {
    gt.image_ids.push_back(i);
    gt.file_names.push_back("");
  }
  gt.category_ids = {1, 2};
  gt.category_names = {"person", "dog"};
  gt.objects = std::move(objects);
  return gt;
}

GroundTruthBox object(int64_t image, int64_t cat, CocoBox b, bool crowd = false) {
  return {image, cat, b, -1, crowd};
}

ScoredBox det(int64_t image, int64_t cat, CocoBox b, double score) {
  return {image, cat, b, score};
}

TEST(CocoAp, PerfectDetectionsScoreOne) {
  const auto gt = truth(2, {object(0, 1, {10, 10, 50, 80}), object(1, 1, {0, 0, 200, 150})});
  const auto m =
      evaluate_detections(gt, {det(0, 1, {10, 10, 50, 80}, 0.9), det(1, 1, {0, 0, 200, 150}, 0.8)});
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_DOUBLE_EQ(m.ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.ap75, 1.0);
  EXPECT_DOUBLE_EQ(m.ar100, 1.0);
  EXPECT_DOUBLE_EQ(m.ar1, 1.0);
  // 50x80 = 4000 is medium, 200x150 large; no small object: undefined.
  EXPECT_DOUBLE_EQ(m.ap_medium, 1.0);
  EXPECT_DOUBLE_EQ(m.ap_large, 1.0);
  EXPECT_EQ(m.ap_small, -1);
  ASSERT_EQ(m.per_category.size(), 2u);
  EXPECT_EQ(m.per_category[0].objects, 2);
  EXPECT_EQ(m.per_category[1].ap, -1);  // dog: no ground truth, left out
}

TEST(CocoAp, AFalsePositiveAtRankTwo) {
  // TP (0.9), FP (0.8), TP (0.7) over 2 objects: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1;
  // made monotone 1, 2/3, 2/3. Recall points 0..0.50 (51) read 1, 0.51..1 (50) read 2/3.
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40}), object(0, 1, {100, 100, 40, 40})});
  const auto m =
      evaluate_detections(gt, {det(0, 1, {0, 0, 40, 40}, 0.9), det(0, 1, {300, 300, 40, 40}, 0.8),
                               det(0, 1, {100, 100, 40, 40}, 0.7)});
  const double expected = (51 * 1.0 + 50 * (2.0 / 3)) / 101;
  EXPECT_NEAR(m.ap, expected, 1e-12);
  EXPECT_NEAR(m.ap50, expected, 1e-12);
  EXPECT_DOUBLE_EQ(m.ar100, 1.0);
  EXPECT_DOUBLE_EQ(m.ar1, 0.5);  // one detection per image finds one object of two
}

TEST(CocoAp, ADuplicateAfterFullRecallCostsNothing) {
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40})});
  const auto m =
      evaluate_detections(gt, {det(0, 1, {0, 0, 40, 40}, 0.9), det(0, 1, {0, 0, 40, 40}, 0.8)});
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  // A false positive ranked above the hit halves precision at every recall point.
  const auto worse =
      evaluate_detections(gt, {det(0, 1, {0, 0, 40, 40}, 0.7), det(0, 1, {60, 60, 40, 40}, 0.8)});
  EXPECT_NEAR(worse.ap, 0.5, 1e-12);  // precision 1/2 at every recall point
}

TEST(CocoAp, IouThresholdsCountTheOverlap) {
  // IoU 62/100 = 0.62: a match at 0.50, 0.55 and 0.60, not from 0.65 on: AP 3/10.
  const auto gt = truth(1, {object(0, 1, {0, 0, 10, 10})});
  const auto m = evaluate_detections(gt, {det(0, 1, {0, 0, 10, 6.2}, 0.9)});
  EXPECT_NEAR(m.ap, 0.3, 1e-12);
  EXPECT_DOUBLE_EQ(m.ap50, 1.0);
  EXPECT_DOUBLE_EQ(m.ap75, 0.0);
  EXPECT_NEAR(coco_iou({0, 0, 10, 6.2}, {0, 0, 10, 10}, false), 0.62, 1e-12);
}

TEST(CocoAp, ThresholdsAreNumpysLinspaceToTheLastBit) {
  // IoU 17/20 = 0.85 exactly: numpy's linspace(.5, .95, 10) has 0.85 as its eighth threshold,
  // so the detection matches at 8 of 10 (0.5 + 7 * 0.45 / 9 would be a bit above 0.85).
  const auto gt = truth(1, {object(0, 1, {0, 0, 20, 1})});
  EXPECT_NEAR(evaluate_detections(gt, {det(0, 1, {0, 0, 17, 1}, 0.9)}).ap, 0.8, 1e-12);
}

TEST(CocoAp, AClassWithoutGroundTruthIsLeftOutWithItsDetections) {
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40})});
  const auto m =
      evaluate_detections(gt, {det(0, 1, {0, 0, 40, 40}, 0.5), det(0, 2, {0, 0, 40, 40}, 0.99)});
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  // A class with objects and no detection scores 0 and halves the mean.
  const auto two = truth(1, {object(0, 1, {0, 0, 40, 40}), object(0, 2, {50, 50, 40, 40})});
  EXPECT_DOUBLE_EQ(evaluate_detections(two, {det(0, 1, {0, 0, 40, 40}, 0.5)}).ap, 0.5);
}

TEST(CocoAp, CrowdBoxesAbsorbDetectionsWithoutCounting) {
  // A crowd box matches any number of detections inside it (IoU over the detection's area),
  // which count neither as hits nor as false positives.
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40}), object(0, 1, {100, 0, 100, 100}, true)});
  const auto m =
      evaluate_detections(gt, {det(0, 1, {110, 10, 20, 20}, 0.95),
                               det(0, 1, {150, 50, 20, 20}, 0.9), det(0, 1, {0, 0, 40, 40}, 0.5)});
  EXPECT_DOUBLE_EQ(m.ap, 1.0);
  EXPECT_EQ(m.per_category[0].objects, 1);
  EXPECT_NEAR(coco_iou({110, 10, 20, 20}, {100, 0, 100, 100}, true), 1.0, 1e-12);
}

TEST(CocoAp, OnlyTheBestHundredDetectionsPerImageCount) {
  std::vector<ScoredBox> dets;
  for (int i = 0; i < 100; ++i) dets.push_back(det(0, 1, {500.0 + i, 500, 5, 5}, 0.9));
  dets.push_back(det(0, 1, {0, 0, 40, 40}, 0.1));  // the hit, ranked 101st
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40})});
  EXPECT_DOUBLE_EQ(evaluate_detections(gt, dets).ap, 0.0);
  DetectionEvalOptions more;
  more.max_detections = 101;
  EXPECT_THROW(evaluate_detections(gt, dets, DetectionEvalOptions{{}, 5}), InputError);
  EXPECT_NEAR(evaluate_detections(gt, dets, more).ap, 1.0 / 101, 1e-12);  // precision 1/101
}

TEST(CocoAp, DetectionsOfUnknownImagesOrCategoriesAreRefused) {
  const auto gt = truth(1, {object(0, 1, {0, 0, 40, 40})});
  EXPECT_THROW(evaluate_detections(gt, {det(7, 1, {0, 0, 4, 4}, 0.5)}), InputError);
  EXPECT_THROW(evaluate_detections(gt, {det(0, 9, {0, 0, 4, 4}, 0.5)}), InputError);
}

TEST(CocoAp, ResultsAreCocoResultsFormat) {
  const auto j = coco_results_json({det(3, 1, {1.5, 2, 10, 20}, 0.75)});
  ASSERT_TRUE(j.is_array());
  EXPECT_EQ(j[0]["image_id"], 3);
  EXPECT_EQ(j[0]["category_id"], 1);
  EXPECT_EQ(j[0]["bbox"], nlohmann::json({1.5, 2, 10, 20}));
  EXPECT_EQ(j[0]["score"], 0.75);
}

TEST(CocoAp, MatchesAnIndependentReferenceOnRandomCases) {
  // scripts/coco_ap_reference.py computes AP from COCO's definition in numpy; random cases
  // with crowds, areas unlike w*h, integer boxes (IoU ties) and tied scores.
  std::mt19937 rng(11);
  const auto u = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::string dir = test::temp_dir("coco-reference");
  for (int c = 0; c < 12; ++c) {
    DetectionGroundTruth gt = truth(3, {});
    std::vector<ScoredBox> dets;
    nlohmann::json annotations = nlohmann::json::array(), results;
    for (int k = u(2, 12); k > 0; --k) {
      GroundTruthBox g =
          object(u(0, 2), u(1, 2),
                 {double(u(0, 150)), double(u(0, 150)), double(u(4, 120)), double(u(4, 120))},
                 u(0, 9) == 0);
      if (u(0, 3) == 0) g.area = u(100, 12000);
      gt.objects.push_back(g);
      nlohmann::json a = {{"id", annotations.size() + 1},
                          {"image_id", g.image_id},
                          {"category_id", g.category_id},
                          {"bbox", {g.box.x, g.box.y, g.box.w, g.box.h}},
                          {"iscrowd", g.crowd ? 1 : 0}};
      if (g.area >= 0) a["area"] = g.area;
      annotations.push_back(a);
    }
    for (int k = u(0, 40); k > 0; --k) {
      const auto& near = gt.objects[static_cast<size_t>(u(0, int(gt.objects.size()) - 1))];
      CocoBox b = near.box;
      b.x += u(-10, 10), b.y += u(-10, 10), b.w = std::max(2.0, b.w + u(-15, 15));
      dets.push_back(det(u(0, 1) ? near.image_id : u(0, 2), u(1, 2), b, u(1, 20) / 20.0));
    }
    const nlohmann::json file = {
        {"images", {{{"id", 0}}, {{"id", 1}}, {{"id", 2}}}},
        {"categories", {{{"id", 1}, {"name", "person"}}, {{"id", 2}, {"name", "dog"}}}},
        {"annotations", annotations}};
    std::ofstream(dir + "/gt.json") << file.dump();
    std::ofstream(dir + "/dt.json") << coco_results_json(dets).dump();
    const std::string cmd = std::string(FOIL_PYTHON) + " " + FOIL_SCRIPTS +
                            "/coco_ap_reference.py " + dir + "/gt.json " + dir + "/dt.json > " +
                            dir + "/ref.json";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    const auto ref = test::read_json(dir + "/ref.json");
    const auto got = evaluate_detections(gt, dets).to_json();
    for (const char* key :
         {"ap", "ap50", "ap75", "ap_small", "ap_medium", "ap_large", "ar1", "ar10", "ar100"}) {
      const double mine = got[key].is_null() ? -1 : got[key].get<double>();
      EXPECT_NEAR(mine, ref[key].get<double>(), 1e-12) << "case " << c << " " << key;
    }
  }
}

std::string write_coco(const std::string& name, const nlohmann::json& j) {
  const std::string path = test::temp_dir("coco") + "/" + name;
  std::ofstream(path) << j.dump();
  return path;
}

nlohmann::json coco_file(nlohmann::json annotation) {
  return {{"images", {{{"id", 1}, {"file_name", "dog.jpg"}, {"width", 100}, {"height", 80}}}},
          {"categories", {{{"id", 18}, {"name", "dog"}}}},
          {"annotations", {annotation}}};
}

TEST(CocoAnnotations, ReadsImagesCategoriesAndBoxes) {
  const auto gt = read_coco_annotations(write_coco("ok.json", coco_file({{"image_id", 1},
                                                                         {"category_id", 18},
                                                                         {"bbox", {10, 10, 30, 20}},
                                                                         {"area", 450},
                                                                         {"iscrowd", 0}})));
  ASSERT_EQ(gt.objects.size(), 1u);
  EXPECT_EQ(gt.image_ids, std::vector<int64_t>{1});
  EXPECT_EQ(gt.file_names, std::vector<std::string>{"dog.jpg"});
  EXPECT_EQ(gt.category_names, std::vector<std::string>{"dog"});
  EXPECT_DOUBLE_EQ(gt.objects[0].area, 450);
  EXPECT_DOUBLE_EQ(gt.objects[0].box.w, 30);
}

TEST(CocoAnnotations, BadEntriesAreOneLineNamingFileAndEntry) {
  const auto refused = [](const std::string& name, const nlohmann::json& a,
                          const std::string& needle) {
    const std::string path = write_coco(name, coco_file(a));
    try {
      read_coco_annotations(path);
      ADD_FAILURE() << name << " was accepted";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find("annotations[0]"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  refused("image.json", {{"image_id", 2}, {"category_id", 18}, {"bbox", {1, 1, 5, 5}}}, "image_id");
  refused("cat.json", {{"image_id", 1}, {"category_id", 3}, {"bbox", {1, 1, 5, 5}}}, "category_id");
  refused("zero.json", {{"image_id", 1}, {"category_id", 18}, {"bbox", {1, 1, 0, 5}}},
          "width and height > 0");
  refused("outside.json", {{"image_id", 1}, {"category_id", 18}, {"bbox", {90, 10, 30, 5}}},
          "inside its 100x80 image");
  refused("short.json", {{"image_id", 1}, {"category_id", 18}, {"bbox", {1, 1, 5}}}, "bbox");
  EXPECT_THROW(read_coco_annotations(test::temp_dir("coco") + "/missing.json"), InputError);
  EXPECT_THROW(read_coco_annotations(write_coco("list.json", nlohmann::json::array())), InputError);
}

}  // namespace
}  // namespace foil
