// The detector audit (foil/jobs/detection_audit.h): COCO AP clean, under same-norm noise and
// under TOG-vanishing, per budget.
#include "foil/jobs/detection_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "foil/attacks/sample_random.h"
#include "foil/attacks/tog.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/graph_model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// Detections down to this score are scored for AP (COCO scores a detector's ranked list,
/// not only its confident boxes; at most 100 per image and class count).
constexpr double kScoredMinimum = 0.05;

/// The reference and how the model's classes map to its categories (-1: not scored).
struct DetectionReference {
  DetectionGroundTruth gt;
  std::vector<int64_t> image_id;     ///< per data item
  std::vector<int64_t> category_of;  ///< per model class
};

/// The item's detection in COCO boxes of the photo's own pixels (model pixels without a photo).
CocoBox photo_box(const Detection& d, const Dataset& data, int64_t item) {
  if (data.frames.empty()) return {d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1};
  const torch::Tensor xy = data.frames[static_cast<size_t>(item)].to_photo(
      torch::tensor({d.x1, d.y1, d.x2, d.y2}, torch::kDouble).view({2, 2}));
  const auto p = xy.to(torch::kDouble).contiguous();
  const double* v = p.data_ptr<double>();
  return {v[0], v[1], v[2] - v[0], v[3] - v[1]};
}

