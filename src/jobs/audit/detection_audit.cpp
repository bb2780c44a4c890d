// The detector audit (foil/jobs/detection_audit.h): COCO AP clean, under same-norm noise and
// under TOG-vanishing and TOG-fabrication, per budget.
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
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/corruption_job.h"
#include "foil/jobs/task_audit.h"
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

/// The item's detection in COCO boxes of the photo's own pixels, clipped to the photo (model
/// pixels without a photo).
CocoBox photo_box(const Detection& d, const Dataset& data, int64_t item) {
  if (data.frames.empty()) return {d.x1, d.y1, d.x2 - d.x1, d.y2 - d.y1};
  const PhotoFrame& f = data.frames[static_cast<size_t>(item)];
  const torch::Tensor xy =
      f.to_photo(torch::tensor({d.x1, d.y1, d.x2, d.y2}, torch::kDouble).view({2, 2}));
  const auto p = xy.to(torch::kDouble).contiguous();
  const double* v = p.data_ptr<double>();
  const auto clip = [](double x, double lo, double size) { return std::clamp(x, lo, lo + size); };
  const double x1 = clip(v[0], f.crop_x, f.width), x2 = clip(v[2], f.crop_x, f.width);
  const double y1 = clip(v[1], f.crop_y, f.height), y2 = clip(v[3], f.crop_y, f.height);
  return {x1, y1, x2 - x1, y2 - y1};
}

/// The model class of a detection, checked against the model's class list.
size_t class_of(const Detection& d, size_t classes) {
  check_input(d.cls >= 0 && static_cast<size_t>(d.cls) < classes, "detection class",
              fmt::format("an index below the model's {} classes", classes), std::to_string(d.cls));
  return static_cast<size_t>(d.cls);
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

/// COCO's names of the classes the human models' list spells as VOC does.
std::string coco_name(const std::string& name) {
  static const std::map<std::string, std::string> kCoco = {
      {"motorbike", "motorcycle"},     {"aeroplane", "airplane"},       {"sofa", "couch"},
      {"pottedplant", "potted plant"}, {"diningtable", "dining table"}, {"tvmonitor", "tv"}};
  const auto it = kCoco.find(name);
  return it == kCoco.end() ? name : it->second;
}

/// The reference from COCO annotations: each data item is one of its images (by file name,
/// each name once, the size it says), the annotations of images outside the data are left out,
/// and the model's classes map to its categories by name (COCO's spelling or the model's);
/// categories no class maps to are left out (`unscored`).
DetectionReference annotated_reference(const std::string& path, const Dataset& data,
                                       const std::vector<std::string>& classes,
                                       std::vector<std::string>& unscored, const Log& log) {
  DetectionReference ref;
  const DetectionGroundTruth file = read_coco_annotations(path);
  check_input(!data.frames.empty(), path, "photos named in its images (an image folder or file)",
              data.source);
  std::map<std::string, size_t> entry_of;  // file name -> images[] index
  for (size_t i = 0; i < file.image_ids.size(); ++i)
    check_input(entry_of.emplace(base_name(file.file_names[i]), i).second,
                fmt::format("{}: images[{}].file_name", path, i), "a name no other image has",
                "'" + file.file_names[i] + "' again");
  std::map<int64_t, int64_t> item_of;  // image id -> data item
  for (size_t item = 0; item < data.frames.size(); ++item) {
    const PhotoFrame& f = data.frames[item];
    const auto it = entry_of.find(base_name(f.path));
    check_input(it != entry_of.end(), path, "an image entry for every photo of the data",
                "none for " + base_name(f.path));
    const int64_t id = file.image_ids[it->second];
    check_input(item_of.emplace(id, static_cast<int64_t>(item)).second, "--data " + data.source,
                "photos of different names", "'" + base_name(f.path) + "' twice");
    ref.image_id.push_back(id);
    ref.gt.image_ids.push_back(id);
    ref.gt.file_names.push_back(file.file_names[it->second]);
  }
  std::map<int64_t, int64_t> class_of_category;
  for (size_t k = 0; k < classes.size(); ++k) {
    ref.category_of.push_back(-1);
    for (size_t c = 0; c < file.category_ids.size(); ++c)
      if (file.category_names[c] == classes[k] || file.category_names[c] == coco_name(classes[k])) {
        ref.category_of.back() = file.category_ids[c];
        class_of_category[file.category_ids[c]] = static_cast<int64_t>(k);
      }
  }
  for (size_t c = 0; c < file.category_ids.size(); ++c) {
    if (!class_of_category.count(file.category_ids[c])) {
      unscored.push_back(file.category_names[c]);
      continue;
    }
    ref.gt.category_ids.push_back(file.category_ids[c]);
    ref.gt.category_names.push_back(file.category_names[c]);
  }
  check_input(!ref.gt.category_ids.empty(), path,
              "categories named as the model's classes (e.g. 'person')",
              "no category name in common");
  int64_t outside = 0;
  for (const GroundTruthBox& g : file.objects) {
    if (!item_of.count(g.image_id)) {
      ++outside;
      continue;
    }
    if (class_of_category.count(g.category_id)) ref.gt.objects.push_back(g);
  }
  ref.gt.source = path;
  if (log && (outside > 0 || !unscored.empty()))
    log(
        fmt::format("{}: {} objects of images not in the data left out; {} categories the model "
                    "has no class for left out",
                    path, outside, unscored.size()));
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
        ref.gt.objects.push_back({i, static_cast<int64_t>(class_of(d, classes.size())),
                                  photo_box(d, data, i), -1, false});
  }
  return ref;
}

