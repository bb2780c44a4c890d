// The patch sub-commands' flags, the options they make, and the models and data they load.
#include "patch_flags.h"

#include <fmt/format.h>

#include "commands.h"
#include "foil/jobs/patch_jobs.h"

namespace foil::cli {

void add_patch_flags(CLI::App* sub, PatchFlags& f, const std::string& job) {
  const bool many_models = job != "train";
  auto* m = sub->add_option("--model", f.models,
                            many_models ? "models (repeat the flag: --model a.foil --model b.pt)"
                                        : "source model(s); several form an ensemble");
  m->required();
  add_normalisation_flags(sub, f.normalisation);
  sub->add_option("--data", f.data,
                  many_models ? "data spec (patch eval: the images to evaluate on; transfer: the "
                                "training images)"
                              : "training images (data spec)")
      ->capture_default_str();
  sub->add_option("--target", f.target, "target class index (default: untargeted)")
      ->check(integer_in(0, INT64_MAX));
  sub->add_option("--task", f.task,
                  "classify, or detect: the models are object detectors and the patch works on "
                  "the detections of --class")
      ->capture_default_str();
  sub->add_option("--class", f.cls, "--task detect: the class, by name or index, or all");
  add_option_flags(sub, f.settings, patch_option_fields(), PatchSettings(), job);
}

PatchSettings patch_settings(const PatchFlags& f) {
  PatchSettings s;
  apply_option_flags(f.settings, s);
  s.objective.target(f.target);
  check_placement_options(s.placement);
  return s;
}

Loaded load_all(const PatchFlags& f, c10::Device device) {
  Loaded l;
  for (const auto& path : f.models) {
    ModelSpec spec = f.normalisation;
    spec.path = path;
    l.models.push_back(open_run_model(spec, device));
  }
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
