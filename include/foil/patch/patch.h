#pragma once
/// @file
/// Universal adversarial patches: parametrisation, placement with expectation over
/// transformation (EOT), and pasting into images.
///
/// A grid patch (printable static patch of `001_...`) is G×G equal cells × C channels, each
/// cell one uniform colour of k×k pixels (the side is a multiple of G: the one nearest the
/// requested area), and the gradient a cell receives is the mean of its pixels' gradients,
/// as the source averages per cell and channel. A free patch has one parameter per pixel
/// (G = side).
///
/// Example:
///   Patch p = Patch::create(PatchOptions().cells(10).area(0.15), ImageShape{3, 64, 64});
///   auto placed = sample_placements(p, 32, {3, 64, 64}, PlacementOptions(), gen);
///   auto x_patched = apply_patch(x, p.render(), p.mask(), placed);

#include <ATen/core/Generator.h>
#include <torch/arg.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "foil/data/dataset.h"

namespace foil {

/// How a patch is parameterised and shaped.
struct PatchOptions {
  /// "grid" (printable cells) or "free" (one parameter per pixel). Default "grid".
  TORCH_ARG(std::string, param) = "grid";
  /// Cells per side of a grid patch. Default 10.
  TORCH_ARG(int64_t, cells) = 10;
  /// Patch area as a fraction of the image, in (0, 0.5]. Default 0.15.
  TORCH_ARG(double, area) = 0.15;
  /// "square" or "circle". Default "square".
  TORCH_ARG(std::string, shape) = "square";
  /// Starting point: "grey" (every parameter 0.5, the middle of [0,1], as IBM ART starts) or
  /// "random" (uniform in [0,1]; many parameters then start at a clamp bound). Default "grey".
  TORCH_ARG(std::string, init) = "grey";
};

/// A patch: its parameters (C×G×G, in [0,1]) and how they render to pixels (C×S×S).
class Patch {
 public:
  /// A new patch (options().init()) for images of `image` shape; `seed` draws a random one.
  /// Throws InputError on bad options.
  static Patch create(const PatchOptions& options, const ImageShape& image, uint64_t seed = 0);
  /// A patch from saved parameters (C×G×G), checked against `options` and `image`.
  static Patch from_params(torch::Tensor params, const PatchOptions& options,
                           const ImageShape& image);

  /// The parameters, C×G×G in [0,1] (what the optimiser changes).
  torch::Tensor& params() { return params_; }
  /// The parameters, C×G×G in [0,1].
  const torch::Tensor& params() const { return params_; }
  /// The rendered side S, in image pixels.
  int64_t side() const { return side_; }
  /// How it was created.
  const PatchOptions& options() const { return options_; }
  /// The pixels, C×S×S (differentiable in params()).
  torch::Tensor render() const;
  /// The shape mask, S×S in {0,1}.
  torch::Tensor mask() const;

