// foil patch train|eval|transfer: universal adversarial patches (printable grid or free
// pixels; cross-entropy, feature-point or optimal-transport objectives).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/models/tfjs.h"
#include "foil/patch/trainer.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

/// Flags shared by the three patch commands.
struct PatchFlags {
  std::vector<std::string> models;
  std::string mean, std, input_shape;
  std::string data = "fashion-mnist:train:2000";
  std::string param = "grid";
  int64_t cells = 10;
  double area = 0.15;
  std::string shape = "square", init = "grey";
  double keep_out = 0;
  double on_object = -1;  ///< detect: fraction of the object box the patch centre falls in
  bool eot = false;
  double rotation = 10, brightness = 0.1, noise = 0.1, tilt = 5;
  std::string scale = "0.8,1.2", contrast = "0.8,1.2";
  int64_t target = -1;
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (name, index or all)
};

struct TrainFlags {
  std::string loss;  ///< default: ce (classify), vanish (detect)
  std::string layers, layer_weights;
  int64_t projections = 500, epochs = 5, batch = 64, max_target = 500;
  bool exact_1d = false, resume = true;
  std::string optimizer = "adam";
  double lr = 0.05, tv = 0;
};

void add_patch_flags(CLI::App* sub, PatchFlags& f, bool many_models) {
  auto* m = sub->add_option("--model", f.models,
                            many_models ? "models (repeat the flag: --model a.foil --model b.pt)"
                                        : "source model(s); several form an ensemble");
  m->required();
  sub->add_option("--mean", f.mean, "per-channel mean the models expect");
  sub->add_option("--std", f.std, "per-channel std the models expect");
  sub->add_option("--input-shape", f.input_shape, "C,H,W for TorchScript models");
  sub->add_option("--data", f.data,
                  many_models ? "data spec (patch eval: the images to evaluate on; transfer: the "
                                "training images)"
                              : "training images (data spec)")
      ->capture_default_str();
  sub->add_option("--param", f.param, "grid (printable cells) or free")->capture_default_str();
  sub->add_option("--cells", f.cells, "grid cells per side")
      ->check(integer_in(1, 256))
      ->capture_default_str();
  sub->add_option("--area", f.area, "patch area as a fraction of the image, (0, 0.5]")
      ->capture_default_str();
  sub->add_option("--shape", f.shape, "square or circle")->capture_default_str();
  sub->add_option("--init", f.init, "starting patch: grey (0.5 everywhere) or random")
      ->capture_default_str();
  sub->add_option("--keep-out", f.keep_out, "central fraction of the image the patch avoids")
      ->capture_default_str();
  sub->add_option("--on-object", f.on_object,
                  "--task detect: put the patch on the object, its centre in this central "
                  "fraction of the box of the class's best detection (0: the box centre, 1: "
                  "anywhere in the box; images without one: anywhere)")
      ->check(number_in(0, 1));
  sub->add_flag("--eot", f.eot,
                "expectation over transformation (scale, rotation, brightness, "
                "contrast, noise)");
  sub->add_option("--scale", f.scale, "EOT area scale range min,max")->capture_default_str();
  sub->add_option("--rotation", f.rotation, "EOT rotation +- degrees")
      ->check(number_in(0, 180))
      ->capture_default_str();
  sub->add_option("--brightness", f.brightness, "EOT brightness +-")
      ->check(number_in(0, 1))
      ->capture_default_str();
  sub->add_option("--contrast", f.contrast, "EOT contrast range min,max")->capture_default_str();
  sub->add_option("--noise", f.noise, "EOT Gaussian noise sigma")
      ->check(number_in(0, 1))
      ->capture_default_str();
  sub->add_option("--tilt", f.tilt, "EOT perspective tilt about x and y, +- degrees")
      ->capture_default_str();
  sub->add_option("--target", f.target, "target class index (default: untargeted)")
      ->check(integer_in(0, INT64_MAX));
  sub->add_option("--task", f.task,
                  "classify, or detect: the models are object detectors and the patch works on "
                  "the detections of --class")
      ->capture_default_str();
  sub->add_option("--class", f.cls, "--task detect: the class, by name or index, or all");
}

