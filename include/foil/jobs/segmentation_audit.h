#pragma once
/// @file
/// The audit of a semantic segmenter (`foil audit --task segment`): mean IoU and pixel
/// accuracy (foil/metrics/segmentation.h) of the clean masks and, per budget, of the masks under
/// random noise of that norm and size (the baseline), under PGD on the mean pixel cross-entropy,
/// SegPGD and CosPGD (foil/attacks/seg_pgd.h), and under each common corruption asked for.
/// The reference is a folder of label PNGs (one per photo, named as the photo with .png, of the
/// photo's size; 255: not scored) or, without one, the model's own clean masks (then clean mIoU
/// is 1 by construction and the rows say how much of the clean mask survives). Masks are
/// scored at the photos' own resolution: the logits resized bilinearly to the photo (as
/// segmentation benchmarks score), then the class of highest logit. The attacks push away from
/// the reference's labels at the logits' resolution (nearest photo pixel).
///
/// Example:
///   foil::GraphModel selfie("selfie.json");
///   foil::Dataset photos = foil::open_data("photos/", selfie, false);
///   foil::SegmentationAuditResult r =
///       foil::run_segmentation_audit(selfie, photos, foil::task_audit_defaults("segment"));

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/jobs/audit.h"
#include "foil/metrics/segmentation.h"

namespace foil {

class GraphModel;

/// One row: the clean pass, one attack or the noise baseline at one budget, or one corruption
/// at one severity.
struct SegmentationAuditRow {
  std::string attack;           ///< clean, noise, pgd, segpgd, cospgd or corruption
  std::string norm;             ///< linf or l2 ("" for clean and corruptions)
  double eps = 0;               ///< the budget (0 for clean)
  std::string corruption;       ///< corruption rows: its name
  int severity = 0;             ///< corruption rows: its severity (1..5)
  SegmentationMetrics metrics;  ///< against the reference
  double seconds = 0;           ///< the row's run
};

/// What a segmentation audit found.
struct SegmentationAuditResult {
  std::string model;                     ///< the segmenter's name
  std::string data;                      ///< the data's source
  int64_t images = 0;                    ///< images audited
  std::vector<std::string> class_names;  ///< the model's classes
  std::string reference;                 ///< what the masks are scored against
  AuditOptions options;                  ///< as run (without the log)
  /// Clean, per budget noise, pgd, segpgd and cospgd, then per corruption and severity.
  std::vector<SegmentationAuditRow> rows;
  double seconds = 0;              ///< the whole audit
  std::vector<std::string> lines;  ///< the printed table
  // The example grid: the first images with their masks, clean and under the attack of lowest
  // mIoU at the largest budget of the first norm audited.
  torch::Tensor example_clean;           ///< the first images, N×C×H×W
  torch::Tensor example_attacked;        ///< the same under that attack
  torch::Tensor example_clean_masks;     ///< their clean masks, N×h×w (logits' resolution)
  torch::Tensor example_attacked_masks;  ///< their masks under the attack
  std::string example_row;               ///< the attacked row shown
  /// audit_segment.json's content.
  nlohmann::json to_json() const;
  /// Writes audit_segment.json, audit_segment.csv and (with examples) examples.png.
  void write(const std::string& dir) const;
};

/// Audits the segmenter on `data` (photos; labels unused); `options.annotations` is the folder
/// of label PNGs ("": the clean masks are the reference).
SegmentationAuditResult run_segmentation_audit(GraphModel& model, const Dataset& data,
                                               const AuditOptions& options);

}  // namespace foil
