// One call for the detector and segmenter audits (foil/jobs/task_audit.h).
#include "foil/jobs/task_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/job.h"
#include "foil/metrics/detection.h"
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

std::string metric_cell(double v) { return v > -1 ? fmt::format("{:.3f}", v) : "n/a"; }

std::string task_row_name(const std::string& attack, const std::string& norm, double eps,
                          const std::string& corruption, int severity) {
  if (attack == "clean") return "clean";
  if (attack == "corruption") return fmt::format("{}-s{}", corruption, severity);
  return fmt::format("{}-{}-{}", attack, norm, budget_text(norm, eps));
}

nlohmann::json task_row_json(const std::string& attack, const std::string& norm, double eps,
                             const std::string& corruption, int severity, double seconds) {
  nlohmann::json j = {{"row", task_row_name(attack, norm, eps, corruption, severity)},
                      {"attack", attack},
                      {"norm", norm.empty() ? nlohmann::json() : nlohmann::json(norm)},
                      {"eps", norm.empty() ? nlohmann::json() : nlohmann::json(eps)},
                      {"seconds", seconds}};
  if (attack == "corruption") {
    j["corruption"] = corruption;
    j["severity"] = severity;
  }
  return j;
}

nlohmann::json task_audit_json(const AuditOptions& o) {
  return {
      {"baseline", "noise: random signs of size eps (Linf) or a random direction of norm eps (L2)"},
      {"corruptions", o.corruption.corruptions.empty()
                          ? nlohmann::json()
                          : nlohmann::json{{"severities", o.corruption.severities},
                                           {"as_published", o.corruption.as_published}}}};
}

std::string task_model_kind(const std::string& task) {
  if (task == "detect") return "an object detector";
  if (task == "segment") return "a semantic segmenter";
  return task == "keypoints" ? "a keypoint model" : "a classifier";
}

AuditOptions task_audit_defaults(const std::string& task) {
  if (task != "detect" && task != "segment" && task != "keypoints") return audit_defaults();
  AuditOptions o;
  o.task = task;
  o.linf_eps = {2.0 / 255, 4.0 / 255, 8.0 / 255};
  o.l2_eps = {};
  o.steps = 10;  // TOG's, the SegPGD/CosPGD sweep's and KAA's
  o.batch = 8;
  o.examples = 4;
  o.corruption.corruptions.clear();
  return o;
}

void check_task_audit_options(const AuditOptions& o) {
  check_input(o.task == "detect" || o.task == "segment" || o.task == "keypoints", "--task",
              "detect, segment or keypoints", "'" + o.task + "'");
  check_input(!o.linf_eps.empty() || !o.l2_eps.empty(), "--linf-eps", "a budget (or --l2-eps)",
              "none");
  for (double e : o.linf_eps)
    check_input(e > 0 && e <= 1, "--linf-eps", "budgets in (0, 1]", fmt::format("{:g}", e));
  for (double e : o.l2_eps)
    check_input(e > 0 && e <= 1e4, "--l2-eps", "budgets in (0, 10000]", fmt::format("{:g}", e));
  if (!o.corruption.corruptions.empty()) check_corruption_options(o.corruption);
  check_input(o.steps >= 1, "--steps", "an integer >= 1 (default 10)", std::to_string(o.steps));
  check_input(o.batch >= 1, "--batch", "a batch size >= 1", std::to_string(o.batch));
  check_input(o.examples >= 0, "--examples", "a count >= 0", std::to_string(o.examples));
  if (o.task == "detect") {
    check_input(o.score_threshold > 0 && o.score_threshold < 1, "--score-threshold",
                "a score in (0, 1)", fmt::format("{:g}", o.score_threshold));
    if (!o.annotations.empty()) read_coco_annotations(o.annotations);
  } else if (o.task == "segment" && !o.annotations.empty()) {
    std::error_code ec;
    check_input(std::filesystem::is_directory(o.annotations, ec), "--annotations " + o.annotations,
                "a folder of label PNGs (one per photo, named as the photo, .png)",
                std::filesystem::exists(o.annotations, ec) ? "not a folder" : "no such folder");
  }
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
