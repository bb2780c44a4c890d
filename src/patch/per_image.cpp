// The per-image patch attack: one patch per image and position, optimised for that image.
#include "foil/patch/per_image.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {

torch::Tensor per_image_patches(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                                const PerImagePatchOptions& o) {
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  check_input(o.side >= 1 && o.side <= std::min(h, w), "patch side",
              fmt::format("1..{}", std::min(h, w)), std::to_string(o.side));
  check_input(o.positions >= 1 && o.positions <= 64, "patch positions", "an integer in 1..64",
              std::to_string(o.positions));
  check_input(o.steps >= 0 && o.steps <= 100000, "patch steps", "an integer in 0..100000",
              std::to_string(o.steps));
  // Evenly spaced corners from 0 to the last place the patch fits, on both axes.
  auto corners = [&](int64_t len) {
    std::vector<int64_t> out;
    for (int64_t k = 0; k < o.positions; ++k)
      out.push_back(o.positions == 1 ? (len - o.side) / 2 : (len - o.side) * k / (o.positions - 1));
    return out;
  };
  const int64_t l = o.positions * o.positions, m = n * l;
  torch::Tensor where = torch::zeros({l, 1, h, w});
  int64_t k = 0;
  for (int64_t r : corners(h))
    for (int64_t q : corners(w))
      where[k++].slice(1, r, r + o.side).slice(2, q, q + o.side).fill_(1);
  where = where.repeat({n, 1, 1, 1}).to(x.device());                      // M x 1 x H x W
  const torch::Tensor base = x.detach().repeat_interleave(l, 0);          // M x C x H x W
  const torch::Tensor labels = y.to(x.device()).repeat_interleave(l, 0);  // M
  at::Generator gen = at::detail::createCPUGenerator(o.seed);
  torch::Tensor pixels = torch::rand({m, c, h, w}, gen).to(x.device());
  for (int64_t s = 0; s < o.steps; ++s) {
    pixels.requires_grad_(true);
    const torch::Tensor patched = base * (1 - where) + pixels * where;
    const torch::Tensor loss = torch::nn::functional::cross_entropy(
        model.forward(patched), labels,
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
    const torch::Tensor grad = torch::autograd::grad({loss}, {pixels})[0];
    pixels = (pixels.detach() + o.step * grad.sign()).clamp(0, 1);
  }
  return (base * (1 - where) + pixels.detach() * where).detach();
}

}  // namespace foil
