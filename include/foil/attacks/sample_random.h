#pragma once
/// @file
/// Per-sample random streams: each sample draws from its own generator keyed by a
/// seed and the sample's id, so an attack's randomness does not depend on the batch it runs
/// in (batch result = per-sample result, same seed = same result).

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>
#include <vector>

namespace foil {

/// Random numbers per sample: each sample draws from its own stream keyed by (seed, id), so
/// what it gets does not depend on the batch it is in or on the other samples.
class SampleRandom {
 public:
  /// One stream per entry of `ids` (int64, any device).
  SampleRandom(uint64_t seed, const torch::Tensor& ids);

  /// For each of `rows` (int64 indices into the ids given at construction), a tensor of
  /// `shape` uniform in [0,1) from that row's stream; stacked as [rows, shape...] on `device`.
  torch::Tensor uniform(const torch::Tensor& rows, at::IntArrayRef shape, c10::Device device);
  /// The same with standard normal values.
  torch::Tensor normal(const torch::Tensor& rows, at::IntArrayRef shape, c10::Device device);

 private:
  template <typename Draw>
  torch::Tensor draw(const torch::Tensor& rows, c10::Device device, Draw fn);
  std::vector<at::Generator> gens_;
};

/// Random noise of one norm and size, each item from its own stream keyed by (seed, id): Linf
/// ±eps in every pixel with random signs, L2 a random direction scaled to norm eps (the
/// baseline an attack of that budget is compared with). `shape` is one item's; returns
/// ids.size(0)×shape on `device`.
torch::Tensor same_norm_noise(uint64_t seed, const torch::Tensor& ids, at::IntArrayRef shape,
                              const std::string& norm, double eps, c10::Device device);

}  // namespace foil
