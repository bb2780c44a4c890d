// The segmenter audit (foil/jobs/segmentation_audit.h): mean IoU clean, under same-norm
// noise and under PGD, SegPGD and CosPGD, per budget.
#include "foil/jobs/segmentation_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "foil/attacks/sample_random.h"
#include "foil/attacks/seg_pgd.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/corruption_job.h"
#include "foil/jobs/task_audit.h"
#include "foil/models/graph_model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

const char* const kSegAttacks[] = {"pgd", "segpgd", "cospgd"};

/// Centres of `n` pixels of a photo axis in the model's normalised coordinates [-1, 1]
/// (grid_sample's, corners not aligned): model = photo * scale + pad.
torch::Tensor photo_axis(int64_t n, double scale, double pad, int64_t model_size) {
  const torch::Tensor c = torch::arange(n, torch::kFloat32) + 0.5;
  return (c * scale + pad) * (2.0 / static_cast<double>(model_size)) - 1;
}

/// An item's mask at its photo's resolution: its logits (1×K×h×w) resized bilinearly to the
/// photo (the crop the model saw), then the class of highest logit; without a photo, at the
/// logits' own resolution.
torch::Tensor photo_mask(const torch::Tensor& logits, const Dataset& data, int64_t item) {
  if (data.frames.empty()) return logits.argmax(1)[0].to(torch::kUInt8).cpu();
  const PhotoFrame& f = data.frames[static_cast<size_t>(item)];
  const torch::Tensor gx = photo_axis(f.width, f.scale_x, f.pad_x, data.images.size(3));
  const torch::Tensor gy = photo_axis(f.height, f.scale_y, f.pad_y, data.images.size(2));
  const auto yx = torch::meshgrid({gy, gx}, "ij");
  const torch::Tensor grid = torch::stack({yx[1], yx[0]}, -1).unsqueeze(0).to(logits.device());
  namespace F = torch::nn::functional;
  const torch::Tensor up = F::grid_sample(logits.to(torch::kFloat32), grid,
                                          F::GridSampleFuncOptions()
                                              .mode(torch::kBilinear)
                                              .padding_mode(torch::kBorder)
                                              .align_corners(false));
  return up.argmax(1)[0].to(torch::kUInt8).cpu();
}

/// An item's labels for the attacks, at the logits' resolution (`clean`: its clean prediction
/// there, h×w): the reference's photo pixel under each logit's centre (`reference`, the photo's
/// label PNG) or the clean prediction (`reference` undefined); 255 (not scored) in letterbox
/// padding.
torch::Tensor attack_labels(const torch::Tensor& reference, const torch::Tensor& clean,
                            const Dataset& data, int64_t item) {
  if (data.frames.empty()) return clean;
  const PhotoFrame& f = data.frames[static_cast<size_t>(item)];
  const auto index = [](int64_t n, int64_t model, double scale, double pad) {
    const torch::Tensor m =
        (torch::arange(n, torch::kDouble) + 0.5) * (static_cast<double>(model) / n);
    return ((m - pad) / scale).floor().to(torch::kLong);
  };
  const torch::Tensor ys = index(clean.size(0), data.images.size(2), f.scale_y, f.pad_y);
  const torch::Tensor xs = index(clean.size(1), data.images.size(3), f.scale_x, f.pad_x);
  const torch::Tensor inside = ys.ge(0)
                                   .logical_and(ys.lt(f.height))
                                   .unsqueeze(1)
                                   .logical_and(xs.ge(0).logical_and(xs.lt(f.width)).unsqueeze(0));
  const torch::Tensor picked = reference.defined() ? reference.to(torch::kLong)
                                                         .index_select(0, ys.clamp(0, f.height - 1))
                                                         .index_select(1, xs.clamp(0, f.width - 1))
                                                   : clean.to(torch::kLong);
  return torch::where(inside, picked, torch::full({}, 255, torch::kLong));
}

