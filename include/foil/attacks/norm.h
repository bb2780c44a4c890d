#pragma once
/// @file
/// Threat models as small strategies: the step direction, the projection onto the
/// eps-ball and the random start of an Lp-bounded attack.

#include <torch/types.h>

#include <memory>
#include <string>

namespace foil {

class SampleRandom;

/// An Lp threat model. `linf`: steps along sign(g), clips delta to [-eps, eps]. `l2`: steps
/// along g/||g||_2 per sample, rescales delta onto the ball of radius eps (as torchattacks'
/// PGDL2, including its 1e-10 guard).
class Norm {
 public:
  virtual ~Norm() = default;
  /// "linf" or "l2".
  virtual std::string name() const = 0;
  /// The unit-size ascent direction for gradient `g` (per sample).
  virtual torch::Tensor direction(const torch::Tensor& g) const = 0;
  /// `delta` projected onto the eps-ball (per sample).
  virtual torch::Tensor project(const torch::Tensor& delta, double eps) const = 0;
  /// For each of `rows` (CPU int64 indices into `rng`'s samples), a uniform random point of the
  /// eps-ball drawn from that sample's own stream; rows x like.sizes()[1:] on like's device.
  virtual torch::Tensor random_start(SampleRandom& rng, const torch::Tensor& rows,
                                     const torch::Tensor& like, double eps) const = 0;
  /// Per-sample size of `delta` in this norm.
  virtual torch::Tensor size(const torch::Tensor& delta) const = 0;
};

/// "linf" or "l2"; throws InputError otherwise.
std::unique_ptr<Norm> make_norm(const std::string& name);

/// Per-sample L2 norm of a batch, as N×1×1×1 (for broadcasting).
torch::Tensor l2_per_sample(const torch::Tensor& t);

}  // namespace foil
