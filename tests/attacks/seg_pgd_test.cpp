// PGD, SegPGD and CosPGD on segmentation (foil/attacks/seg_pgd.h) on a hand-made segmenter.
#include "foil/attacks/seg_pgd.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"

namespace foil {
namespace {

/// Two classes per pixel: class 1's logit is 20 (red - green), class 0's is 0; each pixel sees
/// only itself, so the clean labels are known and every pixel can be flipped on its own.
torch::Tensor pixel_logits(const torch::Tensor& x) {
  const torch::Tensor z = 20 * (x.select(1, 0) - x.select(1, 1));
  return torch::stack({torch::zeros_like(z), z}, 1);
}

/// Red (class 1) on the left half, green (class 0) on the right; the margin is 0.05.
torch::Tensor halves(int64_t n) {
  torch::Tensor x = torch::full({n, 3, 4, 6}, 0.5);
  x.slice(3, 0, 3).select(1, 0).add_(0.025);
  x.slice(3, 0, 3).select(1, 1).sub_(0.025);
  x.slice(3, 3, 6).select(1, 0).sub_(0.025);
  x.slice(3, 3, 6).select(1, 1).add_(0.025);
  return x;
}

double accuracy(const torch::Tensor& x, const torch::Tensor& labels) {
  return pixel_logits(x).argmax(1).eq(labels).to(torch::kDouble).mean().item<double>();
}

TEST(SegmentationAttacks, EachFlipsThePixelsTheBudgetAllows) {
  const torch::Tensor x = halves(2);
  const torch::Tensor labels = pixel_logits(x).argmax(1);
  ASSERT_DOUBLE_EQ(accuracy(x, labels), 1.0);
  for (const char* loss : {"pgd", "segpgd", "cospgd"}) {
    SegAttackOptions o;
    o.loss = loss;
    o.eps = 8.0 / 255;  // moves red - green by up to 0.063 > 0.05
    const torch::Tensor adv = segmentation_attack(pixel_logits, x, labels, o);
    EXPECT_LT(accuracy(adv, labels), 0.05) << loss;
    EXPECT_LE((adv - x).abs().max().item<double>(), o.eps + 1e-6) << loss;
    o.eps = 4.0 / 255;  // 0.031: not enough
    EXPECT_DOUBLE_EQ(accuracy(segmentation_attack(pixel_logits, x, labels, o), labels), 1.0)
        << loss;
    o.norm = "l2";
    o.eps = 0.5;
    const torch::Tensor l2 = segmentation_attack(pixel_logits, x, labels, o);
    EXPECT_LE((l2 - x).flatten(1).norm(2, 1).max().item<double>(), 0.5 + 1e-5) << loss;
  }
}

TEST(SegmentationAttacks, SegPgdWithNeutralWeightsIsPgd) {
  const torch::Tensor x = halves(2) + 0.01 * torch::randn({2, 3, 4, 6});
  const torch::Tensor labels = pixel_logits(x).argmax(1);
  SegAttackOptions pgd;
  pgd.loss = "pgd";
  SegAttackOptions seg = pgd;
  seg.loss = "segpgd";
  seg.lambda = 0.5;  // every pixel weighted alike: PGD's direction
  EXPECT_TRUE(segmentation_attack(pixel_logits, x, labels, pgd)
                  .allclose(segmentation_attack(pixel_logits, x, labels, seg)));
  // The schedule: lambda = t / (2T), so step 0 weights only the pixels predicted right.
  seg.lambda = -1;
  const torch::Tensor wrong = labels.clone();
  wrong.select(2, 0).fill_(0);  // the first column's red pixels now count as wrong
  const torch::Tensor logits = pixel_logits(x);
  const torch::Tensor first = segmentation_loss(logits, wrong, seg, 0);
  const torch::Tensor right = wrong.eq(logits.argmax(1));
  namespace F = torch::nn::functional;
  const torch::Tensor ce =
      F::cross_entropy(logits, wrong, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  EXPECT_TRUE(first.allclose((ce * right).flatten(1).sum(1) / 24));
  const torch::Tensor last = segmentation_loss(logits, wrong, seg, 9);  // lambda 0.45
  EXPECT_TRUE(
      last.allclose((ce * (0.55 * right + 0.45 * right.logical_not())).flatten(1).sum(1) / 24));
}

TEST(SegmentationAttacks, CosPgdWeightsByTheDetachedCosineAndIsCrossEntropyWhenSure) {
  const torch::Tensor logits = torch::randn({2, 3, 4, 5}, torch::requires_grad());
  const torch::Tensor labels = torch::randint(0, 3, {2, 4, 5}, torch::kLong);
  SegAttackOptions o;
  o.loss = "cospgd";
  const torch::Tensor loss = segmentation_loss(logits, labels, o, 0);
  namespace F = torch::nn::functional;
  const torch::Tensor ce =
      F::cross_entropy(logits, labels, F::CrossEntropyFuncOptions().reduction(torch::kNone));
  const torch::Tensor onehot = torch::one_hot(labels, 3).permute({0, 3, 1, 2}).to(torch::kFloat);
  const torch::Tensor cos = torch::cosine_similarity(torch::softmax(logits, 1), onehot, 1);
  EXPECT_TRUE(loss.allclose((cos.detach() * ce).flatten(1).sum(1) / 20));
  // Detached: the gradient is the weighted CE's, not the cosine's.
  const auto g = torch::autograd::grad({loss.sum()}, {logits})[0];
  const auto want = torch::autograd::grad({(cos.detach() * ce).sum() / 20}, {logits})[0];
  EXPECT_TRUE(g.allclose(want));
  // A sure, right prediction: cosine within 1e-8 of 1, the pixel's CE itself (PGD's loss,
  // about 1e-4 per pixel here: a weight other than 1 shows).
  const torch::Tensor sure = 10 * onehot;
  const torch::Tensor c = segmentation_loss(sure, labels, o, 0);
  o.loss = "pgd";
  const torch::Tensor plain = segmentation_loss(sure, labels, o, 0);
  ASSERT_GT(plain.min().item<double>(), 1e-5);
  EXPECT_TRUE(c.allclose(plain, 1e-6, 0));
  // Ignored pixels (255) count in no loss; a label outside the classes is refused.
  const torch::Tensor ignored = labels.clone().fill_(255);
  for (const char* loss : {"pgd", "segpgd", "cospgd"}) {
    o.loss = loss;
    EXPECT_EQ(segmentation_loss(logits, ignored, o, 0).abs().sum().item<double>(), 0) << loss;
  }
  EXPECT_THROW(segmentation_loss(logits, labels + 3, o, 0), InputError);
}

TEST(SegmentationAttacks, BatchResultIsPerItemResult) {
  const torch::Tensor x = halves(3) + 0.01 * torch::randn({3, 3, 4, 6});
  const torch::Tensor labels = pixel_logits(x).argmax(1);
  SegAttackOptions o;
  o.eps = 6.0 / 255;
  const torch::Tensor all = segmentation_attack(pixel_logits, x, labels, o);
  for (int64_t i = 0; i < 3; ++i) {
    SegAttackOptions one = o;
    one.ids = torch::tensor({i}, torch::kLong);
    const torch::Tensor item =
        segmentation_attack(pixel_logits, x.slice(0, i, i + 1), labels.slice(0, i, i + 1), one);
    EXPECT_TRUE(item.allclose(all.slice(0, i, i + 1), 1e-6, 1e-7)) << i;
  }
}

TEST(SegmentationAttacks, RefusesWhatCannotRun) {
  const torch::Tensor x = halves(1);
  const torch::Tensor labels = pixel_logits(x).argmax(1);
  SegAttackOptions o;
  o.loss = "dag";
  EXPECT_THROW(segmentation_attack(pixel_logits, x, labels, o), InputError);
  o.loss = "pgd";
  o.eps = 0;
  EXPECT_THROW(segmentation_attack(pixel_logits, x, labels, o), InputError);
  o.eps = 0.1;
  EXPECT_THROW(segmentation_attack(pixel_logits, x, labels.slice(1, 0, 2), o), InputError);
}

}  // namespace
}  // namespace foil
