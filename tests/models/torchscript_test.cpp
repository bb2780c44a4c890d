#include "foil/models/torchscript.h"

#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "test_util.h"

namespace foil {
namespace {

torch::Tensor ref(const std::string& name) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  return holder.attr(name).toTensor();
}

TEST(TorchScript, ResNet18TapsEqualSubmoduleOutputs) {
  TorchScriptModel m(test::fixture("resnet18.pt"));
  auto names = m.layer_names();
  for (const char* n : {"layer4", "layer3.1.conv2", "avgpool", "layer1.0", "fc"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  auto x = ref("resnet_x");
  auto out = m.forward(x, {"layer4", "layer3.1.conv2", "avgpool", "layer1.0"});
  EXPECT_TRUE(out.output.allclose(ref("resnet_out"), 1e-4, 1e-5));
  EXPECT_TRUE(out.taps.at("layer4").allclose(ref("resnet_tap_layer4"), 1e-4, 1e-5));
  EXPECT_TRUE(out.taps.at("layer3.1.conv2").allclose(ref("resnet_tap_layer3_1_conv2"), 1e-4, 1e-5));
  EXPECT_TRUE(out.taps.at("avgpool").allclose(ref("resnet_tap_avgpool"), 1e-4, 1e-5));
  EXPECT_TRUE(out.taps.at("layer1.0").allclose(ref("resnet_tap_layer1_0"), 1e-4, 1e-5));
  // Asking for taps leaves the model's output unchanged.
  EXPECT_TRUE(out.output.equal(m.forward(x)));
}

TEST(TorchScript, TapsBeforeInPlaceOpsKeepTheirValue) {
  // In torchvision's BasicBlock, bn2's output is then modified by `out += identity`, and
  // relu (inplace=True) runs twice; a forward hook (copying) sees bn2's own output and the
  // last relu call's.
  TorchScriptModel m(test::fixture("resnet18.pt"));
  auto x = ref("resnet_x");
  auto out = m.forward(x, {"layer1.0.bn2", "layer1.0.relu"});
  EXPECT_TRUE(out.taps.at("layer1.0.bn2").allclose(ref("resnet_tap_layer1_0_bn2"), 1e-4, 1e-5));
  EXPECT_TRUE(out.taps.at("layer1.0.relu").allclose(ref("resnet_tap_layer1_0_relu"), 1e-4, 1e-5));
  // bn2's output has negative values; after += identity and relu it would not.
  EXPECT_LT(out.taps.at("layer1.0.bn2").min().item<double>(), 0.0);
  EXPECT_TRUE(out.output.allclose(ref("resnet_out"), 1e-4, 1e-5));
}

TEST(TorchScript, SmallCnnTapsThroughNestingAndControlFlow) {
  TorchScriptModel m(test::fixture("small_cnn.pt"));
  auto x = ref("cnn_x");
  auto out = m.forward(x, {"features", "features.3", "head.fc1", "head"});
  EXPECT_TRUE(out.taps.at("features").allclose(ref("cnn_tap_features"), 1e-5, 1e-6));
  EXPECT_TRUE(out.taps.at("features.3").allclose(ref("cnn_tap_features_3"), 1e-5, 1e-6));
  EXPECT_TRUE(out.taps.at("head.fc1").allclose(ref("cnn_tap_head_fc1"), 1e-5, 1e-6));
  EXPECT_TRUE(out.taps.at("head").allclose(ref("cnn_out"), 1e-5, 1e-6));
}

TEST(TorchScript, GradientsFlowThroughTaps) {
  TorchScriptModel m(test::fixture("small_cnn.pt"));
  auto x = ref("cnn_x").clone().requires_grad_(true);
  auto out = m.forward(x, {"features.3"});
  auto g = torch::autograd::grad({out.taps.at("features.3").sum()}, {x})[0];
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
}

TEST(TorchScript, UnknownTapListsAvailableOnes) {
  TorchScriptModel m(test::fixture("resnet18.pt"));
  try {
    m.forward(ref("resnet_x"), {"layer9"});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("layer4"), std::string::npos);
  }
}

TEST(TorchScript, LoadModelDispatchesToTorchScript) {
  auto m = load_model(test::fixture("small_cnn.pt"));
  EXPECT_EQ(m->info().backend, "torchscript");
  EXPECT_TRUE(m->forward(ref("cnn_x")).allclose(ref("cnn_out"), 1e-5, 1e-6));
}

}  // namespace
}  // namespace foil