/// Every item's detections (down to `min_score`) on `images` (N×C×H×W, any device) as scored
/// boxes, batch by batch; items are data rows `first`.. .
std::vector<std::vector<Detection>> detect_all(GraphModel& model, const torch::Tensor& images,
                                               int64_t batch, double min_score) {
  std::vector<std::vector<Detection>> out;
  torch::NoGradGuard no_grad;
  for (int64_t b = 0; b < images.size(0); b += batch) {
    const auto found = model.detect(images.slice(0, b, b + batch).to(model.device()), min_score);
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

std::string base_name(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

/// The reference from COCO annotations: each data item is one of its images (by file name),
/// each of its images is in the data, and the model's classes map to its categories by name.
DetectionReference annotated_reference(const std::string& path, const Dataset& data,
                                       const std::vector<std::string>& classes) {
  DetectionReference ref;
  ref.gt = read_coco_annotations(path);
  check_input(!data.frames.empty(), path, "photos named in its images (an image folder or file)",
              data.source);
  std::map<std::string, int64_t> id_of;
  for (size_t i = 0; i < ref.gt.image_ids.size(); ++i)
    id_of[base_name(ref.gt.file_names[i])] = ref.gt.image_ids[i];
  std::map<int64_t, bool> used;
  for (const auto& frame : data.frames) {
    const auto it = id_of.find(base_name(frame.path));
    check_input(it != id_of.end(), path, "an image entry for every photo of the data",
                "none for " + base_name(frame.path));
    ref.image_id.push_back(it->second);
    used[it->second] = true;
  }
  for (size_t i = 0; i < ref.gt.image_ids.size(); ++i)
    check_input(used.count(ref.gt.image_ids[i]) > 0, fmt::format("{}: images[{}]", path, i),
                "an image of the data (" + data.source + ")",
                "'" + ref.gt.file_names[i] + "', not in it");
  bool any = false;
  for (const auto& name : classes) {
    const auto c = std::find(ref.gt.category_names.begin(), ref.gt.category_names.end(), name);
    ref.category_of.push_back(
        c == ref.gt.category_names.end()
            ? -1
            : ref.gt.category_ids[static_cast<size_t>(c - ref.gt.category_names.begin())]);
    any = any || ref.category_of.back() >= 0;
  }
  check_input(any, path, "categories named as the model's classes (e.g. 'person')",
              "no category name in common");
  return ref;
}

/// The reference from the model's clean detections at the score threshold.
DetectionReference clean_reference(const std::vector<std::vector<Detection>>& clean,
                                   const Dataset& data, const std::vector<std::string>& classes,
                                   double threshold) {
  DetectionReference ref;
  ref.gt.source = fmt::format("the model's clean detections (score >= {:g})", threshold);
  for (size_t k = 0; k < classes.size(); ++k) {
    ref.gt.category_ids.push_back(static_cast<int64_t>(k));
    ref.gt.category_names.push_back(classes[k]);
    ref.category_of.push_back(static_cast<int64_t>(k));
  }
  for (int64_t i = 0; i < data.size(); ++i) {
    ref.image_id.push_back(i);
    ref.gt.image_ids.push_back(i);
    ref.gt.file_names.push_back(data.frames.empty() ? ""
                                                    : data.frames[static_cast<size_t>(i)].path);
    for (const Detection& d : clean[static_cast<size_t>(i)])
      if (d.score >= threshold)
        ref.gt.objects.push_back({i, d.cls, photo_box(d, data, i), -1, false});
  }
  return ref;
}

/// Scores one row's detections against the reference.
void score_row(DetectionAuditRow& row, const std::vector<std::vector<Detection>>& found,
               const DetectionReference& ref, const Dataset& data, double threshold) {
  for (size_t i = 0; i < found.size(); ++i)
    for (const Detection& d : found[i]) {
      if (d.score >= threshold) ++row.found;
      const int64_t cat = ref.category_of[static_cast<size_t>(d.cls)];
      if (cat < 0) continue;  // a class the annotations do not score
      row.detections.push_back(
          {ref.image_id[i], cat, photo_box(d, data, static_cast<int64_t>(i)), d.score});
    }
  row.metrics = evaluate_detections(ref.gt, row.detections);
}

/// The first `k` items' detections at or above `threshold`, as boxes to draw.
std::vector<std::vector<LabelledBox>> labelled(const std::vector<std::vector<Detection>>& found,
                                               int64_t k, double threshold) {
  std::vector<std::vector<LabelledBox>> out(static_cast<size_t>(k));
  for (size_t i = 0; i < out.size(); ++i)
    for (const Detection& d : found[i])
      if (d.score >= threshold)
        out[i].push_back({d.x1, d.y1, d.x2, d.y2, fmt::format("{} {:.0f}%", d.name, 100 * d.score),
                          static_cast<int>(d.cls)});
  return out;
}

std::string ap_cell(double v) { return v > -1 ? fmt::format("{:.3f}", v) : "n/a"; }

std::string eps_text(const std::string& norm, double eps) {
  if (norm != "linf") return fmt::format("{:g}", eps);
  const double in255 = eps * 255;
  return std::abs(in255 - std::round(in255)) < 1e-6 ? fmt::format("{:g}/255", std::round(in255))
                                                    : fmt::format("{:g}", eps);
}

std::string row_name(const DetectionAuditRow& r) {
  return r.attack == "clean" ? "clean"
                             : fmt::format("{}-{}-{}", r.attack, r.norm, eps_text(r.norm, r.eps));
}

}  // namespace

std::string audit_task(const Model& model, const std::string& requested) {
  const auto* graph = dynamic_cast<const GraphModel*>(&model);
  const std::string task =
      graph != nullptr && graph->meta().task == "detection" ? "detect" : "classify";
  check_input(requested.empty() || requested == task, "--task " + requested,
              "the task of --model (" + task + ")", model.info().name + ", a " + task + " model");
  return task;
}

AuditOptions detection_audit_defaults() {
  AuditOptions o;
  o.task = "detect";
  o.linf_eps = {2.0 / 255, 4.0 / 255, 8.0 / 255};
  o.l2_eps = {};
  o.steps = 10;
  o.batch = 8;
  o.examples = 4;
  o.corruption.corruptions.clear();
  return o;
}

void check_detection_audit_options(const AuditOptions& o) {
  check_input(o.task == "detect", "--task", "detect", "'" + o.task + "'");
  check_input(!o.linf_eps.empty() || !o.l2_eps.empty(), "--linf-eps", "a budget (or --l2-eps)",
              "none");
  for (double e : o.linf_eps)
    check_input(e > 0 && e <= 1, "--linf-eps", "budgets in (0, 1]", fmt::format("{:g}", e));
  for (double e : o.l2_eps)
    check_input(e > 0 && std::isfinite(e), "--l2-eps", "budgets > 0", fmt::format("{:g}", e));
  check_input(o.steps >= 1, "--steps", "an integer >= 1 (TOG's own: 10)", std::to_string(o.steps));
  check_input(o.batch >= 1, "--batch", "a batch size >= 1", std::to_string(o.batch));
  check_input(o.examples >= 0, "--examples", "a count >= 0", std::to_string(o.examples));
  check_input(o.score_threshold > 0 && o.score_threshold < 1, "--score-threshold",
              "a score in (0, 1)", fmt::format("{:g}", o.score_threshold));
  if (!o.annotations.empty()) read_coco_annotations(o.annotations);
}

DetectionAuditResult run_detection_audit(GraphModel& model, const Dataset& data,
                                         const AuditOptions& o) {
  check_detection_audit_options(o);
  check_input(model.meta().task == "detection", model.info().name, "an object detector",
              "a " + model.meta().task + " model (--task detect needs a detector)");
  check_input(data.size() > 0, "--data", "at least one image", "none");
  const double start = now_seconds();
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  DetectionAuditResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.images = data.size();
  r.options = o;
  r.options.log = {};
  const std::vector<std::string>& classes = model.meta().class_names;
  const auto clean = detect_all(model, data.images, o.batch, kScoredMinimum);
  const DetectionReference ref = o.annotations.empty()
                                     ? clean_reference(clean, data, classes, o.score_threshold)
                                     : annotated_reference(o.annotations, data, classes);
  r.reference = ref.gt;
  log(fmt::format("{} images; reference: {} ({} objects)", data.size(), ref.gt.source,
                  ref.gt.objects.size()));
  const auto add_row = [&](DetectionAuditRow row, const std::vector<std::vector<Detection>>& found,
                           double since) {
    score_row(row, found, ref, data, o.score_threshold);
    row.seconds = now_seconds() - since;
    r.lines.push_back(
        fmt::format("{:<28} AP {:>6}  AP50 {:>6}  AR100 {:>6}  found {:>4}  ({:.1f}s)",
                    row_name(row), ap_cell(row.metrics.ap), ap_cell(row.metrics.ap50),
                    ap_cell(row.metrics.ar100), row.found, row.seconds));
    log(r.lines.back());
    r.rows.push_back(std::move(row));
  };
  add_row({"clean", "", 0}, clean, start);
  const auto scores = [&](const torch::Tensor& x) { return model.class_scores(x); };
  const auto shape = data.images.sizes().slice(1);
  for (const auto& [norm, grid] :
       {std::pair{std::string("linf"), &o.linf_eps}, std::pair{std::string("l2"), &o.l2_eps}})
    for (double eps : *grid) {
      double since = now_seconds();
      const torch::Tensor ids = torch::arange(data.size(), torch::kLong);
      const torch::Tensor noisy =
          (data.images + same_norm_noise(o.seed, ids, shape, norm, eps, torch::kCPU)).clamp(0, 1);
      add_row({"noise", norm, eps}, detect_all(model, noisy, o.batch, kScoredMinimum), since);
      since = now_seconds();
      std::vector<torch::Tensor> adv;
      Progress bar(fmt::format("tog-vanishing {} {}", norm, eps_text(norm, eps)), data.size());
      for (int64_t b = 0; b < data.size(); b += o.batch) {
        TogOptions t;
        t.norm = norm;
        t.eps = eps;
        t.steps = o.steps;
        t.seed = o.seed;
        t.ids = ids.slice(0, b, b + o.batch);
        adv.push_back(
            tog_vanishing(scores, data.images.slice(0, b, b + o.batch).to(model.device()), t)
                .cpu());
        bar.update(std::min(b + o.batch, data.size()));
      }
      bar.finish();
      const torch::Tensor attacked = torch::cat(adv);
      const auto found = detect_all(model, attacked, o.batch, kScoredMinimum);
      add_row({"tog-vanishing", norm, eps}, found, since);
      if (norm == (o.linf_eps.empty() ? "l2" : "linf") && o.examples > 0) {  // the strongest
        const int64_t k = std::min(o.examples, data.size());
        r.example_row = row_name(r.rows.back());
        r.example_clean = data.images.slice(0, 0, k);
        r.example_attacked = attacked.slice(0, 0, k);
        r.example_clean_boxes = labelled(clean, k, o.score_threshold);
        r.example_attacked_boxes = labelled(found, k, o.score_threshold);
      }
    }
  r.seconds = now_seconds() - start;
  return r;
}

nlohmann::json DetectionAuditResult::to_json() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json j = row.metrics.to_json();
    j.erase("per_category");
    j["row"] = row_name(row);
    j["attack"] = row.attack;
    j["norm"] = row.norm;
    j["eps"] = row.eps;
    j["found"] = row.found;
    j["seconds"] = row.seconds;
    rows_json.push_back(j);
  }
  nlohmann::json per_category = nlohmann::json::array();
  if (!rows.empty())
    for (const auto& c : rows.front().metrics.per_category)
      if (c.objects > 0)
        per_category.push_back(
            {{"name", c.name}, {"objects", c.objects}, {"clean_ap", c.ap}, {"clean_ap50", c.ap50}});
  return {
      {"task", "detect"},
      {"model", model},
      {"data", data},
      {"images", images},
      {"reference", reference.source},
      {"reference_objects", reference.objects.size()},
      {"score_threshold", options.score_threshold},
      {"scored_min_score", kScoredMinimum},
      {"metric",
       "COCO box AP (pycocotools COCOeval: IoU 0.50:0.05:0.95, 101 recall points, 100 "
       "detections per image) in the photos' pixels"},
      {"attack",
       {{"name", "tog-vanishing"},
        {"steps", options.steps},
        {"step_size", "eps / 4"},
        {"random_start", true},
        {"differs_from_reference",
         "objectness is each class score at each location (anchor-free detectors have no "
         "objectness branch): the loss is the sum of -log(1 - p) over locations and classes; "
         "L2 budgets take L2-normalised steps"}}},
      {"baseline", "noise: random signs of size eps (Linf) or a random direction of norm eps (L2)"},
      {"rows", rows_json},
      {"clean_per_category", per_category},
      {"seconds", seconds}};
}

