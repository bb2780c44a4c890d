// One call for the detector and segmenter audits (foil/jobs/task_audit.h).
#include "foil/jobs/task_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/job.h"
#include "foil/models/graph_model.h"

namespace foil {

std::string budget_text(const std::string& norm, double eps) {
  if (norm != "linf") return fmt::format("{:g}", eps);
  const double in255 = eps * 255;
  return std::abs(in255 - std::round(in255)) < 1e-6 ? fmt::format("{:g}/255", std::round(in255))
                                                    : fmt::format("{:g}", eps);
}

void for_each_corruption(
    const CorruptionAuditOptions& c, const torch::Tensor& images, int64_t batch, uint64_t seed,
    const Log& log,
    const std::function<void(const std::string&, int, const torch::Tensor&, double)>& row) {
  const std::string table = corruption_table(images.size(2), images.size(3));
  for (const std::string& name : c.corruptions) {
    const std::string unfit = corruption_unfit(name, images.size(1));
    if (!unfit.empty()) {  // as the classifier audit: skipped, said why
      if (log) log(fmt::format("{}: skipped ({})", name, unfit));
      continue;
    }
    for (int severity : c.severities) {
      const double since = now_seconds();
      std::vector<torch::Tensor> parts;
      for (int64_t b = 0; b < images.size(0); b += batch) {
        const torch::Tensor x = corrupt(images.slice(0, b, b + batch), name, severity, seed, b);
        parts.push_back(c.as_published ? store_as_published(x, table) : x);
      }
      row(name, severity, torch::cat(parts), since);
    }
  }
}

std::string task_model_kind(const std::string& task) {
  if (task == "detect") return "an object detector";
  if (task == "segment") return "a semantic segmenter";
  return task == "keypoints" ? "a keypoint model" : "a classifier";
}

AuditOptions task_audit_defaults(const std::string& task) {
  if (task == "detect") return detection_audit_defaults();
  if (task == "segment") return segmentation_audit_defaults();
  if (task == "keypoints") return keypoint_audit_defaults();
  return audit_defaults();
}

void check_task_audit_options(const AuditOptions& o) {
  if (o.task == "detect") return check_detection_audit_options(o);
  if (o.task == "segment") return check_segmentation_audit_options(o);
  check_input(o.task == "keypoints", "--task", "detect, segment or keypoints", "'" + o.task + "'");
  check_keypoint_audit_options(o);
}

Dataset open_task_data(const std::string& spec, GraphModel& model) {
  if (model.meta().task == "detection") return open_data(spec, model);
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
  if (o.task == "segment") return finish(run_segmentation_audit(model, data, o));
  return finish(run_keypoint_audit(model, data, o));
}

}  // namespace foil
