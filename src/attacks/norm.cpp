#include "foil/attacks/norm.h"

#include <torch/torch.h>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"

namespace foil {

torch::Tensor l2_per_sample(const torch::Tensor& t) {
  return t.flatten(1).norm(2, 1).view({-1, 1, 1, 1});
}

namespace {

class LinfNorm : public Norm {
 public:
  std::string name() const override { return "linf"; }
  torch::Tensor direction(const torch::Tensor& g) const override { return g.sign(); }
  torch::Tensor project(const torch::Tensor& d, double eps) const override {
    return d.clamp(-eps, eps);
  }
  torch::Tensor random_start(SampleRandom& rng, const torch::Tensor& rows,
                             const torch::Tensor& like, double eps) const override {
    return (rng.uniform(rows, like.sizes().slice(1), like.device()) * 2 - 1) * eps;
  }
  torch::Tensor size(const torch::Tensor& d) const override { return d.flatten(1).abs().amax(1); }
};

class L2Norm : public Norm {
 public:
  std::string name() const override { return "l2"; }
  torch::Tensor direction(const torch::Tensor& g) const override {
    return g / (l2_per_sample(g) + 1e-10);
  }
  torch::Tensor project(const torch::Tensor& d, double eps) const override {
    // A zero delta (eps 0, or a zero gradient without random start) stays zero instead of
    // 0/0 = NaN; otherwise the same factor as torchattacks' PGDL2.
    auto factor = (eps / l2_per_sample(d).clamp_min(1e-12)).clamp_max(1.0);
    return d * factor;
  }
  torch::Tensor random_start(SampleRandom& rng, const torch::Tensor& rows,
                             const torch::Tensor& like, double eps) const override {
    auto d = rng.normal(rows, like.sizes().slice(1), like.device());
    auto r = rng.uniform(rows, {1, 1, 1}, like.device());
    return d * (r / l2_per_sample(d) * eps);
  }
  torch::Tensor size(const torch::Tensor& d) const override { return d.flatten(1).norm(2, 1); }
};

}  // namespace

std::unique_ptr<Norm> make_norm(const std::string& name) {
  if (name == "linf") return std::make_unique<LinfNorm>();
  if (name == "l2") return std::make_unique<L2Norm>();
  throw InputError("--norm: expected linf or l2, got '" + name + "'");
}

}  // namespace foil
