#pragma once
/// @file
/// The bench job: the cost of one attack step (and one patch-training step) against the bare
/// model passes its algorithm makes on the same batch, timed alternately in the same run, so
/// `ratio - 1` is foil's own overhead; and a model's own forward and forward+backward.
///
/// Example:
///   foil::BenchOptions o;
///   o.only = {"pgd-linf", "apgd-ce-linf"};
///   nlohmann::json timings = foil::run_bench(*model, data.head(250), o);

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/jobs/job.h"

namespace foil {

/// What the bench times.
struct BenchOptions {
  int64_t steps = 10;   ///< attack steps per row (Square: 10x as many queries)
  int64_t repeats = 5;  ///< timed pairs per row (medians and quartiles)
  /// Rows to time (bench_rows() names); empty: all.
  std::vector<std::string> only;
  /// After timing, run each attack and patch row once more under LibTorch's profiler and add
  /// "profile" to its row: the ops' calls and inclusive times (CUDA kernels too on a GPU) and
  /// the read-backs per step (calls of ops that make the host wait for the device).
  bool profile = false;
  int64_t batch = 250;      ///< the batch timed: the data's first `batch` items
  bool model_only = false;  ///< time the model's own passes alone (run_model_bench)
  Log log;                  ///< the table, row by row
};

/// The fields of BenchOptions a user sets (foil/core/option_fields.h): `foil bench`'s flags.
const std::vector<OptionField<BenchOptions>>& bench_option_fields();

/// The rows the bench can time: attack-norm (fgsm-linf, ..., square-l2), then
/// patch-LOSS[+eot], then corrupt-CORRUPTION (each at severity 3 against one forward; "corruptions"
/// in `only` names them all).
std::vector<std::string> bench_rows();
/// Throws InputError for options that cannot run.
void check_bench_options(const BenchOptions& options);
/// Times every wanted row on the batch (the first `batch` items of `data`, labelled) on the
/// model's device; returns {"model", "batch", "threads", "attacks": [...]}. With `model_only`
/// the model's own passes alone (run_model_bench; any data the model takes).
nlohmann::json run_bench(Model& model, const Dataset& data, const BenchOptions& options);
/// The model's own forward and forward+backward (to the input, from the heatmap layer of
/// keypoint models or the output otherwise) on `data`, `repeats` pairs.
nlohmann::json run_model_bench(Model& model, const Dataset& data, int64_t repeats,
                               const Log& log = {});

}  // namespace foil
