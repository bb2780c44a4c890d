// What the patch commands share: their data, task, evaluations as JSON and pictures.
#include "foil/jobs/patch_jobs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <limits>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// A rate, or null where it is undefined (< 0).
nlohmann::json rate_or_null(double r) { return r < 0 ? nlohmann::json() : nlohmann::json(r); }

bool same_source(const std::string& a, const std::string& b) {
  const DataSpec x = parse_data_spec(a), y = parse_data_spec(b);
  if (x.kind != y.kind) return false;
  if (x.kind == DataSpec::Kind::kFashionMnist) return x.path == y.path;
  std::error_code ec;
  if (!std::filesystem::equivalent(x.path, y.path, ec)) return false;
  if (x.kind != DataSpec::Kind::kVideo) return true;
  // One video split by time: held out when the frame ranges do not overlap.
  const auto last = [](const DataSpec& d) {
    return d.last_frame < 0 ? std::numeric_limits<int64_t>::max() : d.last_frame;
  };
  return x.first_frame <= last(y) && y.first_frame <= last(x);
}

}  // namespace

std::vector<Dataset> open_patch_data(const std::string& spec,
                                     const std::vector<std::shared_ptr<Model>>& models,
                                     int64_t target, const Log& log) {
  std::vector<Dataset> per_model;
  for (const auto& m : models) per_model.push_back(open_data(spec, *m));
  label_unlabelled(per_model.front(), *models.front(), log);
  for (auto& d : per_model) {  // the same items, labelled as the first model labels them
    d.labels = per_model.front().labels;
    d.class_names = per_model.front().class_names;
  }
  const int64_t k = models.front()->info().num_classes;
  if (target >= 0)
    check_input(k <= 0 || target < k, "--target", fmt::format("a class in 0..{}", k - 1),
                std::to_string(target));
  return per_model;
}

std::string default_patch_loss(const std::string& task) {
  return task == "detect" ? "vanish" : "ce";
}

int64_t resolve_patch_task(const std::string& task, const std::string& cls, int64_t target,
                           const std::string& loss, const PlacementOptions& placement,
                           const std::vector<std::shared_ptr<Model>>& models) {
  check_input(task == "classify" || task == "detect", "--task", "classify or detect", task);
  if (task == "classify") {
    check_input(cls.empty(), "--class", "--task detect (classifiers take --target)", cls);
    check_input(placement.on_object() < 0, "--on-object", "--task detect (on a detected object)",
                "--task classify");
    check_input(loss != "vanish" && loss != "appear", "--loss " + loss,
                "--task detect (vanish and appear work on detections)", "--task classify");
    return target;
  }
  for (const auto& m : models) {
    const auto* tfjs = dynamic_cast<const GraphModel*>(m.get());
    check_input(tfjs && tfjs->meta().task == "detection", "--task detect", "object detectors",
                "model " + m->info().name + " (" +
                    (tfjs ? "a " + tfjs->meta().task + " model" : std::string("not a detector")) +
                    ")");
  }
  check_input(target < 0, "--target", "--class with --task detect", std::to_string(target));
  const auto& names = models.front()->info().class_names;
  check_input(!cls.empty(), "--class", "a class name or index of the detector, or all", "none");
  if (cls == "all") {
    check_input(loss != "appear", "--class all", "one class for --loss appear", "all");
    return -1;
  }
  const auto it = std::find(names.begin(), names.end(), cls);
  if (it != names.end()) return it - names.begin();
  const bool digits = cls.find_first_not_of("0123456789") == std::string::npos;
  check_input(digits && cls.size() < 6 && std::stoll(cls) < static_cast<int64_t>(names.size()),
              "--class",
              fmt::format("a class of the detector ({}, {}, ... {}), its index, or all", names[0],
                          names[1], names.back()),
              "'" + cls + "'");
  return std::stoll(cls);
}

