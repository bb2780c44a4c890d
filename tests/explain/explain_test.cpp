#include "foil/explain/explain.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/explain/faithfulness.h"
#include "foil/models/graph_model.h"
#include "foil/models/torchscript.h"
#include "test_util.h"

namespace foil {
namespace {

/// features = x (a 2x4x4 "activation" the test controls); logits_c = sum_k V[c,k] * mean(A_k).
/// Grad-CAM for class c is then relu(sum_k V[c,k]/16 * A_k), by hand.
class TinyCamModel : public Model {
 public:
  explicit TinyCamModel(torch::Tensor v) : v_(std::move(v)) {
    info_.name = "tiny";
    info_.input = {2, 4, 4};
  }
  std::vector<std::string> layer_names() const override { return {"features", "logits"}; }
  void to(c10::Device) override {}

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override {
    TapOutputs out;
    const torch::Tensor a = x * 1.0;
    out.output = a.mean({2, 3}).matmul(v_.t());
    for (const auto& t : taps) out.taps[t] = t == "features" ? a : out.output;
    return out;
  }

 private:
  torch::Tensor v_;
};

TEST(Explain, GradCamMatchesHandComputation) {
  auto v = torch::tensor({{1.0f, -2.0f}, {0.5f, 3.0f}});
  TinyCamModel m(v);
  auto x = torch::rand({3, 2, 4, 4});
  auto cls = torch::tensor({0, 1, 1}, torch::kLong);
  auto cam = explain(m, x, cls, ExplainMethod::kGradCam, "features");
  for (int64_t i = 0; i < 3; ++i) {
    const int64_t c = cls[i].item<int64_t>();
    auto hand = torch::relu(v[c][0] / 16 * x[i][0] + v[c][1] / 16 * x[i][1]);
    EXPECT_TRUE(cam[i].allclose(hand, 1e-5, 1e-7)) << i;
  }
  // Saliency: d logit_c / dx = V[c,k]/16 everywhere; max over channels of |.|.
  auto sal = explain(m, x, cls, ExplainMethod::kSaliency, "");
  EXPECT_NEAR(sal[0][2][3].item<float>(), 2.0f / 16, 1e-6);
  EXPECT_NEAR(sal[1][0][0].item<float>(), 3.0f / 16, 1e-6);
}

TEST(Explain, GradCamOnTorchScriptMatchesPythonReference) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  TorchScriptModel m(test::fixture("small_cnn.pt"));
  auto x = holder.attr("cnn_x").toTensor(), y = holder.attr("cnn_y").toTensor();
  auto cam = explain(m, x, y, ExplainMethod::kGradCam, "features");
  EXPECT_TRUE(cam.allclose(holder.attr("cnn_cam_features").toTensor(), 1e-4, 1e-6));
}

TEST(Explain, NonSpatialLayerAndUnknownMethodAreInputErrors) {
  TinyCamModel m(torch::eye(2));
  auto x = torch::rand({1, 2, 4, 4});
  EXPECT_THROW(explain(m, x, torch::zeros({1}, torch::kLong), ExplainMethod::kGradCam, "logits"),
               InputError);
  EXPECT_THROW(parse_explain_method("lime"), InputError);
  EXPECT_EQ(default_cam_layer(m, x), "features");
}

TEST(Explain, CamFamilyAndIntegratedGradientsMatchHookComputationsOnResnet18) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  TorchScriptModel m(test::fixture("resnet18.pt"));
  const torch::Tensor x = holder.attr("resnet_x").toTensor();
  const torch::Tensor cls = holder.attr("resnet_cls").toTensor();
  auto relative = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>() / b.abs().max().clamp_min(1e-12).item<double>();
  };
  for (const auto& [method, key] : std::vector<std::pair<ExplainMethod, std::string>>{
           {ExplainMethod::kGradCam, "gradcam"},
           {ExplainMethod::kGradCamPlusPlus, "gradcampp"},
           {ExplainMethod::kHiResCam, "hirescam"},
           {ExplainMethod::kXGradCam, "xgradcam"},
           {ExplainMethod::kLayerCam, "layercam"},
           {ExplainMethod::kScoreCam, "scorecam"},
           {ExplainMethod::kAblationCam, "ablationcam"},
           {ExplainMethod::kEigenCam, "eigencam"}}) {
    const torch::Tensor ref = holder.attr("resnet_cam_" + key).toTensor();
    const torch::Tensor map = explain(m, x, cls, method, "layer3");
    EXPECT_GT(ref.abs().sum().item<double>(), 0) << key;
    EXPECT_LE(relative(map, ref), 1e-4) << key;
  }
  EXPECT_LE(relative(integrated_gradients(m, x, cls, 16), holder.attr("resnet_ig").toTensor()),
            1e-4);
}

