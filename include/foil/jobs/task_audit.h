#pragma once
/// @file
/// The audits of models that are not classifiers, behind one call: `foil audit --task
/// detect|segment` and foil.audit run them through here (foil/jobs/detection_audit.h,
/// foil/jobs/segmentation_audit.h).
///
/// Example:
///   foil::AuditOptions o = foil::task_audit_defaults(foil::audit_task(model));
///   nlohmann::json j = foil::run_task_audit(model, photos, o, "results");

#include <nlohmann/json.hpp>
#include <string>

#include "foil/jobs/detection_audit.h"
#include "foil/jobs/segmentation_audit.h"

namespace foil {

/// The defaults of the audit of `task` (detect, segment; anything else: audit_defaults()).
AuditOptions task_audit_defaults(const std::string& task);
/// Throws InputError for options the audit of `options.task` cannot run.
void check_task_audit_options(const AuditOptions& options);
/// The photos of data spec `spec` for the audit of `model`'s task: a detector's as open_data
/// reads them; a segmenter's loaded at its input size (its outputs are per-pixel scores, not
/// the class scores open_data checks for). Throws InputError for an empty set.
Dataset open_task_data(const std::string& spec, GraphModel& model);
/// Runs the detect or segment audit (`options.task`) of `model` on `data`, writes its files
/// into `dir` ("": none) and returns its JSON (audit_detect.json's or audit_segment.json's).
nlohmann::json run_task_audit(GraphModel& model, const Dataset& data, const AuditOptions& options,
                              const std::string& dir);

}  // namespace foil
