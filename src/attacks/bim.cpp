#include "foil/attacks/bim.h"

#include <torch/torch.h>

namespace foil {
namespace {

AttackOptions one_step(AttackOptions o) {
  // eps = 0 must stay the identity; any positive alpha does, since the projection wins.
  return o.steps(1).alpha(o.eps() > 0 ? o.eps() : 1.0).random_start(false).restarts(1);
}

}  // namespace

Bim::Bim(AttackOptions options) : GradientAttack(std::move(options)) {}

torch::Tensor Bim::step(const torch::Tensor& adv, const torch::Tensor& grad,
                        torch::Tensor& /*state*/) const {
  return adv + options_.alpha() * norm_->direction(grad);
}

Fgsm::Fgsm(AttackOptions options) : Bim(one_step(std::move(options))) {}

}  // namespace foil
