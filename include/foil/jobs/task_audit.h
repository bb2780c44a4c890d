#pragma once
/// @file
/// The audits of models that are not classifiers, behind one call: `foil audit --task
/// detect|segment|keypoints` and foil.audit run them through here (foil/jobs/detection_audit.h,
/// foil/jobs/segmentation_audit.h, foil/jobs/keypoint_audit.h).
///
/// Example:
///   foil::AuditOptions o = foil::task_audit_defaults(foil::audit_task(model));
///   nlohmann::json j = foil::run_task_audit(model, photos, o, "results");

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "foil/jobs/detection_audit.h"
#include "foil/jobs/keypoint_audit.h"
#include "foil/jobs/segmentation_audit.h"

namespace foil {

/// A budget as the task audits print it: Linf multiples of 1/255 as "8/255", else "%g".
std::string budget_text(const std::string& norm, double eps);
/// Calls `row(name, severity, images, since)` for each corruption of `options` fit for the
/// images' channels (an unfit one is logged and skipped) at each severity, the images corrupted
/// batch by batch as the classifier audit does (stored as the published set when asked);
/// `since` is when that corruption's work began.
void for_each_corruption(
    const CorruptionAuditOptions& options, const torch::Tensor& images, int64_t batch,
    uint64_t seed, const Log& log,
    const std::function<void(const std::string&, int, const torch::Tensor&, double)>& row);

/// A metric as the task audits print it: three decimals, "n/a" for -1 (not defined).
std::string metric_cell(double value);
/// A task audit row's name: clean, ATTACK-NORM-BUDGET (tog-vanishing-linf-8/255) or
/// CORRUPTION-sSEVERITY (fog-s3).
std::string task_row_name(const std::string& attack, const std::string& norm, double eps,
                          const std::string& corruption, int severity);
/// task_row_name of a row with those fields.
template <typename Row>
std::string task_row_name(const Row& r) {
  return task_row_name(r.attack, r.norm, r.eps, r.corruption, r.severity);
}

/// The fields every task audit row has in its JSON: row, attack, norm, eps (null for clean and
/// corruptions), corruption and severity (corruption rows), seconds.
nlohmann::json task_row_json(const std::string& attack, const std::string& norm, double eps,
                             const std::string& corruption, int severity, double seconds);
/// task_row_json of a row with those fields.
template <typename Row>
nlohmann::json task_row_json(const Row& r) {
  return task_row_json(r.attack, r.norm, r.eps, r.corruption, r.severity, r.seconds);
}
/// The entries every task audit's JSON has besides its rows: the noise baseline and the
/// corruption settings (null when none ran).
nlohmann::json task_audit_json(const AuditOptions& options);

/// The kind of model a task audits: "an object detector", "a semantic segmenter", "a keypoint
/// model" or "a classifier".
std::string task_model_kind(const std::string& task);
/// The defaults of the audit of `task` (detect, segment, keypoints: Linf budgets 2/255, 4/255,
/// 8/255, no L2, 10 steps, batch 8, 4 example images, no corruptions; anything else:
/// audit_defaults()).
AuditOptions task_audit_defaults(const std::string& task);
/// Throws InputError for options the audit of `options.task` (detect, segment or keypoints)
/// cannot run, checked before anything slow (detect: the annotation file read).
void check_task_audit_options(const AuditOptions& options);
/// The photos of data spec `spec` for the audit of `model`'s task: a detector's as open_data
/// reads them; a segmenter's or keypoint model's loaded at its input size (their outputs are
/// per-pixel scores or keypoints, not the class scores open_data checks for). Throws
/// InputError for an empty set.
Dataset open_task_data(const std::string& spec, GraphModel& model);
/// Runs the detect, segment or keypoints audit (`options.task`) of `model` on `data`, writes
/// its files into `dir` ("": none) and returns its JSON (audit_TASK.json's).
nlohmann::json run_task_audit(GraphModel& model, const Dataset& data, const AuditOptions& options,
                              const std::string& dir);

}  // namespace foil
