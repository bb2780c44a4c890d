#pragma once
/// @file
/// Process-wide settings: threads, seeding, device, progress output.

#include <c10/core/Device.h>

#include <cstdint>
#include <string>

namespace foil {

/// Sets LibTorch's intra-op thread count; 0 means all cores. Throws InputError outside
/// 0..1024.
void set_threads(int threads);

/// Seeds LibTorch's generators (CPU and CUDA) so runs repeat.
void seed_everything(uint64_t seed);

/// Parses "cpu" or "cuda[:N]"; throws InputError when unknown or CUDA is not available.
c10::Device parse_device(const std::string& name);

/// Same seed, same result on a GPU: deterministic cuDNN, cuBLAS and ATen kernels, no cuDNN
/// autotuning (the CLI's --deterministic). Not the default: without it a GPU runs the kernels
/// an eager PyTorch loop runs (faster; a rerun may differ in the last bits). Call it once,
/// before the first GPU work.
void use_deterministic_cuda();

/// Progress lines on stderr, shown only when stderr is a terminal (or FOIL_PROGRESS=1).
class Progress {
 public:
  /// A `transient` bar erases itself when done instead of leaving a line (progress inside
  /// an outer bar's step).
  Progress(std::string label, int64_t total, bool transient = false);
  ~Progress();
  /// `done` of `total` items finished; `extra` is shown after the counts.
  void update(int64_t done, const std::string& extra = "");
  /// Ends the bar (prints its last state, or erases it when transient).
  void finish(const std::string& extra = "");

 private:
  std::string label_;
  int64_t total_;
  bool enabled_;
  bool transient_;
  bool open_ = false;
  double start_;
};

/// Seconds since an arbitrary fixed point (steady clock).
double now_seconds();

}  // namespace foil