/// Scores one row's detections against the reference: AP of every detection scored, and the
/// recall at IoU 0.5 of those at or above the threshold.
void score_row(DetectionAuditRow& row, const std::vector<std::vector<Detection>>& found,
               const DetectionReference& ref, const Dataset& data, double threshold) {
  std::vector<ScoredBox> confident;
  for (size_t i = 0; i < found.size(); ++i)
    for (const Detection& d : found[i]) {
      if (d.score >= threshold) ++row.found;
      const int64_t cat = ref.category_of[class_of(d, ref.category_of.size())];
      if (cat < 0) continue;  // a class the annotations do not score
      row.detections.push_back(
          {ref.image_id[i], cat, photo_box(d, data, static_cast<int64_t>(i)), d.score});
      if (d.score >= threshold) confident.push_back(row.detections.back());
    }
  row.metrics = evaluate_detections(ref.gt, row.detections);
  row.recall50 = evaluate_detections(ref.gt, confident, DetectionEvalOptions{{0.5}, 100}).ar100;
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

}  // namespace

std::string audit_task(const Model& model, const std::string& requested) {
  const auto* graph = dynamic_cast<const GraphModel*>(&model);
  const std::string kind = graph != nullptr ? graph->meta().task : "";
  const std::string task = kind == "detection"      ? "detect"
                           : kind == "segmentation" ? "segment"
                           : kind == "keypoints"    ? "keypoints"
                                                    : "classify";
  check_input(requested.empty() || requested == task, "--task " + requested,
              "the task of --model (" + task + ")", model.info().name + ", a " + task + " model");
  return task;
}

namespace {

/// A detector audit under way: the model, data, reference and the rows so far.
struct DetectionAuditRun {
  GraphModel& model;
  const Dataset& data;
  const AuditOptions& o;
  double scored_min;  ///< detections down to this score are scored
  DetectionReference ref;
  DetectionAuditResult& r;

  std::vector<std::vector<Detection>> detect(const torch::Tensor& images) const {
    return detect_all(model, images, o.batch, scored_min);
  }

  /// Scores `row`'s detections, prints and keeps it.
  void add(DetectionAuditRow row, const std::vector<std::vector<Detection>>& found, double since) {
    score_row(row, found, ref, data, o.score_threshold);
    row.seconds = now_seconds() - since;
    r.lines.push_back(
        fmt::format("{:<28} AP {:>6}  AP50 {:>6}  recall50@{:g} {:>6}  found {:>4}  ({:.1f}s)",
                    task_row_name(row), metric_cell(row.metrics.ap), metric_cell(row.metrics.ap50),
                    o.score_threshold, metric_cell(row.recall50), row.found, row.seconds));
    if (o.log) o.log(r.lines.back());
    r.rows.push_back(std::move(row));
  }

