#include "foil/patch/objective.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "foil/patch/trainer.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(SlicedWasserstein, ZeroForIdenticalSamplesAndSymmetric) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto a = torch::randn({64, 8}), b = torch::randn({64, 8}) + 1;
  EXPECT_NEAR(sliced_wasserstein2(a, a, 100, &gen).item<double>(), 0.0, 1e-10);
  auto g1 = at::make_generator<at::CPUGeneratorImpl>(5),
       g2 = at::make_generator<at::CPUGeneratorImpl>(5);
  EXPECT_NEAR(sliced_wasserstein2(a, b, 100, &g1).item<double>(),
              sliced_wasserstein2(b, a, 100, &g2).item<double>(), 1e-6);
  EXPECT_GT(sliced_wasserstein2(a, b, 100, &gen).item<double>(), 0.05);
  // A permutation of the same sample is the same distribution.
  EXPECT_NEAR(sliced_wasserstein2(a, a.index_select(0, torch::randperm(64)), 0).item<double>(), 0.0,
              1e-10);
}

TEST(SlicedWasserstein, EqualsExactW2InOneDimension) {
  const auto a = torch::tensor({3.0, -1.0, 2.0, 0.5}).view({-1, 1});
  const auto b = torch::tensor({0.0, 1.0, 4.0, -2.0}).view({-1, 1});
  // Sorted: a = -1, 0.5, 2, 3; b = -2, 0, 1, 4 -> mean of (1, .25, 1, 1) = 0.8125.
  EXPECT_NEAR(wasserstein2_1d(a, b).item<double>(), 0.8125, 1e-12);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(2);
  EXPECT_NEAR(sliced_wasserstein2(a, b, 50, &gen).item<double>(), 0.8125, 1e-9);
  // Unequal sizes: b's quantiles are interpolated; a sample against itself repeated twice is 0.
  EXPECT_NEAR(wasserstein2_1d(a, torch::cat({a, a})).item<double>(), 0.0, 0.1);
}

TEST(SlicedWasserstein, ExactVariantSumsOverFeatureAxes) {
  // Two axes with W2² 0.8125 and 4 (a shift by 2): the reference sums them, 4.8125.
  const auto a1 = torch::tensor({3.0, -1.0, 2.0, 0.5}), b1 = torch::tensor({0.0, 1.0, 4.0, -2.0});
  const auto a = torch::stack({a1, a1}, 1), b = torch::stack({b1, a1 + 2}, 1);
  EXPECT_NEAR(sliced_wasserstein2(a, b, 0).item<double>(), 0.8125 + 4.0, 1e-9);
}

TEST(PatchObjective, DefaultFeatureLayerIsAFeatureLayerNotTheLogits) {
  auto cnn = test::cnn_model();
  auto data = load_data("fashion-mnist:test:4");
  const std::string layer = default_feature_layer(*cnn, data.images);
  const auto tap = cnn->forward(data.images, {layer}).taps.at(layer);
  EXPECT_EQ(tap.dim(), 4) << layer;
  EXPECT_GT(tap.size(2) * tap.size(3), 1) << layer;
  // A TensorFlow.js classifier ending in Softmax: the default is a convolutional feature map,
  // not the logits or the node next to the Softmax.
  auto emotion = load_model(test::human_model("emotion"));
  auto face = load_data(test::astronaut_face(), emotion->info().input);
  const std::string el = default_feature_layer(*emotion, face.images);
  const auto etap = emotion->forward(face.images, {el}).taps.at(el);
  EXPECT_EQ(etap.dim(), 4) << el;
  EXPECT_EQ(el.find("Softmax"), std::string::npos) << el;
  EXPECT_GT(etap.numel(), 7) << el;
}

TEST(PatchObjective, TargetImagesGivenReplaceTheDatasImagesOfTheTarget) {
  auto cnn = test::cnn_model();
  const auto data = load_data("fashion-mnist:test:64");
  const auto other = load_data("fashion-mnist:train:32");  // any images, as the target's
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const torch::Tensor none = torch::zeros({0});
  auto own = make_objective(ObjectiveOptions().loss("feature").target(8), *cnn, data);
  auto given = make_objective(
      ObjectiveOptions().loss("feature").target(8).target_images(other.images), *cnn, data);
  // The feature point is the first target image: given images are matched from their first.
  const torch::Tensor x = other.images.slice(0, 0, 1);
  EXPECT_NEAR(given->loss(*cnn, x, none, gen).item<double>(), 0.0, 1e-9);
  EXPECT_GT(own->loss(*cnn, x, none, gen).item<double>(), 1e-3);
  // OT (exact, per axis): the given images' own distribution is at distance 0.
  auto ot = make_objective(
      ObjectiveOptions().loss("ot").target(8).exact_1d(true).target_images(other.images), *cnn,
      data);
  EXPECT_NEAR(ot->loss(*cnn, other.images, none, gen).item<double>(), 0.0, 1e-6);
  EXPECT_THROW(
      make_objective(ObjectiveOptions().loss("ot").target(8).target_images(none), *cnn, data),
      InputError);
}

