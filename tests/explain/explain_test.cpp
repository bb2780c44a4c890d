#include "foil/explain/explain.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/models/tfjs.h"
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
  TfjsModel detector(test::human_model("centernet"));
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
