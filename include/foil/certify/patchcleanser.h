#pragma once
/// @file
/// PatchCleanser (Xiang, Mahloujifar & Mittal, USENIX Security 2022): a certified defence
/// against one adversarial patch, model-agnostic. A set of masks is laid over the image so that
/// every square patch of a given side is fully covered by at least one mask. Double masking
/// predicts from the model's labels on the image with one and with two masks applied; an item
/// is certified when every two-mask prediction (every pair, a mask with itself included) is its
/// label: then no patch of that side, anywhere, can change the defended prediction.
///
/// Example:
///   auto set = foil::patch_mask_set(foil::ImageShape{1, 28, 28}, 4, 6);  // 25 masks
///   auto maps = foil::two_mask_predictions(*model, images, set);       // N x K x K
///   int64_t label = foil::double_masking(maps[0]);                     // defended prediction
///   bool certified = foil::two_mask_certified(maps[0], labels[0].item<int64_t>());

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "foil/models/wrapper.h"

namespace foil {

/// A mask set that covers every square patch of one side (R-covering in the paper).
struct PatchMaskSet {
  int64_t patch = 0;          ///< the patch side it covers, in pixels
  int64_t mask_h = 0;         ///< mask height: patch + stride_h - 1, at most the image's
  int64_t mask_w = 0;         ///< mask width: patch + stride_w - 1, at most the image's
  int64_t stride_h = 0;       ///< between mask rows: ceil((H - patch + 1) / masks per axis)
  int64_t stride_w = 0;       ///< between mask columns: ceil((W - patch + 1) / masks per axis)
  std::vector<int64_t> rows;  ///< top row of each mask row (the last one flush with the bottom)
  std::vector<int64_t> cols;  ///< left column of each mask column (the last one flush right)
  /// K x 1 x H x W, 1 where mask k keeps the pixel and 0 where it hides it (row-major order
  /// over rows, then cols).
  torch::Tensor keep;
  /// The number of masks K.
  int64_t size() const { return static_cast<int64_t>(rows.size() * cols.size()); }
};

/// The patch side PatchCleanser certifies for a patch of `area` (a share of the image in
/// (0, 1)): ceil(sqrt(area * H * W)), so every square patch of at most that area is covered.
/// Throws InputError naming --patch when the side is below 1 or above the image.
int64_t certified_patch_side(double area, const ImageShape& image);

/// The mask set for square patches of side `patch` on images of `image`'s size with
/// `masks_per_axis` mask positions per axis (the reference's default 6; fewer when the image
/// leaves less room). Throws InputError for a side outside 1..min(H, W) or masks_per_axis < 1.
PatchMaskSet patch_mask_set(const ImageShape& image, int64_t patch, int64_t masks_per_axis = 6);

/// The value a masked pixel takes, per channel (C): the model's normalisation mean, which is
/// 0 after normalisation as in the reference; 0 for a model that declares none.
torch::Tensor mask_fill(const Model& model, int64_t channels);

/// `x` (N x C x H x W) with `keep` (M x 1 x H x W, 1 = kept) applied: N*M images, item-major.
torch::Tensor apply_masks(const torch::Tensor& x, const torch::Tensor& keep,
                          const torch::Tensor& fill);

/// Every two-mask prediction of `model` on each of `x`: N x K x K (int64, symmetric; the
/// diagonal holds the one-mask predictions), `batch` masked images per forward pass.
torch::Tensor two_mask_predictions(Model& model, const torch::Tensor& x, const PatchMaskSet& set,
                                   int64_t batch = 500);

/// Double masking on one item's K x K two-mask predictions: the one-mask predictions' common
/// label when they agree (case I); else, taking the masks in order, the first one whose
/// one-mask label differs from the one-mask majority and whose two-mask predictions all agree
/// with that label (case II, as PatchCleanser's reference code); else the one-mask majority
/// (case III). `which` (optional) receives the case, 1..3.
int64_t double_masking(const torch::Tensor& map, int* which = nullptr);

/// Whether every two-mask prediction of one item is `label`: the certificate.
bool two_mask_certified(const torch::Tensor& map, int64_t label);

/// The defended model as a classifier: forward returns, per image, the one-hot of double
/// masking's prediction (labels only: no gradient reaches the wrapped model), computing the
/// first round for every image and the second round only where the first disagrees.
class PatchCleanserModel : public ModelWrapper {
 public:
  /// Defends `base` with `set`.
  PatchCleanserModel(std::shared_ptr<Model> base, PatchMaskSet set, int64_t batch = 500);
  /// No taps.
  std::vector<std::string> layer_names() const override { return {}; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  PatchMaskSet set_;
  int64_t batch_;
};

/// The model an adaptive patch attack differentiates: forward(x) is the base model on x with
/// a random pair of masks of `set` applied to each image (a fresh pair per image and call,
/// from LibTorch's seeded generator), so a patch trained through it is trained to survive the
/// masking PatchCleanser applies (expectation over the mask pairs).
class RandomMaskModel : public ModelWrapper {
 public:
  /// Wraps `base` with the masks of `set`.
  RandomMaskModel(std::shared_ptr<Model> base, PatchMaskSet set);
  /// No taps.
  std::vector<std::string> layer_names() const override { return {}; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  PatchMaskSet set_;
};

}  // namespace foil