PatchSplit split_patch_data(const Dataset& data, const std::string& spec,
                            const std::string& eval_spec, bool eval_on_train, Model& model,
                            const Log& log) {
  PatchSplit s;
  s.eval_on_train = eval_on_train;
  if (eval_on_train) {
    s.train = s.eval = data;
    s.train_source = s.eval_source = data.source + " (the training items)";
    return s;  // not held out: no eval_spec to keep apart
  }
  s.train = data;
  s.train_source = data.source;
  if (!eval_spec.empty()) {
    s.eval = open_data(eval_spec, model, true, "--eval-data");  // read first: errors name it
    check_input(!same_source(spec, eval_spec), "--eval-data " + eval_spec,
                "images held out from the training data " + spec +
                    " (or --eval-on-train to evaluate on training items)",
                "the same source");
    label_unlabelled(s.eval, model, log);
    s.eval_source = s.eval.source;
    s.eval_spec = eval_spec;
    return s;
  }
  const DataSpec d = parse_data_spec(spec);
  if (d.kind == DataSpec::Kind::kFashionMnist) {
    const std::string other =
        d.path == "train" ? "fashion-mnist:test:1000" : "fashion-mnist:train:1000";
    s.eval = open_data(other, model);
    s.eval_source = s.eval.source;
    s.eval_spec = other;
    return s;
  }
  check_input(data.size() >= 5, "--data " + spec,
              "at least 5 images to hold out a fifth for evaluation (or --eval-data, or "
              "--eval-on-train)",
              std::to_string(data.size()) + " image(s)");
  const Dataset mixed = data.shuffled(0);
  const int64_t cut = data.size() - data.size() / 5;
  s.train = mixed.slice(0, cut);
  s.eval = mixed.slice(cut, data.size());
  s.train_source = fmt::format("{} (80% split: {} items)", data.source, cut);
  s.eval_source = fmt::format("{} (held-out 20% split: {} items)", data.source, s.eval.size());
  s.eval_spec = spec;
  return s;
}

torch::Tensor target_class_images(const std::string& spec, const std::string& eval_spec,
                                  Model& model, int64_t target, const Log& log) {
  Dataset d = open_data(spec, model, true, "--target-data");  // read first: errors name the flag
  check_input(eval_spec.empty() || !same_source(spec, eval_spec), "--target-data " + spec,
              "images apart from the evaluation data " + eval_spec, "the same source");
  label_unlabelled(d, model, log);
  const torch::Tensor idx = d.labels.eq(target).nonzero().flatten();
  check_input(idx.numel() > 0, "--target-data " + spec,
              fmt::format("images of the target class {} ({})", target, class_name(d, target)),
              fmt::format("none among its {} image(s)", d.size()));
  if (log)
    log(fmt::format("target distribution: {} image(s) of {} from {}", idx.numel(),
                    class_name(d, target), d.source));
  return d.images.index_select(0, idx);
}

PlacementOptions evaluation_placement(const PlacementOptions& p) {
  return PlacementOptions().keep_out(p.keep_out()).on_object(p.on_object()).objects(p.objects());
}

Patch patch_at_size(const Patch& p, const Dataset& data) {
  const ImageShape shape = shape_of(data);
  torch::Tensor params = p.params().detach();
  if (params.size(0) == 1 && shape.channels == 3) params = params.expand({3, -1, -1}).clone();
  if (params.size(0) == 3 && shape.channels == 1)
    params = (torch::tensor({0.299, 0.587, 0.114}, params.options()).view({3, 1, 1}) * params)
                 .sum(0, true);
  return Patch::from_params(params, p.options(), shape);
}

Patch random_patch_like(const Patch& p, const Dataset& data, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return Patch::from_params(torch::rand(p.params().sizes(), gen), p.options(), shape_of(data));
}

double detection_threshold(const Model& detector) {
  return dynamic_cast<const GraphModel&>(detector).meta().min_score;
}

nlohmann::json to_json(const PatchEvaluation& e) {
  return {{"n", e.n},
          {"repeats", e.repeats},
          {"clean_accuracy", e.clean_accuracy},
          {"patched_accuracy", e.patched_accuracy},
          {"fooling_rate", e.fooling_rate},
          {"target_success", rate_or_null(e.target_success)},
          {"clean_target_rate", rate_or_null(e.clean_target_rate)}};
}

nlohmann::json to_json(const DetectionPatchEvaluation& e) {
  return {{"n", e.n},
          {"repeats", e.repeats},
          {"threshold", e.threshold},
          {"clean_detection_rate", e.clean_detection_rate},
          {"patched_detection_rate", e.patched_detection_rate},
          {"hidden_rate", rate_or_null(e.hidden_rate)},
          {"appeared_rate", rate_or_null(e.appeared_rate)},
          {"clean_boxes", e.clean_boxes},
          {"box_recall", rate_or_null(e.box_recall)},
          {"boxes_under_patch", e.boxes_under_patch},
          {"under_patch_recall", rate_or_null(e.under_patch_recall)}};
}