void DetectionAuditResult::write(const std::string& dir_in) const {
  const std::string dir = dir_in.empty() || dir_in.back() == '/' ? dir_in : dir_in + "/";
  write_json(dir + "audit_detect.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows)
    csv.push_back({row_name(row), row.attack, row.norm, fmt::format("{:g}", row.eps),
                   ap_cell(row.metrics.ap), ap_cell(row.metrics.ap50), ap_cell(row.metrics.ap75),
                   ap_cell(row.metrics.ar100), std::to_string(row.found),
                   fmt::format("{:.2f}", row.seconds)});
  write_csv(dir + "audit_detect.csv",
            {"row", "attack", "norm", "eps", "ap", "ap50", "ap75", "ar100", "found", "seconds"},
            csv);
  for (const auto& row : rows) {
    std::string name = row_name(row);
    std::replace(name.begin(), name.end(), '/', '_');  // 8/255 -> 8_255
    write_json(dir + (row.attack == "clean" ? "detections.json" : "detections-" + name + ".json"),
               coco_results_json(row.detections));
  }
  if (!example_clean.defined() || example_clean.size(0) == 0) return;
  std::vector<std::vector<GridCell>> grid(2);
  for (int64_t i = 0; i < example_clean.size(0); ++i) {
    const auto& c = example_clean_boxes[static_cast<size_t>(i)];
    const auto& a = example_attacked_boxes[static_cast<size_t>(i)];
    grid[0].push_back({draw_boxes(example_clean[i], c), fmt::format("{} objects", c.size())});
    grid[1].push_back({draw_boxes(example_attacked[i], a), fmt::format("{} objects", a.size()),
                       a.size() < c.size()});
  }
  write_image_grid(dir + "examples.png", grid, {"clean", example_row}, 224);
}

}  // namespace foil
