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
#include "foil/jobs/patch_jobs.h"
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
  for (const auto& path : f.models)
    l.models.push_back(open_model({path, f.mean, f.std, f.input_shape}, device));
  l.per_model = open_patch_data(f.data, l.models, f.target, print_line);
  for (const auto& m : l.models) record_input_as_run(*m);
  l.data = l.per_model.front();
  return l;
}

ImageShape shape_of(const Dataset& d) {
  return {d.images.size(1), d.images.size(2), d.images.size(3)};
}

void add_split_flags(CLI::App* sub, std::string& eval_data, bool& eval_on_train) {
  sub->add_option("--eval-data", eval_data,
                  "held-out evaluation images (default: Fashion-MNIST's other split, first 1000; "
                  "for other data a fixed 20% of --data held out from training)");
  sub->add_flag("--eval-on-train", eval_on_train,
                "evaluate on the training images themselves (numbers labelled as such)");
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

void run_patch_train(const PatchTrainCmd& c) {
  const c10::Device device = apply_global_options();
  PatchTrainJobOptions o;
  o.patch = patch_options(c.f);
  o.placement = placement_options(c.f);
  o.task = c.f.task;
  o.cls = c.f.cls;
  o.target = c.f.target;
  o.data_spec = c.f.data;
  o.eval_spec = c.eval_data;
  o.eval_on_train = c.eval_on_train;
  o.seed = global_options().seed;
  o.log = print_line;
  ResultsFolder out(c.out, "--out", /*resumable=*/true);  // the checkpoint lives in it
  const Loaded l = load_all(c.f, device);
  o.objective = objective_options(c.t, c.f.target);
  const std::string ckpt = out.leader_file("checkpoint.pt");  // rank 0 writes, sends to others
  if (!c.resume && dist::leader()) std::filesystem::remove(ckpt);
  o.train.epochs(c.t.epochs).batch(c.t.batch).optimizer(c.t.optimizer).lr(c.t.lr).tv(c.t.tv);
  o.train.checkpoint(ckpt).fingerprint(work_fingerprint().dump());
  const PatchTrainJobResult r = foil::run_patch_train(l.models, l.data, o);
  r.write(out.dir());
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

void run_patch_eval(const PatchEvalCmd& c) {
  const c10::Device device = apply_global_options();
  PatchEvalJobOptions o;
  o.placement = placement_options(c.f);
  o.task = c.f.task;
  o.cls = c.f.cls;
  o.target = c.f.target;
  o.repeats = c.repeats;
  o.patch_file = c.patch;
  o.seed = global_options().seed;
  o.log = print_line;
  check_writable(c.json, "--json");
  check_writable(c.draw, "--draw");
  if (!c.out.empty()) ResultsFolder(c.out, "--out");  // fails now, before any work
  const Loaded l = load_all(c.f, device);
  const int64_t target =
      resolve_patch_task(c.f.task, c.f.cls, c.f.target, "", o.placement, l.models);
  check_input(c.f.task == "detect" || c.draw.empty(), "--draw", "--task detect", "--task classify");
  // Flags that would change nothing are refused, not dropped: the patch file holds its
  // colours, and its patch.json (when there is one) its form and area.
  refuse_flags({"--init"}, "patch eval reads the patch's colours from --patch");
  if (std::filesystem::exists(std::filesystem::path(c.patch).replace_extension(".json")))
    refuse_flags({"--param", "--cells", "--shape", "--area"},
                 "the patch's form and area are recorded in its patch.json");
  const Patch patch = read_patch(c.patch, patch_options(c.f), shape_of(l.data));
  const nlohmann::json results = foil::run_patch_eval(l.models, l.per_model, patch, o);
  if (!c.draw.empty())
    write_detections(c.draw, *l.models.front(), l.data, patch, o.placement, target, o.seed);
  if (!c.json.empty() && dist::leader()) write_json(c.json, results);
  if (c.out.empty()) return;
  ResultsFolder folder(c.out, "--out");
  write_json(folder.file("eval.json"), results);
  folder.commit();
  fmt::print("wrote {}/report.html, eval.json\n", c.out);
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

void run_patch_transfer(const PatchTransferCmd& c) {
  const c10::Device device = apply_global_options();
  PatchTransferOptions o;
  o.patch = patch_options(c.f);
  o.placement = placement_options(c.f);
  o.task = c.f.task;
  o.cls = c.f.cls;
  o.target = c.f.target;
  if (c.losses_given) {
    o.losses = split_commas(c.losses);
    if (o.losses.empty()) o.losses = {c.losses};  // refused by name
  }
  o.objective = objective_options(c.t, c.f.target);
  o.train.epochs(c.t.epochs).batch(c.t.batch).optimizer(c.t.optimizer).lr(c.t.lr).tv(c.t.tv);
  o.repeats = c.repeats;
  o.data_spec = c.f.data;
  o.eval_spec = c.eval_data;
  o.eval_on_train = c.eval_on_train;
  o.seed = global_options().seed;
  o.log = print_line;
  check_patch_transfer_options(o);
  // Each finished patch is kept in the results folder, so an interrupted run resumes there.
  ResultsFolder out(c.out, "--out", /*resumable=*/true);
  o.patch_folder = out.leader_dir();
  o.work = work_fingerprint({"--model", "--losses", "--repeats"});
  o.model_files = c.f.models;
  const Loaded l = load_all(c.f, device);
  const PatchTransferResult r = foil::run_patch_transfer(l.models, l.per_model, o);
  r.write(out.dir());
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
