#include "foil/attacks/sample_random.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace foil {
namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

torch::Tensor empty(at::IntArrayRef shape, c10::Device device) {
  std::vector<int64_t> sizes{0};
  sizes.insert(sizes.end(), shape.begin(), shape.end());
  return torch::empty(sizes, torch::TensorOptions().device(device));
}

}  // namespace

SampleRandom::SampleRandom(uint64_t seed, const torch::Tensor& ids) {
  const torch::Tensor cpu = ids.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* p = cpu.data_ptr<int64_t>();
  gens_.reserve(cpu.numel());
  for (int64_t i = 0; i < cpu.numel(); ++i)
    gens_.push_back(at::make_generator<at::CPUGeneratorImpl>(
        splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(p[i]))));
}

template <typename Draw>
torch::Tensor SampleRandom::draw(const torch::Tensor& rows, c10::Device device, Draw fn) {
  const torch::Tensor cpu = rows.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* p = cpu.data_ptr<int64_t>();
  std::vector<torch::Tensor> parts;
  parts.reserve(cpu.numel());
  for (int64_t i = 0; i < cpu.numel(); ++i) parts.push_back(fn(gens_.at(p[i])));
  return torch::stack(parts).to(device);
}

torch::Tensor SampleRandom::uniform(const torch::Tensor& rows, at::IntArrayRef shape,
                                    c10::Device device) {
  if (rows.numel() == 0) return empty(shape, device);
  return draw(rows, device, [&](at::Generator& g) { return torch::rand(shape, g); });
}

torch::Tensor SampleRandom::normal(const torch::Tensor& rows, at::IntArrayRef shape,
                                   c10::Device device) {
  if (rows.numel() == 0) return empty(shape, device);
  return draw(rows, device, [&](at::Generator& g) { return torch::randn(shape, g); });
}

torch::Tensor same_norm_noise(uint64_t seed, const torch::Tensor& ids, at::IntArrayRef shape,
                              const std::string& norm, double eps, c10::Device device) {
  SampleRandom rng(seed, ids);
  const torch::Tensor rows = torch::arange(ids.size(0), torch::kLong);
  if (norm == "l2") {
    const torch::Tensor n = rng.normal(rows, shape, device);
    return n / n.flatten(1).norm(2, 1).clamp_min(1e-12).view({-1, 1, 1, 1}) * eps;
  }
  return (rng.uniform(rows, shape, device).lt(0.5).to(torch::kFloat) * 2 - 1) * eps;
}

}  // namespace foil
