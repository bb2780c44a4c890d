// PatchCleanser: the mask set covers every patch, double masking's three cases, and the
// certificate holds exactly where a hand-made model's analysis says it does.
#include "foil/certify/patchcleanser.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/core/error.h"
#include "foil/jobs/patch_certify_job.h"
#include "foil/patch/per_image.h"

namespace foil {
namespace {

constexpr int64_t kSide = 16;

/// Class 1 when the mean of the 3x3 region at (row, col) is above 1/2, else class 0.
test::LinearModel region_model(int64_t row, int64_t col) {
  torch::Tensor w = torch::zeros({2, 1, kSide, kSide});
  w[1].slice(1, row, row + 3).slice(2, col, col + 3).fill_(1.0 / 9);
  return test::LinearModel(w.view({2, -1}), torch::tensor({0.0, -0.5}),
                           ImageShape{1, kSide, kSide});
}

/// `image` with a `side`-pixel square of `value` at (row, col).
torch::Tensor with_patch(torch::Tensor image, int64_t row, int64_t col, int64_t side, float value) {
  image = image.clone();
  image.slice(2, row, row + side).slice(3, col, col + side).fill_(value);
  return image;
}

TEST(PatchCleanser, EveryPatchIsCoveredByAMask) {
  for (auto [h, w, p, k] : std::vector<std::array<int64_t, 4>>{
           {28, 28, 4, 6}, {28, 28, 7, 6}, {28, 28, 9, 6}, {16, 16, 3, 4}, {20, 31, 5, 3}}) {
    const PatchMaskSet s = patch_mask_set(ImageShape{1, h, w}, p, k);
    EXPECT_LE(static_cast<int64_t>(s.rows.size()), k + 1);
    EXPECT_EQ(s.keep.size(0), s.size());
    EXPECT_EQ(s.rows.back() + s.mask_h, h);  // the last mask is flush with the border
    EXPECT_EQ(s.cols.back() + s.mask_w, w);
    for (int64_t r = 0; r + p <= h; ++r)
      for (int64_t c = 0; c + p <= w; ++c) {
        // Some mask hides every pixel of the patch.
        const torch::Tensor hidden =
            s.keep.select(1, 0).slice(1, r, r + p).slice(2, c, c + p).sum({1, 2}).eq(0);
        EXPECT_TRUE(hidden.any().item<bool>())
            << h << "x" << w << " p " << p << " at " << r << "," << c;
      }
  }
  // The reference's numbers: 28 px, patch 4, 6 masks per axis -> stride 5, mask 8, 5 rows.
  const PatchMaskSet s = patch_mask_set(ImageShape{1, 28, 28}, 4, 6);
  EXPECT_EQ(s.stride_h, 5);
  EXPECT_EQ(s.mask_h, 8);
  EXPECT_EQ(s.rows, (std::vector<int64_t>{0, 5, 10, 15, 20}));
  // Patch 7: stride 4, mask 10; 0..16 by 4, then 18 flush with the border.
  EXPECT_EQ(patch_mask_set(ImageShape{1, 28, 28}, 7, 6).rows,
            (std::vector<int64_t>{0, 4, 8, 12, 16, 18}));
}

TEST(PatchCleanser, PatchSideAndBadInput) {
  const ImageShape img{1, 28, 28};
  EXPECT_EQ(certified_patch_side(0.02, img), 4);        // 15.7 px -> 4x4
  EXPECT_EQ(certified_patch_side(16.0 / 784, img), 4);  // exactly 4x4
  EXPECT_EQ(certified_patch_side(0.10, img), 9);        // 78.4 px -> 9x9
  for (double bad : {0.0, -0.1, 1.0, 1.5, double{NAN}})
    EXPECT_THROW(certified_patch_side(bad, img), InputError);
  EXPECT_THROW(patch_mask_set(img, 0, 6), InputError);
  EXPECT_THROW(patch_mask_set(img, 29, 6), InputError);
  EXPECT_THROW(patch_mask_set(img, 4, 0), InputError);
  PatchCertifyOptions o;
  o.areas = {0.02, 2.0};
  EXPECT_THROW(check_patch_certify_options(o), InputError);
  o.areas = {0.02};
  o.repeats = 0;
  EXPECT_THROW(check_patch_certify_options(o), InputError);
}

TEST(PatchCleanser, DoubleMaskingCases) {
  int which = 0;
  // I: every one-mask prediction agrees.
  EXPECT_EQ(double_masking(torch::full({3, 3}, 2, torch::kLong), &which), 2);
  EXPECT_EQ(which, 1);
  // II: mask 2 disagrees (class 5) and every two-mask prediction with it agrees.
  torch::Tensor m = torch::full({4, 4}, 1, torch::kLong);
  m[2].fill_(5);
  m.select(1, 2).fill_(5);
  EXPECT_EQ(double_masking(m, &which), 5);
  EXPECT_EQ(which, 2);
  EXPECT_FALSE(two_mask_certified(m, 1));
  // III: the disagreer's row is not unanimous: the majority wins.
  m[2][0] = 1;
  EXPECT_EQ(double_masking(m, &which), 1);
  EXPECT_EQ(which, 3);
  EXPECT_TRUE(two_mask_certified(torch::full({4, 4}, 1, torch::kLong), 1));
}

TEST(PatchCleanser, CertificateHoldsExactlyWhereTheAnalysisSays) {
  auto model = std::make_shared<test::LinearModel>(region_model(6, 6));
  const PatchMaskSet set = patch_mask_set(ImageShape{1, kSide, kSide}, 3, 4);
  const torch::Tensor dark = torch::zeros({1, 1, kSide, kSide});
  const torch::Tensor bright = with_patch(dark, 6, 6, 3, 1);  // the region lit: class 1
  const torch::Tensor maps = two_mask_predictions(*model, torch::cat({dark, bright}), set, 64);
  // Dark: masks only add zeros, every two-mask prediction is 0: certified. Bright: a mask
  // hides the region, so some predictions are 0: not certified for its class 1.
  EXPECT_TRUE(two_mask_certified(maps[0], 0));
  EXPECT_FALSE(two_mask_certified(maps[1], 1));
  // Only the mask at (4, 4) hides the whole region, and with it every second mask agrees on
  // 0: double masking takes the lit region for a patch (case II) and answers 0, wrong.
  int which = 0;
  EXPECT_EQ(double_masking(maps[1], &which), 0);
  EXPECT_EQ(which, 2);
  PatchCleanserModel defended(model, set, 64);
  // Brute force over every position of a 3x3 patch: lighting the region fools the plain
  // model on the dark image, never the defended one (certified); hiding the region on the
  // bright image fools both (not certified).
  int64_t plain_fooled = 0, defended_fooled = 0;
  for (int64_t r = 0; r + 3 <= kSide; ++r)
    for (int64_t c = 0; c + 3 <= kSide; ++c) {
      const torch::Tensor x = with_patch(dark, r, c, 3, 1);
      plain_fooled += model->forward(x).argmax(1).item<int64_t>() != 0 ? 1 : 0;
      defended_fooled += defended.forward(x).argmax(1).item<int64_t>() != 0 ? 1 : 0;
    }
  EXPECT_GT(plain_fooled, 0);
  EXPECT_EQ(defended_fooled, 0);
  EXPECT_EQ(defended.forward(with_patch(bright, 6, 6, 3, 0)).argmax(1).item<int64_t>(), 0);
}

TEST(PatchCleanser, DefendedModelMatchesTheFullMapAndMasksAreRandomPairs) {
  torch::manual_seed(3);
  auto model = std::make_shared<test::LinearModel>(torch::randn({4, kSide * kSide}),
                                                   torch::zeros({4}), ImageShape{1, kSide, kSide});
  const PatchMaskSet set = patch_mask_set(ImageShape{1, kSide, kSide}, 3, 4);
  const torch::Tensor x = torch::rand({12, 1, kSide, kSide});
  const torch::Tensor maps = two_mask_predictions(*model, x, set, 100);
  PatchCleanserModel defended(model, set, 100);
  const torch::Tensor out = defended.forward(x).argmax(1);
  int disagreements = 0;
  for (int64_t i = 0; i < x.size(0); ++i) {
    int which = 0;
    EXPECT_EQ(out[i].item<int64_t>(), double_masking(maps[i], &which)) << "item " << i;
    disagreements += which > 1 ? 1 : 0;
  }
  EXPECT_GT(disagreements, 0);  // the second round was exercised
  // A model that counts kept pixels: each image loses one or two masks' worth.
  auto counter = std::make_shared<test::LinearModel>(
      torch::ones({1, kSide * kSide}), torch::zeros({1}), ImageShape{1, kSide, kSide});
  RandomMaskModel through(counter, set);
  const torch::Tensor ones = torch::ones({50, 1, kSide, kSide}, torch::requires_grad());
  const torch::Tensor kept = through.forward(ones);
  const double area = static_cast<double>(set.mask_h * set.mask_w);
  EXPECT_LE(kept.max().item<double>(), kSide * kSide - area);
  EXPECT_GE(kept.min().item<double>(), kSide * kSide - 2 * area);
  kept.sum().backward();
  EXPECT_GT(ones.grad().sum().item<double>(), 0);  // gradients reach the image
}

TEST(PatchCleanser, PerImagePatchFindsTheRegionAndJobNeverBeatsTheCertificate) {
  auto model = std::make_shared<test::LinearModel>(region_model(6, 6));
  PerImagePatchOptions p;
  p.side = 3;
  p.positions = 1;  // the centre, (6, 6): on the region
  p.steps = 10;
  const torch::Tensor dark = torch::zeros({1, 1, kSide, kSide});
  const torch::Tensor patched = per_image_patches(*model, dark, torch::tensor({0}), p);
  EXPECT_EQ(model->forward(patched).argmax(1).item<int64_t>(), 1);
  EXPECT_EQ(patched.ne(0).sum().item<int64_t>(),
            patched.slice(2, 6, 9).slice(3, 6, 9).ne(0).sum().item<int64_t>());

  Dataset data;
  data.source = "hand-made";
  data.images = torch::cat({dark, with_patch(dark, 6, 6, 3, 1), dark});
  data.labels = torch::tensor({0, 1, 0});
  PatchCertifyOptions o;
  o.areas = {9.0 / (kSide * kSide)};
  o.masks_per_axis = 4;
  o.per_image_steps = 10;
  o.positions = 14;  // every place: (6, 6) hides the region of the bright item
  const PatchCertifyResult r = run_patch_certify(model, data, Dataset{}, o);
  ASSERT_EQ(r.rows.size(), 1u);
  const PatchCertifyRow& row = r.rows[0];
  EXPECT_EQ(row.set.patch, 3);
  EXPECT_NEAR(row.certified_accuracy, 2.0 / 3, 1e-12);
  EXPECT_NEAR(row.defended_accuracy, 2.0 / 3, 1e-12);  // the bright item: case II, wrong
  EXPECT_EQ(row.broken_certified, 0);
  ASSERT_EQ(row.attacks.size(), 2u);  // per-image on the plain model and through the masks
  // The plain model falls on every item; the defended one keeps exactly the certified ones.
  EXPECT_NEAR(row.attacks[0].undefended_accuracy, 0.0, 1e-12);
  EXPECT_NEAR(row.best_attack_accuracy, 2.0 / 3, 1e-12);
}

}  // namespace
}  // namespace foil