  /// TOG-vanishing or -fabrication on every image at one budget, batch by batch (each item
  /// its own start).
  torch::Tensor tog(const std::string& objective, const std::string& norm, double eps) const {
    const auto logits = [&](const torch::Tensor& x) { return model.class_logits(x); };
    std::vector<torch::Tensor> adv;
    Progress bar(fmt::format("tog-{} {} {}", objective, norm, budget_text(norm, eps)), data.size());
    for (int64_t b = 0; b < data.size(); b += o.batch) {
      TogOptions t;
      t.norm = norm;
      t.eps = eps;
      t.steps = o.steps;
      t.seed = o.seed;
      t.objective = objective;
      t.ids = torch::arange(b, std::min(b + o.batch, data.size()), torch::kLong);
      const torch::Tensor x = data.images.slice(0, b, b + o.batch).to(model.device());
      adv.push_back(tog_attack(logits, x, t).cpu());
      bar.update(std::min(b + o.batch, data.size()));
    }
    bar.finish();
    return torch::cat(adv);
  }

  /// Per budget: the noise baseline, TOG-vanishing (the strongest Linf one kept as the
  /// example grid's attacked row), TOG-fabrication.
  void attack_rows(const std::vector<std::vector<Detection>>& clean) {
    const auto shape = data.images.sizes().slice(1);
    const torch::Tensor ids = torch::arange(data.size(), torch::kLong);
    const std::string shown = o.linf_eps.empty() ? "l2" : "linf";  // the grid: its largest
    const auto& shown_grid = shown == "linf" ? o.linf_eps : o.l2_eps;
    const double strongest = *std::max_element(shown_grid.begin(), shown_grid.end());
    for (const auto& [norm, grid] :
         {std::pair{std::string("linf"), &o.linf_eps}, std::pair{std::string("l2"), &o.l2_eps}})
      for (double eps : *grid) {
        double since = now_seconds();
        const torch::Tensor noise = same_norm_noise(o.seed, ids, shape, norm, eps, torch::kCPU);
        add({"noise", norm, eps}, detect((data.images + noise).clamp(0, 1)), since);
        since = now_seconds();
        const torch::Tensor attacked = tog("vanishing", norm, eps);
        const auto found = detect(attacked);
        add({"tog-vanishing", norm, eps}, found, since);
        if (norm == shown && eps == strongest && o.examples > 0) {
          const int64_t k = std::min(o.examples, data.size());
          r.example_row = task_row_name(r.rows.back());
          r.example_clean = data.images.slice(0, 0, k);
          r.example_attacked = attacked.slice(0, 0, k);
          r.example_clean_boxes = labelled(clean, k, o.score_threshold);
          r.example_attacked_boxes = labelled(found, k, o.score_threshold);
        }
        since = now_seconds();
        add({"tog-fabrication", norm, eps}, detect(tog("fabrication", norm, eps)), since);
      }
  }

  /// Each common corruption at each severity (foil/corrupt/corruptions.h).
  void corruption_rows() {
    for_each_corruption(
        o.corruption, data.images, o.batch, o.seed, o.log,
        [&](const std::string& name, int severity, const torch::Tensor& x, double since) {
          DetectionAuditRow row{"corruption"};
          row.corruption = name;
          row.severity = severity;
          add(std::move(row), detect(x), since);
        });
  }
};

}  // namespace

DetectionAuditResult run_detection_audit(GraphModel& model, const Dataset& data,
                                         const AuditOptions& o) {
  check_task_audit_options(o);
  check_input(model.meta().task == "detection", model.info().name, "an object detector",
              "a " + model.meta().task + " model (--task detect needs a detector)");
  check_input(data.size() > 0, "--data", "at least one image", "none");
  const double start = now_seconds();
  DetectionAuditResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.images = data.size();
  r.options = o;
  r.options.log = {};
  const std::vector<std::string>& classes = model.meta().class_names;
  const double scored_min = std::min(kScoredMinimum, o.score_threshold);
  const auto clean = detect_all(model, data.images, o.batch, scored_min);
  DetectionAuditRun run{
      model,
      data,
      o,
      scored_min,
      o.annotations.empty()
          ? clean_reference(clean, data, classes, o.score_threshold)
          : annotated_reference(o.annotations, data, classes, r.unscored_categories, o.log),
      r};
  r.reference = run.ref.gt;
  const auto counted = std::count_if(r.reference.objects.begin(), r.reference.objects.end(),
                                     [](const GroundTruthBox& g) { return !g.crowd; });
  check_input(counted > 0, o.annotations.empty() ? "--score-threshold" : o.annotations,
              "objects to score (a lower threshold, or --annotations)",
              fmt::format("none in {} images", data.size()));
  if (o.log)
    o.log(fmt::format("{} images; reference: {} ({} objects)", data.size(), r.reference.source,
                      counted));
  run.add({"clean", "", 0}, clean, start);
  run.attack_rows(clean);
  run.corruption_rows();
  r.seconds = now_seconds() - start;
  return r;
}

