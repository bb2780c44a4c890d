#pragma once
// Sub-commands of the foil CLI: each file defines setup_<name>(CLI::App&), which adds the
// sub-command, its options struct and a callback that runs it.

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "foil/data/dataset.h"
#include "foil/models/model.h"

namespace foil::cli {

/// Flags every sub-command shares (given before or after the sub-command name).
struct GlobalOptions {
  int threads = 0;
  uint64_t seed = 0;
  std::string device = "cpu";
};
GlobalOptions& global_options();
/// Applies --threads, --seed; returns the --device.
c10::Device apply_global_options();

/// --model with --mean/--std, shared by every command that loads a model.
struct ModelFlags {
  std::string path;
  std::string mean, std;
  std::string input_shape;  ///< "C,H,W" for models that do not record it (TorchScript)
};
void add_model_flags(CLI::App* app, ModelFlags& flags, bool required);
/// Loads the model (the built-in default when no path is given), moves it to `device`.
std::shared_ptr<Model> open_model(const ModelFlags& flags, c10::Device device);
/// Loads `spec` shaped for `model`, checks the model accepts it and that the labels fit
/// its outputs; names both shapes when they don't.
Dataset open_data(const std::string& spec, Model& model);

/// Creates the folder for an output file (or folder).
void ensure_parent(const std::string& path);

void setup_train(CLI::App& app);
void setup_attack(CLI::App& app);
void setup_audit(CLI::App& app);
void setup_bench(CLI::App& app);

}  // namespace foil::cli
