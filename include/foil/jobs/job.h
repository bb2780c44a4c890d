#pragma once
/// @file
/// What every job (audit, patch transfer, keypoints table, ...) shares: opening data for a
/// model with the checks that make a bad pairing one clear InputError, the progress log, the
/// checks as JSON and the example grid. The CLI's sub-commands are thin wrappers over these
/// calls; a C++ user of `find_package(foil)` runs the same jobs.
///
/// Example:
///   auto model = foil::load_model("cnn.foil");
///   foil::Dataset data = foil::open_data("fashion-mnist:test:100", *model);
///   foil::AuditResult r = foil::run_audit(*model, data, foil::AuditOptions());

#include <torch/types.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "foil/attacks/checks.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/option_fields.h"
#include "foil/data/dataset.h"
#include "foil/distributed/dist.h"
#include "foil/models/access.h"
#include "foil/models/model.h"
#include "foil/report/results_folder.h"

namespace foil {

/// Receives a job's progress lines (no newline at the end); empty: the job is silent.
using Log = std::function<void(const std::string& line)>;

/// What a run is set to besides its job's options (the CLI's global flags).
struct RunSettings {
  int threads = 0;             ///< LibTorch threads (0: all cores)
  uint64_t seed = 0;           ///< seeds every generator: a rerun with the same seed repeats
  std::string device = "cpu";  ///< "cpu" or "cuda[:N]"
  bool deterministic = false;  ///< deterministic GPU kernels (use_deterministic_cuda)
  DistOptions dist;            ///< the job of several processes this one joins (docs/scaling.md)
};
/// The settable fields of RunSettings: --threads, --seed, --device, --deterministic, --rank,
/// --world-size, --master, --store-file, --dist-timeout.
const std::vector<OptionField<RunSettings>>& run_settings_option_fields();
/// Sets the threads, seeds every generator, turns on deterministic GPU kernels when asked and
/// joins the distributed job; returns the device. Throws InputError for a bad device or job.
c10::Device apply_run_settings(const RunSettings& settings);
/// A results folder's run.json: what ran (`command`, `kind`: "patch train"), foil's version,
/// the settings (threads as LibTorch runs them), the time it finished, and `models` (as
/// describe_model gives them: the first is "model", any others "other_models").
nlohmann::json run_info(const std::string& command, const std::string& kind,
                        const RunSettings& settings, const nlohmann::json& models);

/// A model as a user names it: a file (or the built-in default) and what the file may not
/// record.
struct ModelSpec {
  /// model file (see load_model); "": the built-in Fashion-MNIST CNN; "zoo:ARCH": the zoo
  /// architecture trained on Fashion-MNIST the same way (default_zoo_model)
  std::string path;
  std::string mean;         ///< per-channel mean the model expects, "a,b,c" (with `std`)
  std::string std;          ///< per-channel std the model expects, "a,b,c" (with `mean`)
  std::string input_shape;  ///< "C,H,W" for a TorchScript model that does not record it
  /// What the attacks may see of it: below gradients the model is opened as a QueryModel.
  Access access = Access::kGradients;
};

/// A comma-separated list of model specs given with `flag` ("" is none; an empty item throws
/// InputError naming the flag); "zoo" stands for the zoo's four Fashion-MNIST architectures
/// (zoo:mlp, zoo:cnn, zoo:resnet, zoo:mobilenet).
std::vector<std::string> model_list(const std::string& text, const std::string& flag);

/// Adds the files and folders the models of `list` (model_list's comma list, given with
/// `flag`) read to `paths`: each existing model file, and a TF.js graph's folder (its weight
/// shards). Specs that are no file (zoo:ARCH, a missing file the loader names) add nothing.
void add_model_paths(RunPaths& paths, const std::string& flag, const std::string& list);
/// Adds what data `spec` (given with `flag`) reads to `paths`: an image folder (an input and a
/// data folder) or an image file and its folder. Built-in data and specs that do not parse
/// (the job names them) add nothing.
void add_data_paths(RunPaths& paths, const std::string& flag, const std::string& spec);

/// Throws InputError when one of `surrogates` (model specs) is the attacked model `target`
/// (the same file, or both the built-in model): crafting on the target itself is the
/// white-box attack, not a transfer.
void refuse_target_as_surrogate(const std::vector<std::string>& surrogates,
                                const std::string& target);

/// Loads the model `spec` names (the built-in default, trained on first use, when its path is
/// empty), sets its normalisation and input shape, and moves it to `device`. Throws
/// InputError naming --mean/--std or --input-shape for values that do not fit.
std::shared_ptr<Model> open_model(const ModelSpec& spec, c10::Device device);

/// The model as a results folder's run.json describes it: name, backend, arch, input,
/// classes, test accuracy at training, description and normalisation.
nlohmann::json describe_model(const Model& model, const ModelSpec& spec);

/// Runs `model` on the first of `images` (from data `spec`): a model that cannot take them or
/// gives NaN/inf is an InputError naming both. Returns the output.
torch::Tensor probe_model(Model& model, const torch::Tensor& images, const std::string& spec);

/// Checks that `other` (named by `flag`: a surrogate, another model of a list) takes `data`'s
/// images and gives class scores as wide as `model`'s; throws InputError naming both models
/// and both values.
void check_fits(Model& model, Model& other, const Dataset& data, const std::string& flag);

/// Loads `spec` shaped for `model`, checks the model accepts it and that the labels fit
/// its outputs; names both shapes when they don't. A TorchScript model without a recorded
/// input shape takes the data's. `needs_gradient`: the job follows input gradients, so the
/// model's outputs must carry them (checked on two images). `flag`: the option `spec` came
/// from, named by errors about the data (--eval-data, --target-data, ...).
Dataset open_data(const std::string& spec, Model& model, bool needs_gradient = true,
                  const std::string& flag = "--data");

/// Unlabelled items (photos) take the model's clean prediction as their label; returns how
/// many did (and says so on `log`).
int64_t label_unlabelled(Dataset& data, Model& model, const Log& log = {});

/// The checks as lines: each that fired on two lines (what was measured, what it means), the
/// others on one line, each name once (an audit checks every budget).
std::vector<std::string> flag_lines(const std::vector<Flag>& flags);
/// The checks as JSON (an array of {"name", "fired", "measured", "meaning"}).
nlohmann::json flags_json(const std::vector<Flag>& flags);

/// Writes the example grid: the clean images with their predictions, then per evaluation
/// (with its row title) the attacked images with theirs and the perturbations, amplified to
/// the full range (grey = no change). Uses the evaluations' kept examples.
void write_examples(const std::string& path, const Dataset& data,
                    const std::vector<std::pair<std::string, const Evaluation*>>& shown);

}  // namespace foil
