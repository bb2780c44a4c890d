#include "foil/core/runtime.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "foil/core/error.h"

namespace foil {

void set_threads(int threads) {
  // Tens of thousands of threads hang the process before any work starts.
  check_input(threads >= 0 && threads <= 1024, "--threads", "an integer in 0..1024 (0 = all cores)",
              std::to_string(threads));
  if (threads <= 0) {
    // All cores, shared out among the processes `foil launch` (or torchrun) started here.
    threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (const char* local = std::getenv("LOCAL_WORLD_SIZE"))
      threads = std::max(1, threads / std::max(1, std::atoi(local)));
  }
  torch::set_num_threads(threads);
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

void use_deterministic_cuda() {
  // cuBLAS is deterministic only with a fixed workspace; read when its first handle is made.
  setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
  at::globalContext().setDeterministicCuDNN(true);
  at::globalContext().setBenchmarkCuDNN(false);
  // Kernels with atomics (scatter/index adds, some pooling backwards) get their deterministic
  // versions; an op that has none warns instead of failing.
  at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
}

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available())
      throw InputError("--device " + name +
                       ": CUDA is not available in this LibTorch build; use cpu");
    c10::Device device(c10::kCUDA);
    try {
      device = c10::Device(name);
    } catch (const c10::Error&) {
      throw InputError("--device: expected cpu or cuda[:N], got '" + name + "'");
    }
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count)
      throw InputError(fmt::format("--device {}: this machine has {} CUDA device{} (cuda:0..{})",
                                   name, count, count == 1 ? "" : "s", count - 1));
    return device;
  }
  throw InputError("--device: expected cpu or cuda[:N], got '" + name + "'");
}

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string label, int64_t total, bool transient)
    : label_(std::move(label)), total_(total), transient_(transient), start_(now_seconds()) {
  const char* env = std::getenv("FOIL_PROGRESS");
  enabled_ = env ? std::string(env) == "1" : isatty(STDERR_FILENO) != 0;
}

Progress::~Progress() {
  if (open_) std::fputs(transient_ ? "\r\033[K" : "\n", stderr);
}

void Progress::update(int64_t done, const std::string& extra) {
  if (!enabled_) return;
  const double elapsed = now_seconds() - start_;
  const double pct =
      total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 0;
  std::fprintf(stderr, "\r%s %lld/%lld (%.0f%%) %.1fs %s\033[K", label_.c_str(),
               static_cast<long long>(done), static_cast<long long>(total_), pct, elapsed,
               extra.c_str());
  std::fflush(stderr);
  open_ = true;
}

void Progress::finish(const std::string& extra) {
  if (!transient_) update(total_, extra);
  if (open_) std::fputs(transient_ ? "\r\033[K" : "\n", stderr);
  open_ = false;
}

}  // namespace foil
