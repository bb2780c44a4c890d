#pragma once
// What the patch sub-commands (patch.cpp) share: their flags and how they become the library's
// options, and the models and data they load.

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "commands.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "foil/patch/option_table.h"

namespace foil::cli {

/// Flags shared by the three patch commands: the models, data and task by hand, the patch's
/// form, placement, objective and training generated from the library's table
/// (foil/patch/option_table.h), each command only the fields its job reads.
struct PatchFlags {
  std::vector<std::string> models;
  ModelFlags normalisation;  ///< --mean, --std, --input-shape of every model
  std::string data = "fashion-mnist:train:2000";
  int64_t target = -1;
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (name, index or all)
  FlagsOf<PatchSettings> settings;
};

/// The models, data and task flags, and the table's flags that `job` (train, eval or
/// transfer) reads.
void add_patch_flags(CLI::App* sub, PatchFlags& f, const std::string& job);
/// --eval-data and --eval-on-train (patch train, patch transfer).
void add_split_flags(CLI::App* sub, std::string& eval_data, bool& eval_on_train);

/// The settings the flags ask for (the placement checked; the objective's target --target).
PatchSettings patch_settings(const PatchFlags& f);

/// What every patch job's options share (placement, task, class, target, seed, progress),
/// from the flags.
template <typename JobOptions>
void set_task_options(JobOptions& o, const PatchFlags& f, const PatchSettings& s, uint64_t seed,
                      std::function<void(const std::string&)> log) {
  o.placement = s.placement;
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