TEST(Explain, IntegratedGradientsAreComplete) {
  // The attributions add up to the class score's change from the black image (within 1%).
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:4");
  const torch::Tensor cls = model->forward(data.images).argmax(1);
  const torch::Tensor attr = integrated_gradients(*model, data.images, cls, 256);
  const torch::Tensor gap =
      model->forward(data.images).gather(1, cls.view({-1, 1})).squeeze(1) -
      model->forward(torch::zeros_like(data.images)).gather(1, cls.view({-1, 1})).squeeze(1);
  for (int64_t i = 0; i < 4; ++i)
    EXPECT_NEAR(attr[i].sum().item<double>(), gap[i].item<double>(),
                0.01 * std::abs(gap[i].item<double>()))
        << i;
}

TEST(Explain, TokenLayersBecomeGridsAndOddShapesAreRefused) {
  EXPECT_EQ(token_grid(torch::zeros({2, 197, 8})).sizes(), (std::vector<int64_t>{2, 8, 14, 14}));
  EXPECT_EQ(token_grid(torch::zeros({2, 20, 8})).sizes(), (std::vector<int64_t>{2, 8, 4, 4}));
  // The grid is the last tokens, row-major.
  const torch::Tensor t = torch::arange(5, torch::kFloat).view({1, 5, 1});
  EXPECT_TRUE(token_grid(t).flatten().equal(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f})));
  EXPECT_FALSE(token_grid(torch::zeros({2, 34, 8})).defined());  // 25 + 9 extra
  EXPECT_FALSE(token_grid(torch::zeros({2, 3, 8})).defined());   // no 2x2 grid
  EXPECT_FALSE(token_grid(torch::zeros({2, 8})).defined());
  TinyCamModel m(torch::eye(2));
  const torch::Tensor x = torch::rand({1, 2, 4, 4});
  const torch::Tensor cls = torch::zeros({1}, torch::kLong);
  ExplainOptions o;
  o.window = 5;  // larger than the 4x4 image
  EXPECT_THROW(explain(m, x, cls, ExplainMethod::kOcclusion, "", o), InputError);
  o = ExplainOptions();
  o.ig_steps = 0;
  EXPECT_THROW(explain(m, x, cls, ExplainMethod::kIntegratedGradients, "", o), InputError);
  // Occlusion on this model, whose logit is the mean of each channel: each 2x2 window
  // blacked out drops logit 0 by its channel-0 pixels / 16; every pixel is covered by windows.
  o = ExplainOptions();
  o.window = 2;
  o.stride = 2;
  const torch::Tensor occ = explain(m, x, cls, ExplainMethod::kOcclusion, "", o);
  const torch::Tensor hand = torch::avg_pool2d(x.select(1, 0).unsqueeze(1), 2)
                                 .repeat_interleave(2, 2)
                                 .repeat_interleave(2, 3) *
                             4 / 16;
  EXPECT_TRUE(occ.allclose(hand.squeeze(1), 1e-5, 1e-6));
}