/// The label PNGs of the data's photos from `folder` (PHOTO-STEM.png, the photo's size; a
/// cropped photo's mask is the whole photo's, cut as the photo was).
std::vector<torch::Tensor> annotated_masks(const std::string& folder, const Dataset& data,
                                           int64_t classes) {
  check_input(!data.frames.empty(), "--annotations " + folder,
              "photos of --data (an image folder or file) to match masks to", data.source);
  std::vector<torch::Tensor> out;
  std::set<std::string> stems;
  for (const PhotoFrame& f : data.frames) {
    const std::string stem = std::filesystem::path(f.path).stem().string();
    check_input(stems.insert(stem).second, "--data " + data.source,
                "photos of different names (each names its mask STEM.png)", "'" + stem + "' twice");
    const std::string path = (std::filesystem::path(folder) / (stem + ".png")).string();
    torch::Tensor m = read_label_mask(path, classes);
    if (!f.crop.empty()) {
      check_input(m.size(0) >= f.crop[1] + f.crop[3] && m.size(1) >= f.crop[0] + f.crop[2], path,
                  "a mask covering the photo's crop", fmt::format("{}x{}", m.size(1), m.size(0)));
      m = m.slice(0, f.crop[1], f.crop[1] + f.crop[3]).slice(1, f.crop[0], f.crop[0] + f.crop[2]);
    }
    check_input(m.size(0) == f.height && m.size(1) == f.width, path,
                fmt::format("a mask of the photo's size, {}x{}", f.width, f.height),
                fmt::format("{}x{}", m.size(1), m.size(0)));
    out.push_back(m.to(torch::kUInt8));
  }
  return out;
}

/// A segmentation audit under way: the model, data, reference and the rows so far.
struct SegmentationAuditRun {
  GraphModel& model;
  const Dataset& data;
  const AuditOptions& o;
  std::vector<torch::Tensor> reference;  ///< per item, photo resolution (uint8)
  torch::Tensor targets;                 ///< N×h×w reference labels at the logits' resolution
  SegmentationAuditResult& r;

