#include "foil/patch/patch.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"

namespace foil {
namespace {

TEST(Patch, GridCellsAreUniformAndCellGradientIsMeanOfPixelGradients) {
  // 16x16 image, area 0.25 -> an 8x8 patch of 4x4 cells, each cell 2x2 pixels.
  Patch p =
      Patch::create(PatchOptions().cells(4).area(0.25).init("random"), ImageShape{3, 16, 16}, 1);
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
  const auto cell_means = w.view({3, 4, 2, 4, 2}).mean({2, 4});
  EXPECT_TRUE(g.allclose(cell_means, 1e-5, 1e-6));
}

TEST(Patch, GridCellsAreEqualWhenTheAreaIsNotAMultipleOfTheCells) {
  // 28x28 at 15%: 10.8 pixels asked for; 4 cells -> 12 pixels, 3 per cell, all equal.
  Patch p =
      Patch::create(PatchOptions().cells(4).area(0.15).init("random"), ImageShape{1, 28, 28}, 1);
  ASSERT_EQ(p.side(), 12);
  const auto px = p.render();
  EXPECT_TRUE(px.equal(p.params().repeat_interleave(3, 1).repeat_interleave(3, 2)));
  // 10 cells on a 64x64 image at 15% (24.8 px): 20, not 25 with cells of 2 and 3 pixels.
  EXPECT_EQ(Patch::create(PatchOptions().cells(10), ImageShape{3, 64, 64}).side() % 10, 0);
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

TEST(Patch, OnObjectPlacementsCentreThePatchInTheBoxsCentralFraction) {
  Patch p = Patch::create(PatchOptions().area(0.04), ImageShape{3, 100, 100});  // 20x20
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  // Image 0: an object box x 40..80, y 10..50; image 1: no object; image 2: a box at the
  // bottom-right corner, so the patch must be pulled back inside the image.
  const std::vector<ObjectBox> boxes = {{40, 10, 80, 50}, {}, {90, 90, 100, 100}};
  for (double f : {0.0, 0.5}) {
    const auto o = PlacementOptions().on_object(f);
    for (int rep = 0; rep < 50; ++rep) {
      const auto places = sample_placements(p, 3, {3, 100, 100}, o, gen, boxes);
      const double cx = places[0].left + p.side() / 2.0, cy = places[0].top + p.side() / 2.0;
      // Central fraction f of the box: centre 60,30, half-extent f * 20 (+ rounding).
      EXPECT_LE(std::abs(cx - 60), f * 20 + 0.5) << f;
      EXPECT_LE(std::abs(cy - 30), f * 20 + 0.5) << f;
      for (const auto& pl : places) {
        EXPECT_GE(std::min(pl.top, pl.left), 0);
        EXPECT_LE(std::max(pl.top, pl.left) + p.side(), 100);
      }
      EXPECT_EQ(places[2].top, 80);  // pulled back from 85 to the image's edge
      EXPECT_EQ(places[2].left, 80);
    }
  }
  EXPECT_THROW(
      sample_placements(p, 2, {3, 100, 100}, PlacementOptions().on_object(0.5), gen, boxes),
      InputError);  // one box per image
  EXPECT_THROW(check_placement_options(PlacementOptions().on_object(0.5).keep_out(0.3)),
               InputError);
  EXPECT_THROW(check_placement_options(PlacementOptions().on_object(1.5)), InputError);
}

TEST(Patch, APatchOnEveryObjectOfEachImage) {
  Patch p = Patch::create(PatchOptions().area(0.01), ImageShape{1, 100, 100});  // 10x10
  p.params().fill_(1.0);
  const auto o = PlacementOptions().on_object(0).objects(3);
  // Image 0: three people; image 1: none (placed anywhere, once); image 2: one.
  const std::vector<std::vector<ObjectBox>> boxes = {
      {{0, 0, 20, 20}, {40, 40, 60, 60}, {70, 10, 90, 30}}, {}, {{30, 60, 50, 80}}};
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto places = sample_object_placements(p, 3, {1, 100, 100}, o, gen, boxes);
  ASSERT_EQ(places.size(), 3u);
  ASSERT_EQ(places[0].size(), 3u);
  EXPECT_EQ(places[1].size(), 1u);
  ASSERT_EQ(places[2].size(), 1u);
  const std::vector<std::pair<int64_t, int64_t>> corners = {{5, 5}, {45, 45}, {75, 15}};
  for (size_t k = 0; k < 3; ++k) {  // centred on each box (on_object 0)
    EXPECT_EQ(places[0][k].left, corners[k].first) << k;
    EXPECT_EQ(places[0][k].top, corners[k].second) << k;
  }
  EXPECT_EQ(places[2][0].left, 35);
  // With one box per image the first round is sample_placements' own draw.
  auto again = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto single =
      sample_placements(p, 3, {1, 100, 100}, o, again, {boxes[0][0], ObjectBox{}, boxes[2][0]});
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(places[i][0].left, single[i].left) << i;
    EXPECT_EQ(places[i][0].top, single[i].top) << i;
  }
  // Pasted at every placement, nowhere else.
  const torch::Tensor x = torch::zeros({3, 1, 100, 100});
  const torch::Tensor xp = apply_patch_each(x, p.render(), p.mask(), places, o);
  EXPECT_EQ(xp[0].sum().item<double>(), 300.0);
  EXPECT_EQ(xp[1].sum().item<double>(), 100.0);
  EXPECT_EQ(xp[2].sum().item<double>(), 100.0);
  for (const auto& [left, top] : corners)
    EXPECT_EQ(xp[0][0].slice(0, top, top + 10).slice(1, left, left + 10).min().item<double>(), 1.0);
  // Gradients reach the patch through every copy.
  Patch q = Patch::create(PatchOptions().area(0.01).param("free"), ImageShape{1, 100, 100});
  q.params().requires_grad_(true);
  apply_patch_each(x, q.render(), q.mask(), places, o).sum().backward();
  EXPECT_NEAR(q.params().grad().sum().item<double>(), 500.0, 1e-3);  // 5 copies of 100 pixels
  EXPECT_THROW(check_placement_options(PlacementOptions().objects(2)), InputError);  // no object
  EXPECT_THROW(check_placement_options(PlacementOptions().on_object(0).objects(0)), InputError);
}

TEST(Patch, EotTiltForeshortensThePatchInPerspective) {
  Patch p = Patch::create(PatchOptions().param("free").area(0.2), ImageShape{1, 64, 64});
  const auto x = torch::zeros({1, 1, 64, 64});
  const auto white = torch::ones({1, p.side(), p.side()});
  auto flat = PlacementOptions().eot(true).noise(0).brightness(0).rotation(0).tilt(0);
  Placement pl;
  pl.top = pl.left = 20;
  const auto a = apply_patch(x, white, p.mask(), {pl}, flat);
  Placement tilted = pl;
  tilted.tilt_y_deg = 20;  // turned about the vertical axis: one side nearer, one farther
  const auto b = apply_patch(x, white, p.mask(), {tilted}, flat);
  EXPECT_FALSE(a.equal(b));
  // Perspective, not an affine squeeze: the near edge is taller than the far one.
  const auto cols = b[0][0].gt(0.5).sum(0);
  const auto lit = cols.nonzero().flatten();
  ASSERT_GT(lit.numel(), 2);
  const int64_t left = cols[lit[0]].item<int64_t>(), right = cols[lit[-1]].item<int64_t>();
  EXPECT_NE(left, right);
  // Drawn tilts stay within the bound.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
  for (const auto& d : sample_placements(p, 50, {1, 64, 64}, PlacementOptions().eot(true), gen)) {
    EXPECT_LE(std::abs(d.tilt_x_deg), 5.0);
    EXPECT_LE(std::abs(d.tilt_y_deg), 5.0);
  }
}

// A tilted patch's perspective divides by the depth of the plane point each pixel sees; far from
// a small patch that depth crosses zero (the pixel sees no plane in front of the camera). These
// three placements, small tilted patches in a 768x576 frame, each hit a zero depth at some pixel:
// the grid held inf/NaN there, which put NaN into the pasted image and crashed LibTorch 1.13's
// grid-sampler backward (a segmentation fault in a per-person training run).
TEST(Patch, EotTiltAwayFromThePatchStaysFinite) {
  const auto x = torch::full({3, 3, 576, 768}, 0.5);
  const auto pixels = torch::rand({3, 40, 40}).requires_grad_(true);
  const auto mask = torch::ones({40, 40});
  const auto o =
      PlacementOptions().eot(true).noise(0).brightness(0).contrast_min(1).contrast_max(1);
  struct Draw {
    double scale, angle, tilt_x, tilt_y;
    int64_t top, left;
  };
  std::vector<Placement> at;
  for (const Draw& d : {Draw{0.07523031029724166, -9.59466983122966, 4.043986330300443,
                             -0.2978383870179533, 400, 204},
                        Draw{0.27296052717792424, 17.430190773238124, -0.8435880345908684,
                             -4.007890119019043, 432, 86},
                        Draw{0.1634322635874232, 17.971405502456086, -4.35907256919076,
                             -4.036947777616558, 270, 195}}) {
    Placement p;
    p.top = d.top;
    p.left = d.left;
    p.scale = d.scale;
    p.angle_deg = d.angle;
    p.tilt_x_deg = d.tilt_x;
    p.tilt_y_deg = d.tilt_y;
    at.push_back(p);
  }
  const auto y = apply_patch(x, pixels, mask, at, o);
  ASSERT_TRUE(torch::isfinite(y).all().item<bool>());
  // Only the patch's neighbourhood changes: every changed pixel lies within its placement box.
  for (int64_t i = 0; i < 3; ++i) {
    const auto changed = y[i].ne(x[i]).any(0).nonzero();
    ASSERT_GT(changed.size(0), 0);
    EXPECT_GE(changed.select(1, 0).min().item<int64_t>(), at[i].top - 20);
    EXPECT_LE(changed.select(1, 0).max().item<int64_t>(), at[i].top + 60);
    EXPECT_GE(changed.select(1, 1).min().item<int64_t>(), at[i].left - 20);
    EXPECT_LE(changed.select(1, 1).max().item<int64_t>(), at[i].left + 60);
  }
  y.sum().backward();
  EXPECT_TRUE(torch::isfinite(pixels.grad()).all().item<bool>());
}

// Issue #36 item 8: with EOT the pasted patch blends with the image through the mask once.
// A white patch on black and a black patch on white, placed alike, then add up to 1 at every
// pixel (mask m once: m + (1 - m)); weighting the rim twice (m^2 + 1 - m) leaves it dark.
TEST(Patch, EotPasteWeighsTheRimByTheMaskOnce) {
  for (const std::string shape : {"square", "circle"}) {
    Patch p =
        Patch::create(PatchOptions().param("free").area(0.2).shape(shape), ImageShape{1, 64, 64});
    const auto flat =
        PlacementOptions().eot(true).noise(0).brightness(0).contrast_min(1).contrast_max(1);
    Placement pl;
    pl.top = pl.left = 18;
    pl.angle_deg = 17;
    pl.scale = 0.9;
    const auto white = torch::ones({1, p.side(), p.side()});
    const auto on_black = apply_patch(torch::zeros({1, 1, 64, 64}), white, p.mask(), {pl}, flat);
    const auto on_white = apply_patch(torch::ones({1, 1, 64, 64}), white * 0, p.mask(), {pl}, flat);
    EXPECT_LT((on_black + on_white - 1).abs().max().item<double>(), 1e-5) << shape;
    // The rim exists: some pixels are partly covered.
    EXPECT_GT((on_black.gt(0.05) & on_black.lt(0.95)).sum().item<int64_t>(), 0) << shape;
  }
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