TEST(Explain, FaithfulnessPrefersTheOracleMapOverARandomOne) {
  // Class 1's logit is the sum of a 4x4 region of a 16x16 image, minus 10; the image is lit
  // there and dark elsewhere: the map that marks the region is the perfect explanation.
  torch::Tensor w = torch::zeros({2, 1, 16, 16});
  w[1].slice(1, 6, 10).slice(2, 6, 10).fill_(1);
  test::LinearModel model(w.view({2, -1}), torch::tensor({0.0, -10.0}), ImageShape{1, 16, 16});
  torch::Tensor x = torch::zeros({3, 1, 16, 16});
  x.slice(2, 6, 10).slice(3, 6, 10).fill_(1);
  const torch::Tensor cls = torch::ones({3}, torch::kLong);
  torch::manual_seed(0);
  const torch::Tensor oracle = x.squeeze(1) + 1e-3 * torch::rand({3, 16, 16});
  const torch::Tensor random = torch::rand({3, 16, 16});
  for (const std::string baseline : {"blur", "mean"}) {
    FaithfulnessOptions o;
    o.baseline = baseline;
    const FaithfulnessCurves good = faithfulness(model, x, cls, oracle, o);
    const FaithfulnessCurves chance = faithfulness(model, x, cls, random, o);
    EXPECT_LT(good.deletion_auc, chance.deletion_auc - 0.2) << baseline;
    EXPECT_GT(good.insertion_auc, chance.insertion_auc + 0.2) << baseline;
    EXPECT_EQ(good.shares.size(), 21u);
    EXPECT_NEAR(good.deletion.front(), good.insertion.back(), 1e-6);  // both: the image itself
    // Seen through the oracle map, the image keeps its region: almost no drop.
    EXPECT_LT(good.average_drop, 0.01);
    EXPECT_GT(chance.average_drop, good.average_drop + 0.2);
  }
  // ROAD: imputing the region first (MoRF) loses the class at once; keeping it (LeRF) keeps it.
  const RoadCurves good = road(model, x, cls, oracle, 64, 0);
  const RoadCurves chance = road(model, x, cls, random, 64, 0);
  EXPECT_EQ(good.shares.size(), 9u);
  EXPECT_LT(good.morf_mean, chance.morf_mean - 0.2);
  EXPECT_GT(good.lerf_mean, chance.lerf_mean + 0.2);
  FaithfulnessOptions bad;
  bad.baseline = "zero";
  EXPECT_THROW(check_faithfulness_options(bad), InputError);
}

/// resnet18's fixture behind an ImageNet normalisation, as the fixtures script's references.
std::unique_ptr<TorchScriptModel> normalized_resnet() {
  auto m = std::make_unique<TorchScriptModel>(test::fixture("resnet18.pt"));
  m->set_normalization({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
  return m;
}

TEST(Explain, ScoreCamIsTheAuthorsAndMasksTheNormalisedInput) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  auto m = normalized_resnet();
  const torch::Tensor x = holder.attr("resnet_x").toTensor();
  const torch::Tensor cls = holder.attr("resnet_norm_cls").toTensor();
  const torch::Tensor ref = holder.attr("resnet_norm_cam_scorecam").toTensor();
  const torch::Tensor map = explain(*m, x, cls, ExplainMethod::kScoreCam, "layer3");
  ASSERT_GT(ref.abs().sum().item<double>(), 0);
  EXPECT_LE((map - ref).abs().max().item<double>() / ref.abs().max().item<double>(), 1e-4);
}

TEST(Explain, RiseProtocolIsTheAuthorsEvaluation) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  auto m = normalized_resnet();
  const torch::Tensor x = holder.attr("resnet_x").toTensor();
  const torch::Tensor cls = holder.attr("resnet_norm_cls").toTensor();
  const torch::Tensor ref = holder.attr("rise_aucs").toTensor();
  FaithfulnessOptions o;
  o.protocol = "rise";
  const FaithfulnessCurves c = faithfulness(*m, x, cls, holder.attr("rise_map").toTensor(), o);
  EXPECT_EQ(c.shares.size(), 65u);  // 64 steps of one 64-px row each
  EXPECT_NEAR(c.deletion_auc, ref[0].item<double>(), 1e-4);
  EXPECT_NEAR(c.insertion_auc, ref[1].item<double>(), 1e-4);
  o.protocol = "lime";
  EXPECT_THROW(check_faithfulness_options(o), InputError);
}

