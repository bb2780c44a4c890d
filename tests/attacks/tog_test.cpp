// TOG-vanishing (foil/attacks/tog.h) on a hand-made detector whose scores are a known function
// of the input.
#include "foil/attacks/tog.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"

namespace foil {
namespace {

/// Four locations (the image's quadrants) and two classes: class c at a quadrant has logit
/// 100 (mean - 0.48) for c = 0 and 100 (mean - 0.49) for c = 1, so a grey 0.5 image is found
/// everywhere (scores 0.88 and 0.73) and a quadrant 0.031 darker everywhere lost.
torch::Tensor quadrant_logits(const torch::Tensor& x) {
  const int64_t h = x.size(2) / 2, w = x.size(3) / 2;
  std::vector<torch::Tensor> means;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 2; ++j)
      means.push_back(x.slice(2, i * h, (i + 1) * h).slice(3, j * w, (j + 1) * w).mean({1, 2, 3}));
  const torch::Tensor m = torch::stack(means, 1).unsqueeze(2);  // N×4×1
  return 100 * torch::cat({m - 0.48, m - 0.49}, 2);
}

torch::Tensor quadrant_scores(const torch::Tensor& x) { return torch::sigmoid(quadrant_logits(x)); }

TEST(TogFabrication, ObjectsAppearWhereTheHandMadeDetectorFoundNone) {
  // A 0.46 grey image: every score below 0.3 (0.12 and 0.05); 8/255 can lift a quadrant's
  // mean by 0.031, over the 0.48 where class 0 reaches 0.5.
  const torch::Tensor x = torch::full({2, 3, 8, 8}, 0.46);
  ASSERT_TRUE(quadrant_scores(x).lt(0.3).all().item<bool>());
  TogOptions o;
  o.objective = "fabrication";
  const torch::Tensor adv = tog_attack(quadrant_logits, x, o);
  // Each location's best class (class 0) now found everywhere.
  EXPECT_TRUE(quadrant_scores(adv).select(2, 0).ge(0.3).all().item<bool>()) << quadrant_scores(adv);
  EXPECT_LE((adv - x).abs().max().item<double>(), o.eps + 1e-6);
  // The loss is softplus(-best logit) summed over locations.
  const torch::Tensor l = quadrant_logits(x);
  EXPECT_TRUE(fabrication_loss(l).allclose(torch::softplus(-l.select(2, 0)).sum(1)));
  o.objective = "appearing";
  EXPECT_THROW(tog_attack(quadrant_logits, x, o), InputError);
}

TEST(TogVanishing, EveryDetectionOfTheHandMadeDetectorVanishes) {
  const torch::Tensor x = torch::full({3, 3, 8, 8}, 0.5);
  ASSERT_TRUE(quadrant_scores(x).ge(0.3).all().item<bool>());
  TogOptions o;  // the reference's: Linf 8/255, 10 steps of 2/255, random start
  const torch::Tensor adv = tog_vanishing(quadrant_logits, x, o);
  EXPECT_TRUE(quadrant_scores(adv).lt(0.3).all().item<bool>()) << quadrant_scores(adv);
  EXPECT_LE((adv - x).abs().max().item<double>(), o.eps + 1e-6);
  EXPECT_GE(adv.min().item<double>(), 0.0);
  // Too small a budget cannot hide them: 1/255 moves a mean by 0.004.
  o.eps = 1.0 / 255;
  EXPECT_TRUE(quadrant_scores(tog_vanishing(quadrant_logits, x, o)).ge(0.3).any().item<bool>());
}

TEST(TogVanishing, L2StaysInItsBallAndLowersTheLoss) {
  const torch::Tensor x = torch::full({2, 3, 8, 8}, 0.5);
  TogOptions o;
  o.norm = "l2";
  o.eps = 0.5;
  const torch::Tensor adv = tog_vanishing(quadrant_logits, x, o);
  EXPECT_LE((adv - x).flatten(1).norm(2, 1).max().item<double>(), 0.5 + 1e-5);
  EXPECT_TRUE(vanishing_loss(quadrant_logits(adv))
                  .lt(vanishing_loss(quadrant_logits(x)))
                  .all()
                  .item<bool>());
}

TEST(TogVanishing, ABatchGivesEachItemsOwnResult) {
  torch::manual_seed(3);
  const torch::Tensor x = torch::rand({4, 3, 8, 8});
  TogOptions o;
  o.seed = 7;
  const torch::Tensor all = tog_vanishing(quadrant_logits, x, o);
  o.ids = torch::tensor({2}, torch::kLong);
  const torch::Tensor one = tog_vanishing(quadrant_logits, x.slice(0, 2, 3), o);
  EXPECT_TRUE(torch::allclose(all.slice(0, 2, 3), one, 0, 1e-6));
}

TEST(TogVanishing, TheLossIsTheBinaryCrossEntropyAgainstNoObject) {
  // Scores 0.5, 0 and 0.75: -log(1 - p) = log 2, 0, log 4; exact from the logits even where
  // 1 - p is below float precision (logit 40).
  const torch::Tensor z = torch::tensor({0.0, -100.0, std::log(3.0)}).view({1, 3, 1});
  EXPECT_NEAR(vanishing_loss(z).item<double>(), std::log(2.0) + std::log(4.0), 1e-6);
  EXPECT_NEAR(vanishing_loss(torch::tensor({40.0}).view({1, 1, 1})).item<double>(), 40, 1e-4);
}

TEST(TogVanishing, OneStepWithoutRandomStartIsTheReferencesUpdate) {
  // x - eps/4 * sign(gradient): every pixel raises some quadrant's scores, so all go down.
  const torch::Tensor x = torch::full({1, 3, 8, 8}, 0.5);
  TogOptions o;
  o.steps = 1;
  o.random_start = false;
  const torch::Tensor adv = tog_vanishing(quadrant_logits, x, o);
  EXPECT_TRUE(torch::allclose(adv, x - o.eps / 4, 0, 1e-7));
}

TEST(TogVanishing, BadSettingsAreRefused) {
  const torch::Tensor x = torch::full({1, 3, 8, 8}, 0.5);
  TogOptions o;
  o.norm = "l1";
  EXPECT_THROW(tog_vanishing(quadrant_logits, x, o), InputError);
  o = TogOptions();
  o.eps = 0;
  EXPECT_THROW(tog_vanishing(quadrant_logits, x, o), InputError);
  o = TogOptions();
  o.steps = 0;
  EXPECT_THROW(tog_vanishing(quadrant_logits, x, o), InputError);
}

}  // namespace
}  // namespace foil
