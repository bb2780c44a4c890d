#pragma once
/// @file
/// The audit of an object detector (`foil audit --task detect`): COCO AP (foil/metrics/
/// detection.h) of the clean detections and, per budget, of the detections under random noise
/// of that norm and size (the baseline) and under TOG-vanishing and TOG-fabrication
/// (foil/attacks/tog.h), against
/// COCO annotations or, without them, the model's own clean detections at the score threshold
/// (then clean AP is 1 by construction and the rows say how much of what the model found it
/// still finds: its recall at the threshold), and under each common corruption asked for
/// (applied to the model-sized images). Boxes are scored in the photos'
/// own pixels.
///
/// Example:
///   foil::GraphModel nanodet("nanodet.json");
///   foil::Dataset photos = foil::open_data("photos/", nanodet, false);
///   foil::AuditOptions o = foil::task_audit_defaults("detect");  // foil/jobs/task_audit.h
///   foil::DetectionAuditResult r = foil::run_detection_audit(nanodet, photos, o);

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/jobs/audit.h"
#include "foil/metrics/detection.h"
#include "foil/report/figures.h"

namespace foil {

class GraphModel;

/// One row: the clean pass, one attack or the noise baseline at one budget, or one corruption
/// at one severity.
struct DetectionAuditRow {
  std::string attack;        ///< clean, noise, tog-vanishing, tog-fabrication or corruption
  std::string norm;          ///< linf or l2 ("" for clean)
  double eps = 0;            ///< the budget (0 for clean)
  std::string corruption;    ///< corruption rows: its name
  int severity = 0;          ///< corruption rows: its severity (1..5)
  DetectionMetrics metrics;  ///< COCO AP against the reference
  /// Detections at or above the score threshold, of any class (new, wrong boxes included).
  int64_t found = 0;
  /// Share of the reference's objects a detection at or above the threshold, of its category,
  /// covers at IoU >= 0.5 (-1: no reference object).
  double recall50 = -1;
  std::vector<ScoredBox> detections;  ///< every detection scored (COCO results)
  double seconds = 0;                 ///< the row's run
};

/// What a detection audit found.
struct DetectionAuditResult {
  std::string model;               ///< the detector's name
  std::string data;                ///< the data's source
  int64_t images = 0;              ///< images audited
  DetectionGroundTruth reference;  ///< what AP is computed against
  /// Categories of the annotations that no class of the model is named as, left out.
  std::vector<std::string> unscored_categories;
  AuditOptions options;  ///< as run (without the log)
  /// Clean, per budget noise, TOG-vanishing and TOG-fabrication, then per corruption and
  /// severity.
  std::vector<DetectionAuditRow> rows;
  double seconds = 0;              ///< the whole audit
  std::vector<std::string> lines;  ///< the printed table
  // The example grid: the first images clean and under the strongest attack (of the first
  // norm audited), with the boxes found at the score threshold.
  torch::Tensor example_clean;     ///< the first images, N×C×H×W
  torch::Tensor example_attacked;  ///< the same under the strongest attack
  std::vector<std::vector<LabelledBox>> example_clean_boxes;     ///< per image, clean
  std::vector<std::vector<LabelledBox>> example_attacked_boxes;  ///< per image, attacked
  std::string example_row;                                       ///< the attacked row shown
  /// audit_detect.json's content.
  nlohmann::json to_json() const;
  /// Writes audit_detect.json, audit_detect.csv, detections.json (clean, COCO results
  /// format), detections-ROW.json per attack and noise row (not per corruption) and (with
  /// examples) examples.png: the
  /// first images clean and under the strongest Linf attack, boxes drawn.
  void write(const std::string& dir) const;
};

/// The audit `model` gets: "detect" for an object detector (a graph model whose metadata says
/// detection), "segment" for a semantic segmenter (foil/jobs/segmentation_audit.h),
/// "keypoints" for a keypoint model (foil/jobs/keypoint_audit.h), "classify" otherwise. A
/// `requested` task ("": none) must be that one: throws InputError "--task X: expected the task of
/// --model (Y)" otherwise.
std::string audit_task(const Model& model, const std::string& requested = "");
/// Audits the detector on `data` (photos; labels unused).
DetectionAuditResult run_detection_audit(GraphModel& model, const Dataset& data,
                                         const AuditOptions& options);

}  // namespace foil
