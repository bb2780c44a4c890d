#pragma once
/// @file
/// A per-image patch attack: for each image, a square patch of free pixels at each of a grid
/// of positions, optimised for that image alone by signed-gradient ascent on the model's
/// cross-entropy at the true label (pixels kept in [0,1]), from a uniform random start. The
/// strongest patch attacker a certificate is compared with: it chooses both the pixels and the
/// place per image, where a universal patch (foil/patch/trainer.h) is one patch for all.
///
/// Example:
///   foil::PerImagePatchOptions o;
///   o.side = 4;
///   torch::Tensor patched = foil::per_image_patches(*model, images, labels, o);
///   // (N * positions^2) x C x H x W, image-major

#include <torch/types.h>

#include <cstdint>

namespace foil {

class Model;

/// What `per_image_patches` does.
struct PerImagePatchOptions {
  int64_t side = 4;       ///< patch side, in pixels
  int64_t positions = 4;  ///< positions per axis, evenly spaced from edge to edge
  int64_t steps = 40;     ///< ascent steps
  double step = 0.1;      ///< signed-gradient step, in pixels of [0,1]
  uint64_t seed = 0;      ///< the random start
};

/// Each of `x` (N x C x H x W) with a patch optimised against `model` for label `y` at each
/// position: (N * positions^2) x C x H x W, image-major, positions row-major. Throws InputError
/// for a side outside 1..min(H, W), positions outside 1..64 or steps outside 0..100000.
torch::Tensor per_image_patches(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                                const PerImagePatchOptions& options);

}  // namespace foil
