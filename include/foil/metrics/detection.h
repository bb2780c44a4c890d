#pragma once
/// @file
/// Object detection scored as the COCO benchmark scores it: pycocotools' COCOeval with
/// iouType "bbox", step for step. Per image and category the detections, best score first
/// (ties in input order) and at most `max_detections`, are matched greedily to the ground
/// truth at each IoU threshold (0.50:0.05:0.95): a detection takes the unmatched box of highest
/// IoU at or above the threshold, preferring boxes that are not ignored; crowd boxes match any
/// number of detections (their IoU divides by the detection's area) and, like boxes outside
/// the area range, are ignored (their detections count neither way). Precision is made
/// monotone and read at the 101 recall points 0:0.01:1 (0 past the last recall reached); AP is
/// the mean over IoU thresholds, recall points and the categories that have ground truth in
/// the area range (a category with none is left out, its detections too). AR is the recall
/// reached, averaged the same way, with at most 1, 10 or `max_detections` per image.
///
/// Example:
///   foil::DetectionGroundTruth gt = foil::read_coco_annotations("instances.json");
///   foil::DetectionMetrics m = foil::evaluate_detections(gt, detections);
///   std::printf("AP %.3f AP50 %.3f\n", m.ap, m.ap50);

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil {

/// A box as COCO writes it: left, top, width and height, in the image's pixels.
struct CocoBox {
  double x = 0;  ///< left
  double y = 0;  ///< top
  double w = 0;  ///< width
  double h = 0;  ///< height
};

/// Intersection over union of detection `d` and ground truth `g`; for a crowd `g`, the
/// intersection over `d`'s own area (COCO's rule). 0 when they do not overlap.
double coco_iou(const CocoBox& d, const CocoBox& g, bool crowd);

/// One ground-truth object.
struct GroundTruthBox {
  int64_t image_id = 0;     ///< the image it is in
  int64_t category_id = 0;  ///< its category
  CocoBox box;              ///< where
  double area = -1;         ///< COCO's area (of the segmentation when there is one); < 0: w*h
  bool crowd = false;       ///< iscrowd: a group, ignored in scoring
};

/// One detection, as COCO's results format holds it.
struct ScoredBox {
  int64_t image_id = 0;     ///< the image it is in
  int64_t category_id = 0;  ///< its category
  CocoBox box;              ///< where
  double score = 0;         ///< the detector's confidence
};

/// The ground truth a set of detections is scored against.
struct DetectionGroundTruth {
  std::vector<int64_t> image_ids;           ///< every image scored (with objects or not)
  std::vector<std::string> file_names;      ///< per image: its file name ("" when unknown)
  std::vector<int64_t> category_ids;        ///< every category scored
  std::vector<std::string> category_names;  ///< per category
  std::vector<GroundTruthBox> objects;      ///< the objects
  /// What it is, for reports: the annotation file, or "the model's clean detections (score
  /// >= 0.3)" when the model's own clean output is the reference.
  std::string source;
};

/// What the evaluation counts.
struct DetectionEvalOptions {
  /// IoU thresholds; empty: COCO's 0.50:0.05:0.95.
  std::vector<double> iou_thresholds;
  /// Per image and category (COCO's maxDets for AP; >= 10, AR10 being counted too).
  int64_t max_detections = 100;
};

/// One category's numbers (-1 where it has no ground truth).
struct CategoryAp {
  int64_t category_id = 0;  ///< the category
  std::string name;         ///< its name
  int64_t objects = 0;      ///< ground-truth objects that count (not crowd)
  double ap = -1;           ///< AP over the IoU thresholds
  double ap50 = -1;         ///< AP at IoU 0.5
};

/// COCO's summary numbers; -1 where undefined (no ground truth in that range).
struct DetectionMetrics {
  double ap = -1;                        ///< AP@[.50:.95], all areas, max_detections
  double ap50 = -1;                      ///< AP at IoU 0.50
  double ap75 = -1;                      ///< AP at IoU 0.75
  double ap_small = -1;                  ///< area <= 32² (COCO's ranges include both ends)
  double ap_medium = -1;                 ///< 32² <= area <= 96²
  double ap_large = -1;                  ///< area >= 96²
  double ar1 = -1;                       ///< AR with 1 detection per image
  double ar10 = -1;                      ///< AR with 10
  double ar100 = -1;                     ///< AR with max_detections
  std::vector<CategoryAp> per_category;  ///< every category, in the ground truth's order
  /// {"ap", "ap50", ..., "per_category": [...]} (-1 written as null).
  nlohmann::json to_json() const;
};

/// Scores `detections` against `gt` as COCOeval does (see the file comment). Throws
/// InputError for a detection of an image or category the ground truth does not list (COCOeval
/// asserts on the first and drops the second) or with a score that is not finite.
DetectionMetrics evaluate_detections(const DetectionGroundTruth& gt,
                                     const std::vector<ScoredBox>& detections,
                                     const DetectionEvalOptions& options = {});

/// Reads COCO-format ground truth (a JSON object with "images" [{id, file_name, width,
/// height}], "annotations" [{image_id, category_id, bbox [x,y,w,h], area?, iscrowd?}] and
/// "categories" [{id, name}]). Throws InputError naming the file and the entry for an
/// annotation of an unknown image or category, a box with w or h <= 0 or outside its image,
/// repeated ids, or a malformed entry.
DetectionGroundTruth read_coco_annotations(const std::string& path);

/// Detections in COCO's results format: [{"image_id", "category_id", "bbox", "score"}], which
/// any COCO tool reads (pycocotools' loadRes).
nlohmann::json coco_results_json(const std::vector<ScoredBox>& detections);

}  // namespace foil