  /// Logits of `images` batch by batch (no gradient), on the CPU.
  torch::Tensor logits_of(const torch::Tensor& images) const {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < images.size(0); b += o.batch)
      parts.push_back(model.forward(images.slice(0, b, b + o.batch).to(model.device())).cpu());
    return torch::cat(parts);
  }

  /// Scores `images`' masks against the reference, prints and keeps the row; returns the
  /// masks at the logits' resolution.
  torch::Tensor add(SegmentationAuditRow row, const torch::Tensor& images, double since) {
    const torch::Tensor logits = logits_of(images);
    const int64_t k = logits.size(1);
    torch::Tensor cm = torch::zeros({k, k}, torch::kLong);
    for (int64_t i = 0; i < images.size(0); ++i)
      cm += confusion_matrix(reference[static_cast<size_t>(i)],
                             photo_mask(logits.slice(0, i, i + 1), data, i), k);
    row.metrics = segmentation_metrics(cm, r.class_names);
    row.seconds = now_seconds() - since;
    r.lines.push_back(fmt::format("{:<28} mIoU {:>6}  pixel accuracy {:>6}  ({:.1f}s)",
                                  task_row_name(row), metric_cell(row.metrics.miou),
                                  metric_cell(row.metrics.pixel_accuracy), row.seconds));
    if (o.log) o.log(r.lines.back());
    r.rows.push_back(std::move(row));
    return logits.argmax(1);
  }

  /// One attack on every image at one budget, batch by batch (each item its own start).
  torch::Tensor attack(const std::string& loss, const std::string& norm, double eps) const {
    const PixelLogits logits = [&](const torch::Tensor& x) { return model.forward(x); };
    std::vector<torch::Tensor> adv;
    Progress bar(fmt::format("{} {} {}", loss, norm, budget_text(norm, eps)), data.size());
    for (int64_t b = 0; b < data.size(); b += o.batch) {
      SegAttackOptions a;
      a.loss = loss;
      a.norm = norm;
      a.eps = eps;
      a.steps = o.steps;
      a.seed = o.seed;
      a.ids = torch::arange(b, std::min(b + o.batch, data.size()), torch::kLong);
      const torch::Tensor x = data.images.slice(0, b, b + o.batch).to(model.device());
      adv.push_back(segmentation_attack(logits, x, targets.slice(0, b, b + o.batch), a).cpu());
      bar.update(std::min(b + o.batch, data.size()));
    }
    bar.finish();
    return torch::cat(adv);
  }

  /// Per budget: the noise baseline, then PGD, SegPGD and CosPGD; the example grid shows the
  /// attack of lowest mIoU at the largest budget of the first norm.
  void attack_rows(const torch::Tensor& clean_masks) {
    const auto shape = data.images.sizes().slice(1);
    const torch::Tensor ids = torch::arange(data.size(), torch::kLong);
    const std::string shown = o.linf_eps.empty() ? "l2" : "linf";
    const auto& shown_grid = shown == "linf" ? o.linf_eps : o.l2_eps;
    const double strongest = *std::max_element(shown_grid.begin(), shown_grid.end());
    double lowest = 2;
    for (const auto& [norm, grid] :
         {std::pair{std::string("linf"), &o.linf_eps}, std::pair{std::string("l2"), &o.l2_eps}})
      for (double eps : *grid) {
        double since = now_seconds();
        const torch::Tensor noise = same_norm_noise(o.seed, ids, shape, norm, eps, torch::kCPU);
        add({"noise", norm, eps}, (data.images + noise).clamp(0, 1), since);
        for (const char* loss : kSegAttacks) {
          since = now_seconds();
          const torch::Tensor attacked = attack(loss, norm, eps);
          const torch::Tensor masks = add({loss, norm, eps}, attacked, since);
          const double miou = r.rows.back().metrics.miou;
          if (norm != shown || eps != strongest || o.examples == 0 || miou >= lowest) continue;
          lowest = miou;
          const int64_t k = std::min(o.examples, data.size());
          r.example_row = task_row_name(r.rows.back());
          r.example_clean = data.images.slice(0, 0, k);
          r.example_attacked = attacked.slice(0, 0, k);
          r.example_clean_masks = clean_masks.slice(0, 0, k);
          r.example_attacked_masks = masks.slice(0, 0, k);
        }
      }
  }

  /// Each common corruption at each severity (foil/corrupt/corruptions.h).
  void corruption_rows() {
    for_each_corruption(
        o.corruption, data.images, o.batch, o.seed, o.log,
        [&](const std::string& name, int severity, const torch::Tensor& x, double since) {
          SegmentationAuditRow row{"corruption"};
          row.corruption = name;
          row.severity = severity;
          add(std::move(row), x, since);
        });
  }
};

}  // namespace

SegmentationAuditResult run_segmentation_audit(GraphModel& model, const Dataset& data,
                                               const AuditOptions& o) {
  check_task_audit_options(o);
  check_input(model.meta().task == "segmentation", model.info().name, "a semantic segmenter",
              "a " + model.meta().task + " model (--task segment needs a segmenter)");
  check_input(data.size() > 0, "--data", "at least one image", "none");
  const double start = now_seconds();
  SegmentationAuditResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.images = data.size();
  r.class_names = model.meta().class_names;
  r.options = o;
  r.options.log = {};
  const auto classes = static_cast<int64_t>(r.class_names.size());
  // Masks hold 8-bit labels, 255 not scored (as label PNGs).
  check_input(classes >= 1 && classes <= 255, model.info().name, "1 to 255 classes",
              std::to_string(classes));
  SegmentationAuditRun run{model, data, o, {}, {}, r};
  if (!o.annotations.empty()) {  // read (and checked) before anything slow
    r.reference = "label PNGs in " + o.annotations;
    run.reference = annotated_masks(o.annotations, data, classes);
  }
  const torch::Tensor clean = run.logits_of(data.images);
  const torch::Tensor clean_argmax = clean.argmax(1);
  std::vector<torch::Tensor> targets;
  for (int64_t i = 0; i < data.size(); ++i) {
    const bool own = o.annotations.empty();
    if (own) run.reference.push_back(photo_mask(clean.slice(0, i, i + 1), data, i));
    targets.push_back(attack_labels(own ? torch::Tensor() : run.reference[static_cast<size_t>(i)],
                                    clean_argmax[i], data, i));
  }
  run.targets = torch::stack(targets);
  if (o.annotations.empty()) r.reference = "the model's clean masks";
  if (o.log) o.log(fmt::format("{} images; reference: {}", data.size(), r.reference));
  const torch::Tensor clean_masks = run.add({"clean", "", 0}, data.images, start);
  check_input(r.rows.front().metrics.pixels > 0, "--annotations " + o.annotations,
              "pixels to score (labels other than 255)", "none");
  run.attack_rows(clean_masks);
  run.corruption_rows();
  r.seconds = now_seconds() - start;
  return r;
}