std::string detection_line(const DetectionPatchEvaluation& e) {
  auto rate = [](double r) { return r < 0 ? std::string("-") : fmt::format("{:.2f}%", 100 * r); };
  return fmt::format(
      "detected clean {:.2f}%  patched {:.2f}%  hidden {}  appeared {}  boxes still found {} of "
      "{} (under the patch {} of {})",
      100 * e.clean_detection_rate, 100 * e.patched_detection_rate, rate(e.hidden_rate),
      rate(e.appeared_rate), rate(e.box_recall), e.clean_boxes, rate(e.under_patch_recall),
      e.boxes_under_patch);
}

std::string tsuc_text(const PatchEvaluation& e) {
  return fmt::format("{:.2f}% (clean {:.2f}%)", 100 * e.target_success, 100 * e.clean_target_rate);
}

nlohmann::json placement_json(const PlacementOptions& placement) {
  if (placement.on_object() < 0) return "anywhere";
  return {{"on_object", placement.on_object()}, {"objects", placement.objects()}};
}

nlohmann::json item_list(const Dataset& d) {
  if (d.frames.empty()) return nullptr;
  nlohmann::json items = nlohmann::json::array();
  for (const auto& f : d.frames)
    items.push_back(f.crop.empty() ? f.path : fmt::format("{}@{}", f.path, fmt::join(f.crop, ",")));
  return items;
}

std::string class_name(const Dataset& d, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(d.class_names.size()) ? d.class_names[k]
                                                                  : std::to_string(k);
}

void write_patch_png(const std::string& path, const Patch& p) {
  const torch::Tensor px = p.render().detach() * p.mask();
  write_image_grid(
      path, {{{px, fmt::format("{}x{} {}", p.side(), p.side(), p.options().param()), false}}},
      {"patch"}, 224);
}

void write_patched_grid(const std::string& path, Model& model, const Dataset& data, const Patch& p,
                        const PlacementOptions& placement, uint64_t seed) {
  const int64_t k = std::min<int64_t>(8, data.size());
  const Dataset d = data.head(k);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto places = sample_placements(p, k, shape_of(d), placement, gen);
  torch::NoGradGuard g;
  const torch::Tensor x = d.images.to(model.device());
  const torch::Tensor xp = apply_patch(x, p.render().detach(), p.mask(), places, placement);
  const torch::Tensor pc = model.forward(x).argmax(1).cpu(), pp = model.forward(xp).argmax(1).cpu();
  std::vector<std::vector<GridCell>> rows(2);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t y = d.labels[i].item<int64_t>();
    rows[0].push_back(
        {d.images[i], class_name(d, pc[i].item<int64_t>()), pc[i].item<int64_t>() != y});
    rows[1].push_back(
        {xp[i].cpu(), class_name(d, pp[i].item<int64_t>()), pp[i].item<int64_t>() != y});
  }
  write_image_grid(path, rows, {"clean", "patched"});
}

void write_detections(const std::string& path, Model& model, const Dataset& data, const Patch& p,
                      const PlacementOptions& placement, int64_t cls, uint64_t seed) {
  const auto& detector = dynamic_cast<const GraphModel&>(model);
  const int64_t k = std::min<int64_t>(4, data.size());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  torch::NoGradGuard g;
  const torch::Tensor x = data.images.slice(0, 0, k).to(model.device());
  const auto places = sample_object_placements(
      p, k, shape_of(data), placement, gen,
      placement.on_object() >= 0 ? object_boxes_each(model, x, cls, placement.objects())
                                 : std::vector<std::vector<ObjectBox>>{});
  const torch::Tensor xp = apply_patch_each(x, p.render().detach(), p.mask(), places, placement);
  std::vector<std::vector<GridCell>> rows;
  for (const torch::Tensor& images : {x, xp}) {
    const auto found = detector.detect(images);
    rows.emplace_back();
    for (int64_t i = 0; i < k; ++i) {
      std::vector<LabelledBox> boxes;
      for (const auto& d : found[i])
        boxes.push_back({d.x1, d.y1, d.x2, d.y2, fmt::format("{} {:.0f}%", d.name, 100 * d.score),
                         static_cast<int>(d.cls)});
      rows.back().push_back(
          {draw_boxes(images[i].cpu(), boxes), fmt::format("{} objects", found[i].size()), false});
    }
  }
  write_image_grid(path, rows, {"clean", "patched"}, 224);
}

}  // namespace foil
