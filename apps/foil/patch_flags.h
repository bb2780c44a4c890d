#pragma once
// What the patch sub-commands (patch.cpp) share: their flags and how they become the library's
// options, and the models and data they load.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "foil/patch/objective.h"
#include "foil/patch/patch.h"
#include "foil/patch/trainer.h"

namespace foil::cli {

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
  int64_t objects = 1;    ///< detect: patches per image, one per detected object
  bool eot = false;
  double rotation = 10, brightness = 0.1, noise = 0.1, tilt = 5;
  std::string scale = "0.8,1.2", contrast = "0.8,1.2";
  std::string eot_corruptions;  ///< common corruptions drawn per image (names or groups)
  int64_t target = -1;
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (name, index or all)
};

struct TrainFlags {
  std::string loss;  ///< default: ce (classify), vanish (detect)
  std::string layers, layer_weights;
  std::string target_data;  ///< --target-data
  int64_t projections = 500, epochs = 5, batch = 64, max_target = 500;
  bool exact_1d = false, resume = true;
  std::string optimizer = "adam";
  double lr = 0.05, tv = 0;
};

void add_patch_flags(CLI::App* sub, PatchFlags& f, bool many_models);
void add_train_flags(CLI::App* sub, TrainFlags& t);
/// --eval-data and --eval-on-train (patch train, patch transfer).
void add_split_flags(CLI::App* sub, std::string& eval_data, bool& eval_on_train);

PatchOptions patch_options(const PatchFlags& f);
/// The placement the flags ask for (checked).
PlacementOptions placement_options(const PatchFlags& f);
ObjectiveOptions objective_options(const TrainFlags& t, int64_t target);
/// --epochs, --batch, --optimizer, --lr and --tv.
PatchTrainOptions train_options(const TrainFlags& t);

/// What every patch job's options share (placement, task, class, target, seed, progress),
/// from the flags.
template <typename JobOptions>
void set_task_options(JobOptions& o, const PatchFlags& f, uint64_t seed,
                      std::function<void(const std::string&)> log) {
  o.placement = placement_options(f);
  o.task = f.task;
  o.cls = f.cls;
  o.target = f.target;
  o.seed = seed;
  o.log = std::move(log);
}

struct Loaded {
  std::vector<std::shared_ptr<Model>> models;
  Dataset data;                    ///< at the first model's input size
  std::vector<Dataset> per_model;  ///< the same items at each model's input size
};

/// Opens every --model and the --data for each (foil/jobs/patch_jobs.h: open_patch_data).
Loaded load_all(const PatchFlags& f, c10::Device device);

}  // namespace foil::cli