 private:
  PatchOptions options_;
  torch::Tensor params_;
  int64_t side_ = 0;
};

/// Where and how the patch lands on each image.
struct PlacementOptions {
  /// Fraction of the image side, centred, that the patch must not overlap (0 = none). The
  /// object usually sits there. Default 0.
  TORCH_ARG(double, keep_out) = 0.0;
  /// On the object (`001_...`): >= 0 puts the patch centre inside the central `on_object`
  /// fraction of each image's object box (0: the box centre; 1: anywhere in the box), kept
  /// inside the image; images without an object box are placed anywhere. -1 (default):
  /// anywhere. The boxes come with sample_placements.
  TORCH_ARG(double, on_object) = -1.0;
  /// With on_object: a patch on each of the class's `objects` best detections per image (Thys
  /// et al. 2019 put one on every person), each placed as on_object says; 1 (default): on
  /// the best one. See sample_object_placements.
  TORCH_ARG(int64_t, objects) = 1;
  /// EOT: random transformations applied differentiably (affine grid + grid sampling).
  TORCH_ARG(bool, eot) = false;
  /// EOT scale: patch area multiplied by a factor drawn from [scale_min, scale_max].
  TORCH_ARG(double, scale_min) = 0.8;
  TORCH_ARG(double, scale_max) = 1.2;  ///< see scale_min
  /// EOT rotation: uniform in ±rotation degrees. Default 10.
  TORCH_ARG(double, rotation) = 10.0;
  /// EOT brightness shift: uniform in ±brightness. Default 0.1.
  TORCH_ARG(double, brightness) = 0.1;
  /// EOT contrast factor: uniform in [contrast_min, contrast_max]. Default 0.8-1.2.
  TORCH_ARG(double, contrast_min) = 0.8;
  TORCH_ARG(double, contrast_max) = 1.2;  ///< see contrast_min
  /// EOT Gaussian noise sigma on the patch. Default 0.1.
  TORCH_ARG(double, noise) = 0.1;
  /// EOT tilt: the patch plane turned out of the image plane about its x and y axes, each by
  /// a uniform angle in ±tilt degrees, seen in perspective (as the OT paper's code). Default 5.
  TORCH_ARG(double, tilt) = 5.0;
  /// Common corruptions (foil/corrupt/corruptions.h) as part of the expectation: each image
  /// draws one of these and a severity in 1..5 and is corrupted whole after the patch is
  /// pasted (what a camera does to a printed patch). The corruptions are not differentiable:
  /// gradients pass them straight through (BPDA, Athalye et al. 2018). Empty: none. Works
  /// with or without `eot`.
  TORCH_ARG(std::vector<std::string>, eot_corruptions) = {};
};

/// One image's draw: top-left corner and, with EOT, the transformation.
struct Placement {
  int64_t top = 0;               ///< row of the patch's top-left corner
  int64_t left = 0;              ///< column of the patch's top-left corner
  double scale = 1.0;            ///< area factor
  double angle_deg = 0.0;        ///< rotation
  double brightness = 0.0;       ///< added to the patch's pixels
  double contrast = 1.0;         ///< multiplies the patch's pixels
  double tilt_x_deg = 0.0;       ///< out-of-plane turn about the x axis
  double tilt_y_deg = 0.0;       ///< out-of-plane turn about the y axis
  uint64_t noise_seed = 0;       ///< seeds this image's EOT noise (a placement carries its noise)
  std::string corruption;        ///< this image's EOT corruption ("" = none)
  int severity = 0;              ///< its severity (1..5)
  uint64_t corruption_seed = 0;  ///< its randomness
};

/// An object's box in image pixels; empty (x2 <= x1 or y2 <= y1) when the image has none.
struct ObjectBox {
  float x1 = 0;  ///< left
  float y1 = 0;  ///< top
  float x2 = 0;  ///< right
  float y2 = 0;  ///< bottom
  /// Whether there is no box.
  bool empty() const { return x2 <= x1 || y2 <= y1; }
};

/// Throws InputError naming the first bad placement option.
void check_placement_options(const PlacementOptions& options);

/// Draws `n` placements that keep the patch (at its largest EOT scale) inside the image and
/// out of the keep-out box, or, with options.on_object() >= 0, centred in `objects[i]`'s
/// central fraction (one box per image; an empty box or no list: anywhere). Throws InputError
/// when no position satisfies both.
std::vector<Placement> sample_placements(const Patch& patch, int64_t n, const ImageShape& image,
                                         const PlacementOptions& options, at::Generator& gen,
                                         const std::vector<ObjectBox>& objects = {});

/// Placements on several objects per image (a patch on every person): image i's first
/// placement is sample_placements' on `objects[i][0]` (anywhere when the image has no box),
/// then one more on each further box `objects[i][r]`. Round r draws every image's r-th
/// placement, so the generator's use depends only on `n` and the most boxes an image has; with
/// at most one box per image the placements equal sample_placements'.
std::vector<std::vector<Placement>> sample_object_placements(
    const Patch& patch, int64_t n, const ImageShape& image, const PlacementOptions& options,
    at::Generator& gen, const std::vector<std::vector<ObjectBox>>& objects);

/// apply_patch with one or more placements per image: the patch pasted at each in turn, then
/// each image corrupted once (its first placement's EOT corruption).
torch::Tensor apply_patch_each(const torch::Tensor& x, const torch::Tensor& pixels,
                               const torch::Tensor& mask,
                               const std::vector<std::vector<Placement>>& placements,
                               const PlacementOptions& options);

/// Pastes `pixels` (C×S×S) with `mask` (S×S) into each image of `x` (N×C×H×W) at its
/// placement. Without EOT the pasted pixels equal the patch exactly; with EOT the patch is
/// rotated/scaled/tilted by grid sampling, brightness/contrast/noise are applied to it (each
/// image's noise drawn on the images' device from its placement's noise_seed, so it does not
/// depend on the batch it is in). Then each image with an EOT corruption in its placement is
/// corrupted whole (gradients straight through). Gradients flow to `pixels`.
torch::Tensor apply_patch(const torch::Tensor& x, const torch::Tensor& pixels,
                          const torch::Tensor& mask, const std::vector<Placement>& placements,
                          const PlacementOptions& options);

/// Total variation of a C×S×S patch (mean absolute neighbour difference).
torch::Tensor total_variation(const torch::Tensor& pixels);

/// Reads a patch.pt written by 'foil patch train'; its patch.json sidecar (when present)
/// overrides `defaults`. Throws InputError for a missing file, a non-tensor or a wrong shape.
Patch read_patch(const std::string& path, PatchOptions defaults, const ImageShape& image);

}  // namespace foil
