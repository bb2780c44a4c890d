// The patch sub-commands' flags, the options they make, and the models and data they load.
#include "patch_flags.h"

#include <fmt/format.h>

#include <algorithm>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/corrupt/corruptions.h"
#include "foil/jobs/patch_jobs.h"

namespace foil::cli {

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
  sub->add_option("--objects", f.objects,
                  "--on-object: a patch on each of the class's N best detections per image (Thys "
                  "et al. put one on every person), the same patch each time")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
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
  sub->add_option("--eot-corruptions", f.eot_corruptions,
                  "common corruptions each image draws one of (severity 1-5) after the patch is "
                  "pasted, e.g. jpeg_compression,gaussian_blur or blur; gradients pass them "
                  "straight through (BPDA); with or without --eot");
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
  sub->add_option("--target-data", t.target_data,
                  "feature/ot: data spec of the clean target-class images they match (default: "
                  "the training images of --target; unlabelled data: the images each source "
                  "model predicts as --target); never the --eval-data source");
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

namespace {

std::pair<double, double> range_of(const std::string& text, const std::string& flag) {
  const auto v = parse_number_list(text, flag);
  check_input(v.size() == 2 && v[0] <= v[1], flag, "min,max with min <= max", text);
  return {v[0], v[1]};
}

}  // namespace

PatchOptions patch_options(const PatchFlags& f) {
  return PatchOptions().param(f.param).cells(f.cells).area(f.area).shape(f.shape).init(f.init);
}

PlacementOptions placement_options(const PatchFlags& f) {
  const auto [s0, s1] = range_of(f.scale, "--scale");
  const auto [c0, c1] = range_of(f.contrast, "--contrast");
  check_input(c0 > 0, "--contrast", "contrast factors > 0 (1 = unchanged)", f.contrast);
  check_input(s0 > 0, "--scale", "area scales > 0 (1 = the --area)", f.scale);
  const auto o =
      PlacementOptions()
          .keep_out(f.keep_out)
          .on_object(f.on_object)
          .objects(f.objects)
          .eot(f.eot)
          .scale_min(s0)
          .scale_max(s1)
          .rotation(f.rotation)
          .brightness(f.brightness)
          .contrast_min(c0)
          .contrast_max(c1)
          .noise(f.noise)
          .tilt(f.tilt)
          .eot_corruptions(f.eot_corruptions.empty()
                               ? std::vector<std::string>{}
                               : parse_corruptions(f.eot_corruptions, "--eot-corruptions"));
  check_placement_options(o);
  return o;
}

PatchTrainOptions train_options(const TrainFlags& t) {
  return PatchTrainOptions()
      .epochs(t.epochs)
      .batch(t.batch)
      .optimizer(t.optimizer)
      .lr(t.lr)
      .tv(t.tv);
}

ObjectiveOptions objective_options(const TrainFlags& t, int64_t target) {
  auto o = ObjectiveOptions()
               .loss(t.loss)
               .target(target)
               .layers(split_commas(t.layers, "--layers"))
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

Loaded load_all(const PatchFlags& f, c10::Device device) {
  Loaded l;
  for (const auto& path : f.models)
    l.models.push_back(open_run_model(ModelSpec{path, f.mean, f.std, f.input_shape}, device));
  l.per_model = open_patch_data(f.data, l.models, f.target, print_line);
  for (const auto& m : l.models) record_input_as_run(*m);
  l.data = l.per_model.front();
  return l;
}

void add_split_flags(CLI::App* sub, std::string& eval_data, bool& eval_on_train) {
  sub->add_option("--eval-data", eval_data,
                  "held-out evaluation images (default: Fashion-MNIST's other split, first 1000; "
                  "for other data a fixed 20% of --data held out from training)");
  sub->add_flag("--eval-on-train", eval_on_train,
                "evaluate on the training images themselves (numbers labelled as such)");
}

}  // namespace foil::cli