nlohmann::json DetectionAuditResult::to_json() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json j = row.metrics.to_json();
    j.erase("per_category");
    j.update(task_row_json(row));
    j["recall50"] = row.recall50 > -1 ? nlohmann::json(row.recall50) : nlohmann::json();
    j["found"] = row.found;
    rows_json.push_back(j);
  }
  nlohmann::json per_category = nlohmann::json::array();
  if (!rows.empty())
    for (const auto& c : rows.front().metrics.per_category)
      if (c.objects > 0)
        per_category.push_back(
            {{"name", c.name}, {"objects", c.objects}, {"clean_ap", c.ap}, {"clean_ap50", c.ap50}});
  nlohmann::json out = {
      {"task", "detect"},
      {"model", model},
      {"data", data},
      {"images", images},
      {"reference", reference.source},
      {"reference_objects", std::count_if(reference.objects.begin(), reference.objects.end(),
                                          [](const GroundTruthBox& g) { return !g.crowd; })},
      {"unscored_categories", unscored_categories},
      {"score_threshold", options.score_threshold},
      {"scored_min_score", std::min(kScoredMinimum, options.score_threshold)},
      {"metric",
       "COCO box AP (pycocotools COCOeval: IoU 0.50:0.05:0.95, 101 recall points, at most 100 "
       "detections per image and category) of every detection down to scored_min_score, in "
       "the photos' pixels; recall50: the share of reference objects a detection at or above "
       "score_threshold covers at IoU >= 0.5; found: detections at or above score_threshold, "
       "of any class"},
      {"attack",
       {{"names", {"tog-vanishing", "tog-fabrication"}},
        {"reference", "git-disl/TOG (tog/attacks.py: tog_vanishing, tog_fabrication)"},
        {"steps", options.steps},
        {"step_size", "eps / 4"},
        {"random_start", true},
        {"differs_from_reference",
         "anchor-free detectors have no objectness branch: vanishing takes each class score at "
         "each location as an objectness, the loss the sum of -log(1 - p) = softplus(logit) "
         "over locations and classes; fabrication takes each location's best class score, the "
         "loss the sum of -log p = softplus(-max logit) over locations; the step is eps / 4 "
         "at every budget (the reference fixes 2/255, eps / 4 at its 8/255); L2 budgets take "
         "L2-normalised steps"}}},
      {"rows", rows_json},
      {"clean_per_category", per_category},
      {"seconds", seconds}};
  out.update(task_audit_json(options));
  return out;
}

void DetectionAuditResult::write(const std::string& dir_in) const {
  const std::string dir = dir_in.empty() || dir_in.back() == '/' ? dir_in : dir_in + "/";
  write_json(dir + "audit_detect.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows)
    csv.push_back({task_row_name(row), row.attack, row.norm,
                   row.norm.empty() ? "" : fmt::format("{:g}", row.eps), row.corruption,
                   row.severity > 0 ? std::to_string(row.severity) : "",
                   metric_cell(row.metrics.ap), metric_cell(row.metrics.ap50),
                   metric_cell(row.metrics.ap75), metric_cell(row.metrics.ar100),
                   metric_cell(row.recall50), std::to_string(row.found),
                   fmt::format("{:.2f}", row.seconds)});
  write_csv(dir + "audit_detect.csv",
            {"row", "attack", "norm", "eps", "corruption", "severity", "ap", "ap50", "ap75",
             "ar100", "recall50", "found", "seconds"},
            csv);
  for (const auto& row : rows) {
    if (row.attack == "corruption") continue;  // their numbers are in the rows
    std::string name = task_row_name(row);
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