TEST(Explain, TiedPixelsRankByPosition) {
  // A ReLU'd map: zeros everywhere but two pixels. The two come first, then every zero in
  // row-major order.
  torch::Tensor map = torch::zeros({1, 4, 4});
  map[0][2][1] = 1;
  map[0][0][3] = 1;
  const torch::Tensor rank = importance_rank(map).flatten();
  EXPECT_EQ(rank[3].item<int64_t>(), 0);
  EXPECT_EQ(rank[9].item<int64_t>(), 1);
  std::vector<int64_t> rest;
  for (int64_t p = 0; p < 16; ++p)
    if (p != 3 && p != 9) rest.push_back(rank[p].item<int64_t>());
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], static_cast<int64_t>(i) + 2) << i;
  // A constant map (a black image's saliency) is the plain raster order, on large maps too.
  const torch::Tensor flat = importance_rank(torch::zeros({2, 64, 64})).view({2, -1});
  EXPECT_TRUE(flat.equal(torch::arange(64 * 64).expand({2, -1})));
}

TEST(Explain, OcclusionStrideBeyondTheWindowIsRefused) {
  TinyCamModel m(torch::eye(2));
  const torch::Tensor x = torch::rand({1, 2, 4, 4});
  ExplainOptions o;
  o.window = 2;
  o.stride = 3;
  EXPECT_THROW(explain(m, x, torch::zeros({1}, torch::kLong), ExplainMethod::kOcclusion, "", o),
               InputError);
  o.stride = 2;
  const torch::Tensor map =
      explain(m, x, torch::zeros({1}, torch::kLong), ExplainMethod::kOcclusion, "", o);
  EXPECT_FALSE(map.isnan().any().item<bool>());
}

TEST(Explain, LinearImputationFillsHolesOfALinearImageExactly) {
  // A ramp in both directions is harmonic for the symmetric 8-neighbour stencil: every removed
  // interior pixel, alone or in a block, gets the ramp's value back; a corner gets the
  // weighted mean of its three in-image neighbours.
  const torch::Tensor ramp =
      (torch::arange(12).view({1, 12}) * 0.05 + torch::arange(10).view({10, 1}) * 0.03)
          .to(torch::kFloat)
          .view({1, 1, 10, 12})
          .repeat({2, 2, 1, 1});
  torch::Tensor removed = torch::zeros({2, 10, 12}, torch::kBool);
  removed[0][4][5] = true;                               // one pixel
  removed[1].slice(0, 2, 7).slice(1, 3, 9).fill_(true);  // a 5x6 block
  removed[1][0][0] = true;                               // a corner
  at::Generator gen = at::detail::createCPUGenerator(0);
  const torch::Tensor filled = linear_imputation(ramp, removed, 0.0, gen);
  const torch::Tensor corner = filled[1].select(1, 0).select(1, 0);  // per channel
  const torch::Tensor r0 = ramp[1][0];
  const torch::Tensor expect = (r0[0][1] / 6 + r0[1][0] / 6 + r0[1][1] / 12) / (5.0 / 12);
  EXPECT_NEAR(corner[0].item<double>(), expect.item<double>(), 1e-5);
  filled[1].select(1, 0).select(1, 0).copy_(ramp[1].select(1, 0).select(1, 0));
  EXPECT_LT((filled - ramp).abs().max().item<double>(), 1e-5);
  // The noise lands on the removed pixels only, with the sd asked for.
  const torch::Tensor noisy = linear_imputation(ramp, removed, 0.01, gen);
  const torch::Tensor kept = removed.logical_not().unsqueeze(1).expand_as(ramp);
  EXPECT_TRUE(noisy.masked_select(kept).equal(ramp.masked_select(kept)));
  const double sd = (noisy - ramp).masked_select(kept.logical_not()).std().item<double>();
  EXPECT_GT(sd, 0.005);
  EXPECT_LT(sd, 0.02);
  // Everything removed: the mean colour.
  const torch::Tensor blank =
      linear_imputation(ramp, torch::ones({2, 10, 12}, torch::kBool), 0.0, gen);
  EXPECT_NEAR(blank[0][0][3][3].item<double>(), ramp[0][0].mean().item<double>(), 1e-6);
}