void add_train_flags(CLI::App* sub, TrainFlags& t) {
  sub->add_option("--loss", t.loss,
                  "ce, feature or ot (default ce); with --task detect also vanish (hide the "
                  "class: lower its best score) or appear (raise it), default vanish");
  sub->add_option("--layers", t.layers,
                  "taps for feature/ot, comma-separated (default: the "
                  "second-to-last layer)");
  sub->add_option("--layer-weights", t.layer_weights, "one weight per layer");
  sub->add_option("--projections", t.projections, "sliced Wasserstein directions per step")
      ->check(integer_in(1, 100000))
      ->capture_default_str();
  sub->add_flag("--exact-1d", t.exact_1d, "OT: exact 1-D W2 per feature axis instead");
  sub->add_option("--max-target-images", t.max_target, "clean target-class images for OT/feature")
      ->check(integer_in(1, 1000000))
      ->capture_default_str();
  sub->add_option("--epochs", t.epochs, "epochs")
      ->check(integer_in(1, kMaxEpochs))
      ->capture_default_str();
  sub->add_option("--batch", t.batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--optimizer", t.optimizer, "adam or sgd (momentum 0.9)")->capture_default_str();
  sub->add_option("--lr", t.lr, "learning rate")
      ->check(number_in(0, 1e6, true))
      ->capture_default_str();
  sub->add_option("--tv", t.tv, "total-variation weight")
      ->check(number_in(0, 1e6))
      ->capture_default_str();
}

std::pair<double, double> range_of(const std::string& text, const std::string& flag) {
  const auto v = parse_number_list(text, flag);
  check_input(v.size() == 2 && v[0] <= v[1], flag, "min,max with min <= max", text);
  return {v[0], v[1]};
}

PatchOptions patch_options(const PatchFlags& f) {
  return PatchOptions().param(f.param).cells(f.cells).area(f.area).shape(f.shape).init(f.init);
}

PlacementOptions placement_options(const PatchFlags& f) {
  const auto [s0, s1] = range_of(f.scale, "--scale");
  const auto [c0, c1] = range_of(f.contrast, "--contrast");
  check_input(c0 > 0, "--contrast", "contrast factors > 0 (1 = unchanged)", f.contrast);
  check_input(s0 > 0, "--scale", "area scales > 0 (1 = the --area)", f.scale);
  const auto o = PlacementOptions()
                     .keep_out(f.keep_out)
                     .on_object(f.on_object)
                     .eot(f.eot)
                     .scale_min(s0)
                     .scale_max(s1)
                     .rotation(f.rotation)
                     .brightness(f.brightness)
                     .contrast_min(c0)
                     .contrast_max(c1)
                     .noise(f.noise)
                     .tilt(f.tilt);
  check_placement_options(o);
  return o;
}

/// Where evaluations put the patch: as in training, without EOT.
PlacementOptions eval_placement(const PatchFlags& f) {
  return PlacementOptions().keep_out(f.keep_out).on_object(f.on_object);
}

ObjectiveOptions objective_options(const TrainFlags& t, int64_t target) {
  auto o = ObjectiveOptions()
               .loss(t.loss)
               .target(target)
               .layers(split_commas(t.layers))
               .projections(t.projections)
               .exact_1d(t.exact_1d)
               .max_target_images(t.max_target);
  if (!t.layer_weights.empty()) {
    const auto w = parse_number_list(t.layer_weights, "--layer-weights");
    const bool ok = std::all_of(w.begin(), w.end(), [](double x) { return x >= 0; }) &&
                    std::any_of(w.begin(), w.end(), [](double x) { return x > 0; });
    check_input(ok, "--layer-weights", "weights >= 0, at least one > 0", t.layer_weights);
    o.weights(w);
  }
  return o;
}

struct Loaded {
  std::vector<std::shared_ptr<Model>> models;
  Dataset data;                    ///< at the first model's input size
  std::vector<Dataset> per_model;  ///< the same items at each model's input size
};

Loaded load_all(const PatchFlags& f, c10::Device device) {
  Loaded l;
  for (const auto& path : f.models) {
    l.models.push_back(open_model({path, f.mean, f.std, f.input_shape}, device));
    l.per_model.push_back(open_run_data(f.data, *l.models.back()));
  }
  l.data = l.per_model.front();
  label_unlabelled(l.data, *l.models.front(), print_line);
  for (auto& d : l.per_model) {  // the same items, labelled as the first model labels them
    d.labels = l.data.labels;
    d.class_names = l.data.class_names;
  }
  const int64_t k = l.models.front()->info().num_classes;
  if (f.target >= 0)
    check_input(k <= 0 || f.target < k, "--target", fmt::format("a class in 0..{}", k - 1),
                std::to_string(f.target));
  return l;
}

/// The detection threshold of a detector (the score a detection needs).
double detection_threshold(const Model& m) {
  return dynamic_cast<const TfjsModel&>(m).meta().min_score;
}

/// Checks --task/--class/--loss against the models; for --task detect returns the class
/// index (-1: all) in f.target, which is what the objectives and evaluations take.
void resolve_task(PatchFlags& f, TrainFlags* t, const Loaded& l) {
  check_input(f.task == "classify" || f.task == "detect", "--task", "classify or detect", f.task);
  if (t && t->loss.empty()) t->loss = f.task == "detect" ? "vanish" : "ce";
  if (f.task == "classify") {
    check_input(f.cls.empty(), "--class", "--task detect (classifiers take --target)", f.cls);
    check_input(f.on_object < 0, "--on-object", "--task detect (on a detected object)",
                "--task classify");
    check_input(!t || (t->loss != "vanish" && t->loss != "appear"), "--loss " + (t ? t->loss : ""),
                "--task detect (vanish and appear work on detections)", "--task classify");
    return;
  }
  for (const auto& m : l.models) {
    const auto* tfjs = dynamic_cast<const TfjsModel*>(m.get());
    check_input(tfjs && tfjs->meta().task == "detection", "--task detect", "object detectors",
                "model " + m->info().name + " (" +
                    (tfjs ? "a " + tfjs->meta().task + " model" : std::string("not a detector")) +
                    ")");
  }
  check_input(f.target < 0, "--target", "--class with --task detect", std::to_string(f.target));
  const auto& names = l.models.front()->info().class_names;
  check_input(!f.cls.empty(), "--class", "a class name or index of the detector, or all", "none");
  if (f.cls == "all") {
    check_input(!t || t->loss != "appear", "--class all", "one class for --loss appear", "all");
    return;
  }
  const auto it = std::find(names.begin(), names.end(), f.cls);
  if (it != names.end()) {
    f.target = it - names.begin();
    return;
  }
  const bool digits = f.cls.find_first_not_of("0123456789") == std::string::npos;
  check_input(digits && f.cls.size() < 6 && std::stoll(f.cls) < static_cast<int64_t>(names.size()),
              "--class",
              fmt::format("a class of the detector ({}, {}, ... {}), its index, or all", names[0],
                          names[1], names.back()),
              "'" + f.cls + "'");
  f.target = std::stoll(f.cls);
}

/// Clean and patched images of the first few items with the detector's boxes drawn.
void write_detections(const std::string& path, Model& model, const Dataset& data, const Patch& p,
                      const PlacementOptions& placement, int64_t cls, uint64_t seed) {
  const auto& detector = dynamic_cast<const TfjsModel&>(model);
  const int64_t k = std::min<int64_t>(4, data.size());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const ImageShape shape{data.images.size(1), data.images.size(2), data.images.size(3)};
  torch::NoGradGuard g;
  const torch::Tensor x = data.images.slice(0, 0, k).to(model.device());
  const auto places = sample_placements(
      p, k, shape, placement, gen,
      placement.on_object() >= 0 ? object_boxes(model, x, cls) : std::vector<ObjectBox>{});
  const torch::Tensor xp = apply_patch(x, p.render().detach(), p.mask(), places, placement);
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

/// Where evaluations placed the patch: "anywhere", or the central fraction of the object box.
nlohmann::json placement_json(const PatchFlags& f) {
  return f.on_object < 0 ? nlohmann::json("anywhere")
                         : nlohmann::json({{"on_object", f.on_object}});
}

/// A rate, or null where it is undefined (< 0).
nlohmann::json rate_or_null(double r) { return r < 0 ? nlohmann::json() : nlohmann::json(r); }

nlohmann::json detection_json(const DetectionPatchEvaluation& e) {
  return {{"n", e.n},
          {"repeats", e.repeats},
          {"threshold", e.threshold},
          {"clean_detection_rate", e.clean_detection_rate},
          {"patched_detection_rate", e.patched_detection_rate},
          {"hidden_rate", rate_or_null(e.hidden_rate)},
          {"appeared_rate", rate_or_null(e.appeared_rate)}};
}

std::string detection_line(const DetectionPatchEvaluation& e) {
  auto rate = [](double r) { return r < 0 ? std::string("-") : fmt::format("{:.2f}%", 100 * r); };
  return fmt::format("detected clean {:.2f}%  patched {:.2f}%  hidden {}  appeared {}",
                     100 * e.clean_detection_rate, 100 * e.patched_detection_rate,
                     rate(e.hidden_rate), rate(e.appeared_rate));
}

/// Training and evaluation data of patch train/transfer, and where each came from.
struct Split {
  Dataset train, eval;
  std::string train_source, eval_source;
  bool eval_on_train = false;
};

bool same_source(const std::string& a, const std::string& b) {
  const DataSpec x = parse_data_spec(a), y = parse_data_spec(b);
  if (x.kind != y.kind) return false;
  if (x.kind == DataSpec::Kind::kFashionMnist) return x.path == y.path;
  std::error_code ec;
  return std::filesystem::equivalent(x.path, y.path, ec);
}

/// Evaluation data for a patch trained on `train`: --eval-data when given (refused when it
/// comes from the training source, unless --eval-on-train); else, for Fashion-MNIST, the first
/// 1000 items of the other split; else a fixed 80/20 split of the items (seed 0), training on
/// the 80%. --eval-on-train evaluates on the training items themselves, labelled so.
Split split_data(Dataset data, const std::string& spec, const std::string& eval_spec,
                 bool eval_on_train, Model& model) {
  Split s;
  s.eval_on_train = eval_on_train;
  if (eval_on_train) {
    s.train = s.eval = data;
    s.train_source = s.eval_source = data.source + " (the training items)";
    return s;
  }
  s.train = data;
  s.train_source = data.source;
  if (!eval_spec.empty()) {
    check_input(!same_source(spec, eval_spec), "--eval-data " + eval_spec,
                "images held out from the training data " + spec +
                    " (or --eval-on-train to evaluate on training items)",
                "the same source");
    s.eval = open_run_data(eval_spec, model);
    label_unlabelled(s.eval, model, print_line);
    s.eval_source = s.eval.source;
    return s;
  }
  const DataSpec d = parse_data_spec(spec);
  if (d.kind == DataSpec::Kind::kFashionMnist) {
    const std::string other =
        d.path == "train" ? "fashion-mnist:test:1000" : "fashion-mnist:train:1000";
    s.eval = open_run_data(other, model);
    s.eval_source = s.eval.source;
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
  return s;
}

/// The photo files of a photo dataset (with their crop), to show which items trained and which
/// evaluated; null for Fashion-MNIST, whose splits are separate files.
nlohmann::json item_list(const Dataset& d) {
  if (d.frames.empty()) return nullptr;
  nlohmann::json items = nlohmann::json::array();
  for (const auto& f : d.frames)
    items.push_back(f.crop.empty() ? f.path : fmt::format("{}@{}", f.path, fmt::join(f.crop, ",")));
  return items;
}

void add_split_flags(CLI::App* sub, std::string& eval_data, bool& eval_on_train) {
  sub->add_option("--eval-data", eval_data,
                  "held-out evaluation images (default: Fashion-MNIST's other split, first 1000; "
                  "for other data a fixed 20% of --data held out from training)");
  sub->add_flag("--eval-on-train", eval_on_train,
                "evaluate on the training images themselves (numbers labelled as such)");
}

ImageShape shape_of(const Dataset& d) {
  return {d.images.size(1), d.images.size(2), d.images.size(3)};
}

std::string model_name(const Model& m) { return m.info().name; }

/// The patch for images of `data`'s size (a grid patch keeps its cells; its side follows the
/// image, so models with different input sizes see the same share of the image) and channels
/// (a grey patch printed for a colour model is grey in every channel; a colour patch seen by a
/// grey model is its luma, as OpenCV reads colour photos as grey).
Patch at_size(const Patch& p, const Dataset& data) {
  const ImageShape shape = shape_of(data);
  torch::Tensor params = p.params().detach();
  if (params.size(0) == 1 && shape.channels == 3) params = params.expand({3, -1, -1}).clone();
  if (params.size(0) == 3 && shape.channels == 1)
    params = (torch::tensor({0.299, 0.587, 0.114}, params.options()).view({3, 1, 1}) * params)
                 .sum(0, true);
  return Patch::from_params(params, p.options(), shape);
}

std::string class_name(const Dataset& d, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(d.class_names.size()) ? d.class_names[k]
                                                                  : std::to_string(k);
}

/// The patch scaled up so its cells are visible.
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

nlohmann::json evaluation_json(const PatchEvaluation& e) {
  return {{"n", e.n},
          {"repeats", e.repeats},
          {"clean_accuracy", e.clean_accuracy},
          {"patched_accuracy", e.patched_accuracy},
          {"fooling_rate", e.fooling_rate},
          {"target_success", rate_or_null(e.target_success)},
          {"clean_target_rate", rate_or_null(e.clean_target_rate)}};
}

/// tSuc with its baseline, the clean images already predicted as the target.
std::string tsuc_text(const PatchEvaluation& e) {
  return fmt::format("{:.2f}% (clean {:.2f}%)", 100 * e.target_success, 100 * e.clean_target_rate);
}

// ---- patch train ----
struct PatchTrainCmd {
  PatchFlags f;
  TrainFlags t;
  std::string out = "foil-patch";
  std::string eval_data;
  bool eval_on_train = false;
  bool resume = true;
};

void run_patch_train(PatchTrainCmd c) {
  const c10::Device device = apply_global_options();
  const uint64_t seed = global_options().seed;
  const auto placement = placement_options(c.f);
  ResultsFolder out(c.out, "--out", /*resumable=*/true);  // the checkpoint lives in it
  Loaded l = load_all(c.f, device);
  resolve_task(c.f, &c.t, l);
  const bool detect = c.f.task == "detect";
  const Split split = split_data(l.data, c.f.data, c.eval_data, c.eval_on_train, *l.models.front());
  l.data = split.train;
  Patch patch = Patch::create(patch_options(c.f), shape_of(l.data), seed);
  const std::string ckpt = out.leader_file("checkpoint.pt");  // rank 0 writes, sends to others
  if (!c.resume && dist::leader()) std::filesystem::remove(ckpt);
  fmt::print("patch {}x{} px ({} {}), {} loss, {}, {} source model(s), {} images{}\n", patch.side(),
             patch.side(), c.f.param,
             c.f.param == "grid" ? std::to_string(c.f.cells) + " cells" : "", c.t.loss,
             detect ? "class " + (c.f.target >= 0 ? class_name(l.data, c.f.target) : "all")
             : c.f.target >= 0 ? "target " + class_name(l.data, c.f.target)
                               : "untargeted",
             l.models.size(), l.data.size(),
             c.resume && std::filesystem::exists(ckpt) ? " (resuming)" : "");
  std::fflush(stdout);
  const double started = now_seconds(), exchanged = dist::exchange_seconds();
  const auto result =
      train_patch(l.models, l.data, patch, objective_options(c.t, c.f.target), placement,
                  PatchTrainOptions()
                      .epochs(c.t.epochs)
                      .batch(c.t.batch)
                      .optimizer(c.t.optimizer)
                      .lr(c.t.lr)
                      .tv(c.t.tv)
                      .seed(seed)
                      .checkpoint(ckpt)
                      .fingerprint(work_fingerprint().dump()),
                  [](int64_t epoch, double loss) {
                    fmt::print("epoch {:>3}  loss {:.4f}\n", epoch, loss);
                    std::fflush(stdout);
                  });
  fmt::print("trained in {:.2f}s{}\n", now_seconds() - started,
             dist::size() == 1
                 ? ""
                 : fmt::format(", {:.2f}s of it in exchanges between the {} processes (waiting "
                               "for slower ones included)",
                               dist::exchange_seconds() - exchanged, dist::size()));
  const std::string dir = out.dir() + "/";
  save_tensor(dir + "patch.pt", result.patch.params());
  write_json(dir + "patch.json", {{"param", c.f.param},
                                  {"cells", c.f.cells},
                                  {"area", c.f.area},
                                  {"shape", c.f.shape},
                                  {"side", result.patch.side()}});
  write_patch_png(dir + "patch.png", result.patch);
  std::vector<std::vector<std::string>> rows;
  std::vector<double> steps;
  for (size_t i = 0; i < result.step_loss.size(); ++i) {
    rows.push_back({std::to_string(i + 1), fmt::format("{:.6f}", result.step_loss[i])});
    steps.push_back(static_cast<double>(i + 1));
  }
  write_csv(dir + "loss.csv", {"step", "loss"}, rows);
  const auto [lo, hi] = std::minmax_element(result.step_loss.begin(), result.step_loss.end());
  write_line_plot(dir + "loss.svg", "patch loss (" + c.t.loss + ")", "step", "loss",
                  {{c.t.loss, steps, result.step_loss}}, std::min(0.0, *lo), *hi + 1e-9);
  const auto at = eval_placement(c.f);
  if (detect)
    write_detections(dir + "patched.png", *l.models.front(), split.eval, result.patch, at,
                     c.f.target, seed);
  else
    write_patched_grid(dir + "patched.png", *l.models.front(), split.eval, result.patch, at, seed);
  fmt::print("evaluation on {}{}:\n", split.eval_source,
             split.eval_on_train ? " (NOT held out)" : " (held out)");
  nlohmann::json evals = nlohmann::json::array();
  for (const auto& m : l.models) {
    if (detect) {
      const auto e = evaluate_detection_patch(*m, split.eval, result.patch, at, c.f.target,
                                              detection_threshold(*m), 1, seed + 1);
      fmt::print("{}: {}\n", model_name(*m), detection_line(e));
      auto j = detection_json(e);
      j["model"] = model_name(*m);
      evals.push_back(j);
      continue;
    }
    const auto e = evaluate_patch(*m, split.eval, result.patch, at, c.f.target, 1, seed + 1);
    fmt::print("{}: clean {:.2f}%  patched {:.2f}%  fooling rate {:.2f}%{}\n", model_name(*m),
               100 * e.clean_accuracy, 100 * e.patched_accuracy, 100 * e.fooling_rate,
               e.target_success >= 0 ? "  tSuc " + tsuc_text(e) : "");
    auto j = evaluation_json(e);
    j["model"] = model_name(*m);
    evals.push_back(j);
  }
  write_json(dir + "summary.json", {{"loss", c.t.loss},
                                    {"task", c.f.task},
                                    {"placement", placement_json(c.f)},
                                    {"target", c.f.target},
                                    {"epochs", c.t.epochs},
                                    {"epoch_loss", result.epoch_loss},
                                    {"train_data", split.train_source},
                                    {"eval_data", split.eval_source},
                                    {"eval_on_train", split.eval_on_train},
                                    {"train_items", item_list(split.train)},
                                    {"eval_items", item_list(split.eval)},
                                    {"evaluation", evals}});
  if (dist::leader()) std::filesystem::remove(ckpt);
  out.commit();
  fmt::print(
      "wrote {}/report.html, patch.pt, patch.png, loss.csv, loss.svg, patched.png, summary.json\n",
      c.out);
}

// ---- patch eval ----
struct PatchEvalCmd {
  PatchFlags f;
  std::string patch;
  int64_t repeats = 5;
  std::string json, draw, out;
};

/// patch eval's results: to --json and into the --out folder (eval.json, report.html).
void write_eval(const PatchEvalCmd& c, const nlohmann::json& results) {
  if (!c.json.empty() && dist::leader()) write_json(c.json, results);
  if (c.out.empty()) return;
  ResultsFolder folder(c.out, "--out");
  write_json(folder.file("eval.json"), results);
  folder.commit();
  fmt::print("wrote {}/report.html, eval.json\n", c.out);
}

/// patch eval --task detect: detection rates of the class, clean vs patched, per model.
void run_detection_eval(const PatchEvalCmd& c, const Loaded& l, const Patch& patch,
                        const PlacementOptions& placement) {
  nlohmann::json rows = nlohmann::json::array();
  fmt::print("class {}, {} images x {} placements\n",
             c.f.target >= 0 ? class_name(l.data, c.f.target) : "all", l.data.size(), c.repeats);
  for (size_t k = 0; k < l.models.size(); ++k) {
    const auto& m = l.models[k];
    const auto e = evaluate_detection_patch(*m, l.per_model[k], at_size(patch, l.per_model[k]),
                                            placement, c.f.target, detection_threshold(*m),
                                            c.repeats, global_options().seed);
    fmt::print("{:<24}{}  (score >= {:.2f})\n", model_name(*m).substr(0, 23), detection_line(e),
               e.threshold);
    auto j = detection_json(e);
    j["model"] = model_name(*m);
    rows.push_back(j);
  }
  if (!c.draw.empty())
    write_detections(c.draw, *l.models.front(), l.data, patch, placement, c.f.target,
                     global_options().seed);
  write_eval(c, {{"patch", c.patch},
                 {"task", "detect"},
                 {"placement", placement_json(c.f)},
                 {"class", c.f.target >= 0 ? class_name(l.data, c.f.target) : "all"},
                 {"models", rows}});
}

void run_patch_eval(PatchEvalCmd c) {
  const c10::Device device = apply_global_options();
  const auto placement = placement_options(c.f);
  check_writable(c.json, "--json");
  check_writable(c.draw, "--draw");
  if (!c.out.empty()) ResultsFolder(c.out, "--out");  // fails now, before any work
  Loaded l = load_all(c.f, device);
  resolve_task(c.f, nullptr, l);
  check_input(c.f.task == "detect" || c.draw.empty(), "--draw", "--task detect", "--task classify");
  // Flags that would change nothing are refused, not dropped: the patch file holds its
  // colours, and its patch.json (when there is one) its form and area.
  refuse_flags({"--init"}, "patch eval reads the patch's colours from --patch");
  if (std::filesystem::exists(std::filesystem::path(c.patch).replace_extension(".json")))
    refuse_flags({"--param", "--cells", "--shape", "--area"},
                 "the patch's form and area are recorded in its patch.json");
  const Patch patch = read_patch(c.patch, patch_options(c.f), shape_of(l.data));
  if (c.f.task == "detect") return run_detection_eval(c, l, patch, placement);
  fmt::print("{:<24}{:>10}{:>10}{:>10}  {}\n", "model", "clean", "patched", "fooling",
             "tSuc (clean images already the target)");
  nlohmann::json rows = nlohmann::json::array();
  for (size_t k = 0; k < l.models.size(); ++k) {
    const auto& m = l.models[k];
    const auto e = evaluate_patch(*m, l.per_model[k], at_size(patch, l.per_model[k]), placement,
                                  c.f.target, c.repeats, global_options().seed);
    fmt::print("{:<24}{:>9.2f}%{:>9.2f}%{:>9.2f}%  {}\n", model_name(*m).substr(0, 23),
               100 * e.clean_accuracy, 100 * e.patched_accuracy, 100 * e.fooling_rate,
               e.target_success >= 0 ? tsuc_text(e) : "-");
    auto j = evaluation_json(e);
    j["model"] = model_name(*m);
    rows.push_back(j);
  }
  write_eval(c, {{"patch", c.patch}, {"target", c.f.target}, {"models", rows}});
}

// ---- patch transfer ----
struct PatchTransferCmd {
  PatchFlags f;
  TrainFlags t;
  std::string losses;  ///< default: ce,feature,ot (classify), vanish (detect)
  bool losses_given = false;
  int64_t repeats = 3;
  std::string eval_data;
  bool eval_on_train = false;
  std::string out = "foil-transfer";
};

void run_patch_transfer(PatchTransferCmd c) {
  const c10::Device device = apply_global_options();
  const uint64_t seed = global_options().seed;
  const bool detect = c.f.task == "detect";
  if (!c.losses_given) c.losses = detect ? "vanish" : "ce,feature,ot";
  if (!detect)
    check_input(c.f.target >= 0, "--target", "a target class (transfer is measured as tSuc)",
                "none");
  const auto placement = placement_options(c.f);
  const auto losses = split_commas(c.losses);
  const std::vector<std::string> allowed =
      detect ? std::vector<std::string>{"vanish", "appear", "ce", "feature", "ot"}
             : std::vector<std::string>{"ce", "feature", "ot"};
  const std::string expected = fmt::format("a list of {}", fmt::join(allowed, ", "));
  check_input(!losses.empty(), "--losses", expected, "'" + c.losses + "'");
  for (const auto& loss : losses)
    check_input(std::find(allowed.begin(), allowed.end(), loss) != allowed.end(), "--losses",
                expected, c.losses);
  // Each finished patch is kept in the results folder, so an interrupted run resumes there.
  ResultsFolder out(c.out, "--out", /*resumable=*/true);
  Loaded l = load_all(c.f, device);
  for (const auto& loss : losses) {  // every objective must suit the task
    PatchFlags f = c.f;
    TrainFlags t = c.t;
    t.loss = loss;
    resolve_task(f, &t, l);
  }
  resolve_task(c.f, nullptr, l);
  // One split per model (the same items at each model's input size).
  std::vector<Split> splits;
  for (size_t m = 0; m < l.models.size(); ++m)
    splits.push_back(
        split_data(l.per_model[m], c.f.data, c.eval_data, c.eval_on_train, *l.models[m]));
  const Split& split = splits.front();
  l.data = split.train;
  // Detectors: each cell is the class's patched detection rate (vanish: lower is stronger).
  const std::string metric = detect ? "patched detection rate" : "tSuc";
  fmt::print("training on {}; {} on {}{}\n", split.train_source, metric, split.eval_source,
             split.eval_on_train ? " (NOT held out)" : " (held out)");
  std::vector<std::string> names;
  for (const auto& m : l.models) names.push_back(model_name(*m));
  nlohmann::json summary = {{"target", c.f.target},
                            {"task", c.f.task},
                            {"metric", detect ? "patched_detection_rate" : "target_success"},
                            {"placement", placement_json(c.f)},
                            {"models", names},
                            {"train_data", split.train_source},
                            {"eval_data", split.eval_source},
                            {"eval_on_train", split.eval_on_train},
                            {"train_items", item_list(split.train)},
                            {"eval_items", item_list(split.eval)},
                            {"matrices", nlohmann::json::object()}};
  for (const auto& loss : losses) {
    std::vector<std::vector<double>> matrix;
    std::vector<std::vector<std::string>> csv;
    double off = 0;
    int64_t off_n = 0;
    for (size_t s = 0; s < l.models.size(); ++s) {
      // Rank 0's folder holds the finished patches: it decides what is reused, and every
      // process reads its file.
      const std::string file = out.leader_file(fmt::format("patch-{}-{}.pt", loss, s));
      // A finished patch is reused only when it was made from the same work: the same model
      // file, loss, target, training and placement flags, data and seed (not by position).
      nlohmann::json print = work_fingerprint({"--model", "--losses", "--repeats"});
      print["loss"] = loss;
      print["model_digest"] = model_file_digest(c.f.models[s]);
      const std::string fingerprint = print.dump(), sidecar = file + ".fingerprint";
      std::string why;
      if (dist::leader() && std::filesystem::exists(file)) {
        const bool same = std::filesystem::exists(sidecar) &&
                          read_folder_file(std::filesystem::path(sidecar).parent_path().string(),
                                           std::filesystem::path(sidecar).filename().string(),
                                           1 << 20) == fingerprint;
        why = same ? "1"
                   : "made from other work (a model file, the target, the loss, a training "
                     "or placement flag, the data or the seed differs); training it again";
      }
      why = dist::broadcast(why);
      const bool reuse = why == "1";
      const Dataset& train = splits[s].train;
      Patch patch = Patch::create(patch_options(c.f), shape_of(train), seed);
      if (reuse) {
        fmt::print("{} patch on {}: reusing {} (same model file, flags, data and seed)\n", loss,
                   names[s], file);
        patch = read_patch(file, patch_options(c.f), shape_of(train));
      } else {
        if (!why.empty()) fmt::print("{}: {}\n", file, why);
        fmt::print("{} patch on {} ...\n", loss, names[s]);
        std::fflush(stdout);
        TrainFlags t = c.t;
        t.loss = loss;
        patch =
            train_patch({l.models[s]}, train, patch, objective_options(t, c.f.target), placement,
                        PatchTrainOptions()
                            .epochs(t.epochs)
                            .batch(t.batch)
                            .optimizer(t.optimizer)
                            .lr(t.lr)
                            .tv(t.tv)
                            .seed(seed))
                .patch;
        if (dist::leader()) {
          save_tensor(file, patch.params());
          write_file(sidecar, fingerprint);
        }
      }
      std::vector<double> row;
      std::vector<std::string> cells = {names[s]};
      for (size_t m = 0; m < l.models.size(); ++m) {
        const auto at = eval_placement(c.f);
        double value = 0;
        if (detect) {
          const auto e = evaluate_detection_patch(
              *l.models[m], splits[m].eval, at_size(patch, splits[m].eval), at, c.f.target,
              detection_threshold(*l.models[m]), c.repeats, seed + 1);
          value = e.patched_detection_rate;
          summary["clean_detection_rate"][names[m]] = e.clean_detection_rate;
        } else {
          const auto e =
              evaluate_patch(*l.models[m], splits[m].eval, at_size(patch, splits[m].eval), at,
                             c.f.target, c.repeats, seed + 1);
          value = e.target_success;
          summary["clean_target_rate"][names[m]] = e.clean_target_rate;
        }
        row.push_back(value);
        cells.push_back(fmt::format("{:.4f}", value));
        if (m != s) {
          off += value;
          ++off_n;
        }
      }
      matrix.push_back(row);
      csv.push_back(cells);
    }
    std::vector<std::string> header = {"source \\ target"};
    header.insert(header.end(), names.begin(), names.end());
    write_csv(out.file("transfer-" + loss + ".csv"), header, csv);
    const std::string cls =
        c.f.target >= 0 ? class_name(l.data, c.f.target) : std::string("all classes");
    write_heatmap(
        out.file("transfer-" + loss + ".png"),
        fmt::format("{}, {} patches, {} {}", metric, loss, detect ? "class" : "target", cls), names,
        names, matrix);
    // One model has no off-diagonal: no transfer pair to average.
    const double mean_off = off_n > 0 ? off / static_cast<double>(off_n) : 0.0;
    summary["matrices"][loss] = {
        {detect ? "patched_detection_rate" : "tsuc", matrix},
        {"mean_off_diagonal", off_n > 0 ? nlohmann::json(mean_off) : nlohmann::json()}};
    if (off_n > 0)
      fmt::print("{}: mean off-diagonal {} {:.2f}%\n", loss, metric, 100 * mean_off);
    else
      fmt::print("{}: own-model {} {:.2f}% (one model: no off-diagonal, no transfer measured)\n",
                 loss, metric, 100 * matrix[0][0]);
  }
  // The baseline each cell compares with: what the clean images already do on each model.
  const std::string base_key = detect ? "clean_detection_rate" : "clean_target_rate";
  std::vector<std::string> base;
  for (const auto& n : names)
    base.push_back(fmt::format("{} {:.2f}%", n, 100 * summary[base_key][n].get<double>()));
  fmt::print("baseline, {}: {}\n",
             detect ? "class detected on the clean images"
                    : "clean images already predicted as the target",
             fmt::join(base, ", "));
  write_json(out.file("transfer.json"), summary);
  out.commit();
  fmt::print("wrote {}/transfer-*.csv, transfer-*.png, transfer.json\n", c.out);
}

}  // namespace

void setup_patch(CLI::App& app) {
  auto* patch = app.add_subcommand("patch", "universal adversarial patches: train, eval, transfer");
  patch->require_subcommand(1);

  auto tc = std::make_shared<PatchTrainCmd>();
  auto* train = patch->add_subcommand("train", "train a universal patch");
  add_patch_flags(train, tc->f, false);
  add_train_flags(train, tc->t);
  train->add_option("--out", tc->out, "results folder")->capture_default_str();
  add_split_flags(train, tc->eval_data, tc->eval_on_train);
  train->add_flag("!--no-resume", tc->resume, "ignore a checkpoint in --out and start afresh");
  train->callback([tc] { run_patch_train(*tc); });

  auto ec = std::make_shared<PatchEvalCmd>();
  auto* eval = patch->add_subcommand("eval", "evaluate a patch against one or more models");
  add_patch_flags(eval, ec->f, true);
  eval->get_option("--data")->default_val("fashion-mnist:test:1000");
  eval->add_option("--patch", ec->patch, "patch.pt written by 'foil patch train'")->required();
  eval->add_option("--repeats", ec->repeats, "random placements per image")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  eval->add_option("--json", ec->json, "write the results as JSON");
  eval->add_option("--out", ec->out, "results folder: eval.json and report.html (one page)");
  eval->add_option("--draw", ec->draw,
                   "--task detect: a PNG of the first images' detections, clean and patched");
  eval->callback([ec] { run_patch_eval(*ec); });

  auto xc = std::make_shared<PatchTransferCmd>();
  auto* transfer = patch->add_subcommand("transfer", "transfer matrices of ce/feature/ot patches");
  add_patch_flags(transfer, xc->f, true);
  add_train_flags(transfer, xc->t);
  auto* losses = transfer->add_option(
      "--losses", xc->losses,
      "objectives to compare (default ce,feature,ot; with --task detect vanish)");
  transfer->add_option("--repeats", xc->repeats, "random placements per image in evaluation")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  add_split_flags(transfer, xc->eval_data, xc->eval_on_train);
  transfer->add_option("--out", xc->out, "results folder")->capture_default_str();
  transfer->callback([xc, losses] {
    xc->losses_given = losses->count() > 0;
    run_patch_transfer(*xc);
  });
}

}  // namespace foil::cli
