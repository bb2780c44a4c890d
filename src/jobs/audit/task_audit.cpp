// One call for the detector and segmenter audits (foil/jobs/task_audit.h).
#include "foil/jobs/task_audit.h"

#include <fmt/format.h>

#include "foil/core/error.h"
#include "foil/jobs/job.h"
#include "foil/models/graph_model.h"

namespace foil {

AuditOptions task_audit_defaults(const std::string& task) {
  if (task == "detect") return detection_audit_defaults();
  if (task == "segment") return segmentation_audit_defaults();
  return audit_defaults();
}

void check_task_audit_options(const AuditOptions& o) {
  check_input(o.task == "detect" || o.task == "segment", "--task", "detect or segment",
              "'" + o.task + "'");
  o.task == "detect" ? check_detection_audit_options(o) : check_segmentation_audit_options(o);
}

Dataset open_task_data(const std::string& spec, GraphModel& model) {
  if (model.meta().task != "segmentation") return open_data(spec, model);
  Dataset data = load_data(spec, model.info().input);
  check_input(data.size() > 0, "--data " + spec, "at least one image", "an empty dataset");
  return data;
}

nlohmann::json run_task_audit(GraphModel& model, const Dataset& data, const AuditOptions& o,
                              const std::string& dir) {
  check_task_audit_options(o);
  const auto finish = [&](const auto& r) {
    if (!dir.empty()) r.write(dir);
    if (o.log) o.log(fmt::format("{} images audited in {:.1f}s", r.images, r.seconds));
    nlohmann::json j = r.to_json();
    j["examples"] = r.example_clean.defined();
    return j;
  };
  if (o.task == "detect") return finish(run_detection_audit(model, data, o));
  return finish(run_segmentation_audit(model, data, o));
}

}  // namespace foil
