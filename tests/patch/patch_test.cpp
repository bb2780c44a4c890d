#include "foil/patch/patch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"

namespace foil {
namespace {

TEST(Patch, GridCellsAreUniformAndCellGradientIsSumOfPixelGradients) {
  // 16x16 image, area 0.25 -> an 8x8 patch of 4x4 cells, each cell 2x2 pixels.
  Patch p = Patch::create(PatchOptions().cells(4).area(0.25), ImageShape{3, 16, 16}, 1);
  ASSERT_EQ(p.side(), 8);
  p.params().requires_grad_(true);
  const auto px = p.render();
  ASSERT_EQ(px.sizes(), (std::vector<int64_t>{3, 8, 8}));
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      auto cell = px.slice(1, 2 * i, 2 * i + 2).slice(2, 2 * j, 2 * j + 2);
      EXPECT_TRUE(cell.eq(p.params().select(1, i).select(1, j).view({3, 1, 1})).all().item<bool>());
    }
  const auto w = torch::randn({3, 8, 8});
  const auto g = torch::autograd::grad({(px * w).sum()}, {p.params()})[0];
  const auto cell_sums = w.view({3, 4, 2, 4, 2}).sum({2, 4});
  EXPECT_TRUE(g.allclose(cell_sums, 1e-5, 1e-6));
}

TEST(Patch, WithoutEotPastedPixelsEqualThePatchAndTheRestIsUntouched) {
  Patch p = Patch::create(PatchOptions().param("free").area(0.1).shape("circle"),
                          ImageShape{3, 20, 20}, 2);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto x = torch::rand({5, 3, 20, 20});
  const auto places = sample_placements(p, 5, {3, 20, 20}, PlacementOptions(), gen);
  const auto xp = apply_patch(x, p.render(), p.mask(), places, PlacementOptions());
  const int64_t s = p.side();
  for (int64_t i = 0; i < 5; ++i) {
    const auto& pl = places[i];
    const auto region = xp[i].slice(1, pl.top, pl.top + s).slice(2, pl.left, pl.left + s);
    const auto m = p.mask().to(torch::kBool);
    EXPECT_TRUE(region.masked_select(m.expand({3, s, s}))
                    .equal(p.render().masked_select(m.expand({3, s, s}))));
    auto outside = torch::ones({20, 20}, torch::kBool);
    outside.slice(0, pl.top, pl.top + s).slice(1, pl.left, pl.left + s).masked_fill_(m, false);
    EXPECT_TRUE(xp[i]
                    .masked_select(outside.expand({3, 20, 20}))
                    .equal(x[i].masked_select(outside.expand({3, 20, 20}))));
  }
}

TEST(Patch, PlacementsStayInsideAndOutOfTheKeepOutRegion) {
  Patch p = Patch::create(PatchOptions().area(0.05), ImageShape{3, 64, 64});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  for (bool eot : {false, true}) {
    auto o = PlacementOptions().keep_out(0.4).eot(eot);
    const auto places = sample_placements(p, 200, {3, 64, 64}, o, gen);
    // The central 40% box: rows/cols [19.2, 44.8).
    for (const auto& pl : places) {
      EXPECT_GE(pl.top, 0);
      EXPECT_GE(pl.left, 0);
      EXPECT_LE(pl.top + p.side(), 64);
      EXPECT_LE(pl.left + p.side(), 64);
      const bool overlaps =
          pl.top < 44.8 && pl.top + p.side() > 19.2 && pl.left < 44.8 && pl.left + p.side() > 19.2;
      EXPECT_FALSE(overlaps) << pl.top << "," << pl.left;
    }
    // With EOT the patch, rotated and scaled, still lands inside the image.
    const auto xp = apply_patch(
        torch::zeros({200, 3, 64, 64}), torch::ones({3, p.side(), p.side()}), p.mask(), places,
        PlacementOptions(o).noise(0).brightness(0).contrast_min(1).contrast_max(1));
    const auto centre = xp.slice(2, 20, 44).slice(3, 20, 44);
    EXPECT_EQ(centre.abs().sum().item<double>(), 0.0);
    EXPECT_GT(xp.sum().item<double>(), 0.0);
  }
  EXPECT_THROW(sample_placements(Patch::create(PatchOptions().area(0.5), ImageShape{3, 64, 64}), 1,
                                 {3, 64, 64}, PlacementOptions().keep_out(0.9), gen),
               InputError);
}

TEST(Patch, BadOptionsAndWrongShapedPatchFiles) {
  EXPECT_THROW(Patch::create(PatchOptions().area(0), ImageShape{3, 32, 32}), InputError);
  EXPECT_THROW(Patch::create(PatchOptions().area(0.6), ImageShape{3, 32, 32}), InputError);
  EXPECT_THROW(Patch::create(PatchOptions().cells(40), ImageShape{3, 32, 32}), InputError);
  EXPECT_THROW(Patch::create(PatchOptions().param("sticker"), ImageShape{3, 32, 32}), InputError);
  EXPECT_THROW(Patch::from_params(torch::rand({1, 10, 10}), PatchOptions(), ImageShape{3, 32, 32}),
               InputError);
  EXPECT_NO_THROW(
      Patch::from_params(torch::rand({3, 10, 10}), PatchOptions(), ImageShape{3, 32, 32}));
}

}  // namespace
}  // namespace foil