TEST(Explain, TopPercentSelectsTheLargestPixels) {
  auto maps = torch::arange(16, torch::kFloat).view({1, 4, 4});
  auto top = top_percent(maps, 25);
  EXPECT_EQ(top.sum().item<int64_t>(), 4);
  EXPECT_TRUE(top[0][3].all().item<bool>());
  EXPECT_EQ(top_percent(maps, 0).sum().item<int64_t>(), 0);
  EXPECT_THROW(top_percent(maps, 120), InputError);
}

TEST(Explain, OverlayHasTheImageSize) {
  auto img = torch::rand({1, 28, 20});
  auto ov = overlay(img, torch::rand({28, 20}));
  EXPECT_EQ(ov.sizes(), (std::vector<int64_t>{3, 28, 20}));
  EXPECT_GE(ov.min().item<float>(), 0.0f);
  EXPECT_LE(ov.max().item<float>(), 1.0f);
}

TEST(Explain, CamOfTrainedCnnMovesUnderAttack) {
  auto model = load_model(test::trained_cnn());
  auto data = load_data("fashion-mnist:test:100");
  auto layer = default_cam_layer(*model, data.images);
  EXPECT_EQ(layer, "pool2");
  auto cam = explain(*model, data.images, data.labels, ExplainMethod::kGradCam, layer);
  auto adv = make_attack("pgd", AttackOptions().eps(0.1).alpha(0.02).steps(10))
                 ->run(*model, data.images, Criterion::misclassification(data.labels))
                 .adv;
  auto cam_adv = explain(*model, adv, data.labels, ExplainMethod::kGradCam, layer);
  auto a = top_percent(cam, 20), b = top_percent(cam_adv, 20);
  const double iou = ((a & b).sum().item<double>()) / ((a | b).sum().item<double>());
  // The true class's evidence is displaced: its top-20% region overlaps the clean one less
  // than half.
  EXPECT_LT(iou, 0.5) << iou;
  // and the true class's total evidence drops.
  EXPECT_LT(cam_adv.sum().item<double>(), cam.sum().item<double>());
}

TEST(Explain, GradCamOfABatchOnAFixedBatchOneGraphEqualsPerImageMaps) {
  // CenterNet's graph has a fixed batch of 1 and runs image by image: the maps of a batch of
  // two must be those of each image alone (the taps the gradient is taken against are the
  // ones its class scores were computed from). Its default layer is not in the class head.
  GraphModel detector(test::human_model("centernet"));
  const auto a = load_data(test::asset("photos/dog.jpg"), detector.info().input).images;
  const auto b = load_data(test::asset("photos/person.jpg"), detector.info().input).images;
  const std::string layer = default_cam_layer(detector, a);
  EXPECT_EQ(detector.class_head_nodes().count(layer), 0u) << layer;
  EXPECT_EQ(detector.class_head_nodes().count("tower_0/keypoints"), 1u);
  const auto cls = torch::zeros({1}, torch::kLong);  // person
  const auto both = explain(detector, torch::cat({a, b}), torch::zeros({2}, torch::kLong),
                            ExplainMethod::kGradCam, layer);
  const auto one = torch::cat({explain(detector, a, cls, ExplainMethod::kGradCam, layer),
                               explain(detector, b, cls, ExplainMethod::kGradCam, layer)});
  EXPECT_GT(one.abs().max().item<double>(), 0) << layer;
  EXPECT_TRUE(both.allclose(one, 1e-4, 1e-6)) << (both - one).abs().max().item<double>();
}

}  // namespace
}  // namespace foil