nlohmann::json SegmentationAuditResult::to_json() const {
  nlohmann::json rows_json = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json j = row.metrics.to_json();
    j.update(task_row_json(row));
    rows_json.push_back(j);
  }
  nlohmann::json out = {
      {"task", "segment"},
      {"model", model},
      {"data", data},
      {"images", images},
      {"classes", class_names},
      {"reference", reference},
      {"metric",
       "mean IoU over the classes with a non-empty union and pixel accuracy, from one confusion "
       "matrix over every pixel of every image (reference label 255 not scored), at the photos' "
       "own resolution (logits resized bilinearly, then argmax)"},
      {"attacks",
       {{"names", {"pgd", "segpgd", "cospgd"}},
        {"reference", "shashankskagnihotri/cospgd (attack_implementations.py: SegPGD and CosPGD)"},
        {"pgd", "the mean pixel cross-entropy"},
        {"segpgd",
         "(1 - lambda) CE on pixels predicted right, lambda CE on the rest, lambda = t / (2T)"},
        {"cospgd", "CE times the detached cosine of softmax(logits) and the one-hot label"},
        {"labels", "the reference's, at the logits' resolution"},
        {"steps", options.steps},
        {"step_size", "eps / 3 (Linf), 0.4 eps (L2): the ratios of the reference's sweep"},
        {"random_start", true},
        {"differs_from_reference",
         "each image's loss is divided by its own pixel count (the reference divides the batch "
         "sum by H*W or the batch's pixel count): the same steps, independent of the batch"}}},
      {"rows", rows_json},
      {"seconds", seconds}};
  out.update(task_audit_json(options));
  return out;
}

void SegmentationAuditResult::write(const std::string& dir_in) const {
  const std::string dir = dir_in.empty() || dir_in.back() == '/' ? dir_in : dir_in + "/";
  write_json(dir + "audit_segment.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows) {
    std::vector<std::string> cells = {task_row_name(row),
                                      row.attack,
                                      row.norm,
                                      row.norm.empty() ? "" : fmt::format("{:g}", row.eps),
                                      row.corruption,
                                      row.severity > 0 ? std::to_string(row.severity) : "",
                                      metric_cell(row.metrics.miou),
                                      metric_cell(row.metrics.pixel_accuracy)};
    for (double v : row.metrics.iou) cells.push_back(metric_cell(v));
    cells.push_back(fmt::format("{:.2f}", row.seconds));
    csv.push_back(cells);
  }
  std::vector<std::string> header = {"row",        "attack",   "norm", "eps",
                                     "corruption", "severity", "miou", "pixel_accuracy"};
  for (const auto& name : class_names) header.push_back("iou_" + name);
  header.push_back("seconds");
  write_csv(dir + "audit_segment.csv", header, csv);
  if (!example_clean.defined() || example_clean.size(0) == 0) return;
  std::vector<std::vector<GridCell>> grid(2);
  const auto share = [](const torch::Tensor& m) {
    return fmt::format("{:.0f}% not background",
                       100 * m.gt(0).to(torch::kFloat).mean().item<double>());
  };
  for (int64_t i = 0; i < example_clean.size(0); ++i) {
    grid[0].push_back(
        {draw_mask(example_clean[i], example_clean_masks[i]), share(example_clean_masks[i])});
    grid[1].push_back({draw_mask(example_attacked[i], example_attacked_masks[i]),
                       share(example_attacked_masks[i]),
                       !example_attacked_masks[i].equal(example_clean_masks[i])});
  }
  write_image_grid(dir + "examples.png", grid, {"clean", example_row}, 224);
}

}  // namespace foil