TEST(PatchTraining, OtPatchLowersItsOwnLoss) {
  auto data = load_data("fashion-mnist:test:256");
  Patch p = Patch::create(PatchOptions().param("free").area(0.2), ImageShape{1, 28, 28});
  auto r = train_patch({test::cnn_model()}, data, p,
                       ObjectiveOptions().loss("ot").target(8).projections(64), PlacementOptions(),
                       PatchTrainOptions().epochs(3).batch(64).progress(""));
  ASSERT_EQ(r.epoch_loss.size(), 3u);
  EXPECT_LT(r.epoch_loss.back(), r.epoch_loss.front());
}

TEST(PatchTraining, TargetedPatchOnTrainedCnnReachesClearTargetSuccess) {
  auto data = load_data("fashion-mnist:test:1000");
  Patch random =
      Patch::create(PatchOptions().area(0.15).cells(11).init("random"), ImageShape{1, 28, 28});
  auto r = train_patch({test::cnn_model()}, data, random, ObjectiveOptions().loss("ce").target(8),
                       PlacementOptions(), PatchTrainOptions().epochs(3).progress(""));
  auto before = evaluate_patch(*test::cnn_model(), data, random, PlacementOptions(), 8, 2, 9);
  auto after = evaluate_patch(*test::cnn_model(), data, r.patch, PlacementOptions(), 8, 2, 9);
  EXPECT_GT(after.target_success, 0.15);
  // A random patch already pushes some items to "Bag" (about 8% here); training must beat it
  // clearly.
  EXPECT_GT(after.target_success, 2 * before.target_success);
  EXPECT_LT(after.patched_accuracy, after.clean_accuracy);
  // tSuc's baseline: the share of clean non-"Bag" items the model already calls "Bag".
  torch::NoGradGuard no_grad;
  const auto pred = test::cnn_model()->forward(data.images).argmax(1);
  const auto other = data.labels.ne(8);
  EXPECT_DOUBLE_EQ(after.clean_target_rate,
                   (other & pred.eq(8)).sum().item<double>() / other.sum().item<double>());
  EXPECT_EQ(before.clean_target_rate, after.clean_target_rate);
  EXPECT_LT(after.clean_target_rate, 0.05);
}

TEST(PatchTraining, ResumedRunGivesTheSamePatch) {
  const std::string dir = test::temp_dir("patch-resume");
  auto data = load_data("fashion-mnist:test:200");
  Patch p = Patch::create(PatchOptions().cells(5), ImageShape{1, 28, 28});
  const auto obj = ObjectiveOptions().loss("ce").target(3);
  const auto o = PatchTrainOptions().epochs(3).batch(50).progress("");
  auto straight = train_patch({test::cnn_model()}, data, p, obj, PlacementOptions().eot(true), o);
  const auto ck = PatchTrainOptions(o).checkpoint(dir + "/ck");
  try {
    train_patch({test::cnn_model()}, data, p, obj, PlacementOptions().eot(true), ck,
                [](int64_t epoch, double) {
                  if (epoch == 2) throw std::runtime_error("interrupted");
                });
  } catch (const std::runtime_error&) {
  }
  auto resumed = train_patch({test::cnn_model()}, data, p, obj, PlacementOptions().eot(true), ck);
  EXPECT_TRUE(resumed.patch.params().allclose(straight.patch.params(), 1e-5, 1e-6));
  EXPECT_EQ(resumed.step_loss.size(), straight.step_loss.size());
}

TEST(PatchTraining, BadObjectivesAreInputErrors) {
  auto data = load_data("fashion-mnist:test:50");
  EXPECT_THROW(make_objective(ObjectiveOptions().loss("ot").target(3).layers({"conv9"}),
                              *test::cnn_model(), data),
               InputError);
  EXPECT_THROW(make_objective(ObjectiveOptions().loss("ce").target(12), *test::cnn_model(), data),
               InputError);
  EXPECT_THROW(make_objective(ObjectiveOptions().loss("ot"), *test::cnn_model(), data), InputError);
  EXPECT_THROW(make_objective(ObjectiveOptions().loss("hinge"), *test::cnn_model(), data),
               InputError);
  Patch p = Patch::create(PatchOptions().cells(5), ImageShape{1, 28, 28});
  EXPECT_THROW(train_patch({test::cnn_model()}, data.head(0), p, ObjectiveOptions(),
                           PlacementOptions(), PatchTrainOptions()),
               InputError);
}

}  // namespace
}  // namespace foil
