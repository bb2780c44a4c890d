#pragma once
/// @file
/// The audit of a keypoint model (`foil audit --task keypoints`): how far its pose moves, per
/// budget, under random noise of that norm and size (the baseline) and under the K-limiting
/// attack (KAA, non-target: foil/keypoints/kaa.h), and under each common corruption asked for,
/// against its clean pose (photos have no ground truth). Each row: COCO's OKS and PCK@0.1 of
/// the pose to the clean one (models of COCO's 17 keypoints: MoveNet, PoseNet), the pose RMSE
/// in pixels and the share of images whose keypoints moved more than tau pixels on average;
/// by the model's own decode (every graph keypoint model has one).
///
/// Example:
///   foil::GraphModel movenet("movenet-lightning.json");
///   foil::Dataset people = foil::load_data("people/", movenet.info().input);
///   foil::KeypointAuditResult r =
///       foil::run_keypoint_audit(movenet, people, foil::task_audit_defaults("keypoints"));

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/jobs/audit.h"

namespace foil {

class GraphModel;

/// One row: the clean pass, the noise baseline or KAA at one budget, or one corruption at one
/// severity.
struct KeypointAuditRow {
  std::string attack;      ///< clean, noise, kaa or corruption
  std::string norm;        ///< linf or l2 ("" for clean and corruptions)
  double eps = 0;          ///< the budget (0 for clean)
  std::string corruption;  ///< corruption rows: its name
  int severity = 0;        ///< corruption rows: its severity (1..5)
  double oks = -1;         ///< COCO OKS to the clean pose (-1: not a COCO-17 model)
  double pck = -1;         ///< PCK@0.1 to the clean pose (-1: not a COCO-17 model)
  double pose_rmse = 0;    ///< pixels of the model input
  double moved = 0;        ///< share of images whose keypoints moved more than tau on average
  double seconds = 0;      ///< the row's run
};

/// What a keypoint audit found.
struct KeypointAuditResult {
  std::string model;                   ///< the model's name
  std::string data;                    ///< the data's source
  int64_t images = 0;                  ///< images audited
  std::vector<std::string> keypoints;  ///< the model's keypoint names
  std::string decode;                  ///< "the model's own decode" or "the heatmap peaks"
  double tau = 4;                      ///< pixels: what counts as moved
  AuditOptions options;                ///< as run (without the log)
  /// Clean, per budget noise and KAA, then per corruption and severity.
  std::vector<KeypointAuditRow> rows;
  double seconds = 0;              ///< the whole audit
  std::vector<std::string> lines;  ///< the printed table
  // The example grid: the first images with their poses, clean and under KAA at the largest
  // budget of the first norm.
  torch::Tensor example_clean;                ///< the first images, N×C×H×W
  torch::Tensor example_attacked;             ///< the same under that attack
  torch::Tensor example_clean_kp;             ///< their clean keypoints, N×K×2 (model pixels)
  torch::Tensor example_attacked_kp;          ///< their keypoints under the attack
  std::vector<std::pair<int, int>> skeleton;  ///< limbs to draw
  std::string example_row;                    ///< the attacked row shown
  /// audit_keypoints.json's content.
  nlohmann::json to_json() const;
  /// Writes audit_keypoints.json, audit_keypoints.csv and (with examples) examples.png.
  void write(const std::string& dir) const;
};

/// Audits the keypoint model on `data` (photos; labels unused).
KeypointAuditResult run_keypoint_audit(GraphModel& model, const Dataset& data,
                                       const AuditOptions& options);

}  // namespace foil
