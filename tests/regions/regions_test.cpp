#include "foil/regions/regions.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/data/dataset.h"
#include "foil/explain/explain.h"
#include "foil/models/model.h"
#include "foil/regions/neutralize.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(Regions, SharesSumToOneAndIouIsConsistent) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:32");
  auto adv = make_attack("pgd", AttackOptions().eps(0.1).alpha(0.02).steps(5))
                 ->run(*model, data.images, Criterion::misclassification(data.labels))
                 .adv;
  auto cam = explain(*model, data.images, data.labels, ExplainMethod::kGradCam, "conv2");
  auto r = analyze_regions(*model, data.images, adv, data.labels, cam, 10);
  EXPECT_TRUE(r.pixel_share.sum(1).allclose(torch::ones({32}, torch::kDouble)));
  EXPECT_TRUE(r.mass_share.sum(1).allclose(torch::ones({32}, torch::kDouble)));
  // RoI and RoA each hold 10% of the pixels: both + RoI-only = 10%.
  EXPECT_TRUE((r.pixel_share.select(1, 0) + r.pixel_share.select(1, 1))
                  .allclose(torch::full({32}, 78.0 / 784, torch::kDouble)));
  auto both = r.pixel_share.select(1, 0);
  EXPECT_TRUE(r.iou.allclose(both / (2 * 78.0 / 784 - both)));
  // Mass share of the RoA (its top pixels) beats its pixel share.
  EXPECT_GT((r.mass_share.select(1, 0) + r.mass_share.select(1, 2)).mean().item<double>(), 0.1);
}

TEST(Regions, RoaOfASignAttackIsDecidedByItsGradientNotByTieOrder) {
  // PGD-Linf with large steps saturates: |delta| = eps on most pixels.
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:16");
  auto r = make_attack("pgd", AttackOptions().eps(0.05).alpha(0.05).steps(4))
               ->run(*model, data.images, Criterion::misclassification(data.labels));
  const auto magnitude = (r.adv - data.images).abs().sum(1);
  torch::Tensor tied_delta, tied_score;
  const auto by_delta = top_percent_ranked(magnitude, magnitude, 10, &tied_delta);
  const auto roa = top_percent_ranked(r.grad_score, magnitude, 10, &tied_score);
  // |delta| alone is cut through a tie larger than the RoA itself (10%), so tie order picks
  // the RoA; the accumulated gradient has no such tie.
  EXPECT_GT(tied_delta.mean().item<double>(), 0.1);
  EXPECT_LT(tied_score.max().item<double>(), 0.01);
  // The same pixels shuffled give the same (shuffled) RoA: no dependence on index order.
  const auto perm = torch::randperm(28 * 28);
  auto shuffle = [&](const torch::Tensor& t) {
    return t.flatten(1).index_select(1, perm).view({16, 28, 28});
  };
  const auto roa_shuffled = top_percent_ranked(shuffle(r.grad_score), shuffle(magnitude), 10);
  EXPECT_TRUE(roa_shuffled.equal(shuffle(roa)));
  // Not simply the first 10% of indices (what a tie-ordered top-k of a flat map returns).
  auto first = torch::zeros({16, 28 * 28}, torch::kBool);
  first.slice(1, 0, 78).fill_(true);
  EXPECT_FALSE(roa.flatten(1).equal(first));
  // The analysis reports the chance IoU and uses the score.
  auto cam = explain(*model, data.images, data.labels, ExplainMethod::kGradCam, "conv2");
  auto a = analyze_regions(*model, data.images, r.adv, data.labels, cam, 10, r.grad_score);
  EXPECT_TRUE(a.roa.equal(roa));
  EXPECT_NEAR(iou_chance(10), 0.1 / 1.9, 1e-12);
}

TEST(Regions, QOutOfRangeIsInputError) {
  auto x = torch::rand({1, 1, 28, 28});
  EXPECT_THROW(analyze_regions(*test::cnn_model(), x, x, torch::zeros({1}, torch::kLong), x[0], 0),
               InputError);
  EXPECT_THROW(
      analyze_regions(*test::cnn_model(), x, x, torch::zeros({1}, torch::kLong), x[0], 100),
      InputError);
}

TEST(Neutralize, OnlyMaskedPixelsChange) {
  auto model = test::cnn_model();
  auto x = load_data("fashion-mnist:test:16").images;
  for (const std::string fill : {"blur", "median", "mean"}) {
    auto o = NeutralizeOptions().q_vulnerable(15).q_important(10).fill(fill);
    auto mask = neutralization_mask(*model, x, o);
    auto xd = neutralize(*model, x, o);
    auto changed = (xd - x).abs().amax(1).gt(0);
    EXPECT_FALSE((changed & ~mask).any().item<bool>()) << fill;
    EXPECT_TRUE(changed.any().item<bool>()) << fill;
    // The vulnerable set minus the important set: at most 15% of the pixels.
    EXPECT_LE(mask.flatten(1).sum(1).max().item<int64_t>(), 118);
  }
}

TEST(Neutralize, QZeroIsIdentity) {
  auto model = test::cnn_model();
  auto x = load_data("fashion-mnist:test:8").images;
  EXPECT_TRUE(neutralize(*model, x, NeutralizeOptions().q_vulnerable(0)).equal(x));
  NeutralizedModel defended(model, NeutralizeOptions().q_vulnerable(0));
  EXPECT_TRUE(defended.forward(x).allclose(model->forward(x)));
}

TEST(Neutralize, BestIterateAdaptiveAttackIsNeverWeakerThanTheLastIterate) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:200");
  NeutralizedModel defended(model, NeutralizeOptions());
  auto robust = [&](bool best) {
    seed_everything(7);
    auto o = AttackOptions().eps(0.05).alpha(0.02).steps(6).random_start(true).early_stop(best);
    auto r = make_attack("pgd", o)->run(defended, data.images,
                                        Criterion::misclassification(data.labels));
    torch::NoGradGuard g;
    return defended.forward(r.adv).argmax(1).eq(data.labels);
  };
  const auto last = robust(false), best = robust(true);
  // Every point the best-iterate attack leaves robust, the last-iterate one does too.
  EXPECT_FALSE((best & ~last).any().item<bool>());
  EXPECT_LE(best.sum().item<int64_t>(), last.sum().item<int64_t>());
}

TEST(Neutralize, AdaptiveGradientsFlowThroughTheDefence) {
  NeutralizedModel defended(test::cnn_model(), NeutralizeOptions().fill("median"));
  auto x = load_data("fashion-mnist:test:4").images.clone().requires_grad_(true);
  auto g = torch::autograd::grad({defended.forward(x).sum()}, {x})[0];
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
  EXPECT_THROW(NeutralizedModel(test::cnn_model(), NeutralizeOptions().fill("inpaint")),
               InputError);
}

}  // namespace
}  // namespace foil
