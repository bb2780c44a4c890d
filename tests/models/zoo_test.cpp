#include "foil/models/zoo.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>

#include "foil/core/error.h"
#include "test_util.h"

namespace foil {
namespace {

ModelInfo info_for(const std::string& arch) {
  ModelInfo info;
  info.arch = info.name = arch;
  info.input = {1, 28, 28};
  info.num_classes = 10;
  return info;
}

TEST(Zoo, EveryArchitectureMapsImagesToLogitsAndTaps) {
  for (const auto& arch : zoo_architectures()) {
    ZooModel m(ZooNet(arch, ImageShape{1, 28, 28}, 10), info_for(arch));
    auto x = torch::rand({3, 1, 28, 28});
    auto names = m.layer_names();
    ASSERT_GE(names.size(), 4u) << arch;
    auto out = m.forward(x, {names.front(), names[names.size() - 2]});
    EXPECT_EQ(out.output.sizes(), (std::vector<int64_t>{3, 10})) << arch;
    EXPECT_EQ(out.taps.size(), 2u);
    // The last tap is the output itself.
    EXPECT_TRUE(m.forward(x, {names.back()}).taps.at(names.back()).allclose(m.forward(x)));
  }
}

TEST(Zoo, ALayerScaleMultipliesTheLayerAndWhatFollowsReadsIt) {
  ZooModel m(ZooNet("cnn", ImageShape{1, 28, 28}, 10), info_for("cnn"));
  const auto x = torch::rand({2, 1, 28, 28});
  const auto names = m.layer_names();
  const auto plain = m.forward(x, names);
  // Scaling the last layer (the output) scales the output; the tap is the product.
  const auto s = torch::arange(20, torch::kFloat).view({2, 10}) / 7;
  const auto edited = m.forward(x, {names.back()}, {names.back(), s});
  EXPECT_TRUE(edited.output.allclose(plain.output * s, 1e-6, 1e-6));
  EXPECT_TRUE(edited.taps.at(names.back()).allclose(plain.output * s, 1e-6, 1e-6));
  // Ones change nothing; zeroing the first layer changes the output.
  const auto ones = torch::ones({1, plain.taps.at(names.front()).size(1), 1, 1});
  EXPECT_TRUE(m.forward(x, {}, {names.front(), ones}).output.equal(plain.output));
  EXPECT_FALSE(m.forward(x, {}, {names.front(), ones * 0}).output.allclose(plain.output));
  EXPECT_THROW(m.forward(x, {}, {"nope", ones}), InputError);
}

TEST(Zoo, ArchitecturesDifferInFamily) {
  int64_t convs_in_mlp = 0, depthwise = 0;
  ZooNet mlp("mlp", ImageShape{1, 28, 28}, 10);
  ZooNet mobile("mobilenet", ImageShape{1, 28, 28}, 10);
  for (auto& m : mlp->modules()) convs_in_mlp += m->as<torch::nn::Conv2d>() != nullptr;
  for (auto& m : mobile->modules())
    if (auto* c = m->as<torch::nn::Conv2d>()) depthwise += c->options.groups() > 1;
  EXPECT_EQ(convs_in_mlp, 0);
  EXPECT_EQ(depthwise, 4);
}

TEST(Zoo, UnknownArchitectureListsKnownOnes) {
  try {
    ZooNet("vgg", ImageShape{1, 28, 28}, 10);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mobilenet"), std::string::npos);
  }
}

TEST(Zoo, UnknownTapListsAvailableLayers) {
  ZooModel m(ZooNet("cnn", ImageShape{1, 28, 28}, 10), info_for("cnn"));
  try {
    m.forward(torch::rand({1, 1, 28, 28}), {"conv9"});
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("pool2"), std::string::npos) << e.what();
  }
}

TEST(Zoo, WrongInputShapeNamesBothShapes) {
  ZooModel m(ZooNet("cnn", ImageShape{1, 28, 28}, 10), info_for("cnn"));
  try {
    m.forward(torch::rand({2, 3, 32, 32}));
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("1x28x28"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3x32x32"), std::string::npos) << msg;
  }
}

TEST(Zoo, SaveLoadRoundTripKeepsWeightsAndMetadata) {
  auto info = info_for("resnet");
  info.mean = {0.5};
  info.std = {0.25};
  info.test_accuracy = 0.875;
  info.class_names = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  ZooModel m(ZooNet("resnet", ImageShape{1, 28, 28}, 10), info);
  const std::string path = test::temp_dir("zoo") + "/m.foil";
  m.save(path);
  auto loaded = load_model(path);
  EXPECT_EQ(loaded->info().arch, "resnet");
  EXPECT_EQ(loaded->info().backend, "zoo");
  EXPECT_DOUBLE_EQ(loaded->info().test_accuracy, 0.875);
  EXPECT_EQ(loaded->info().class_names.at(3), "d");
  auto x = torch::rand({4, 1, 28, 28});
  EXPECT_TRUE(loaded->forward(x).allclose(m.forward(x), 1e-5, 1e-6));
}

TEST(Zoo, NormalizationHappensInsideTheModel) {
  auto info = info_for("mlp");
  ZooNet net("mlp", ImageShape{1, 28, 28}, 10);
  ZooModel plain(net, info);
  info.mean = {0.5};
  info.std = {0.25};
  ZooModel normalized(net, info);
  auto x = torch::rand({2, 1, 28, 28});
  EXPECT_TRUE(normalized.forward(x).allclose(plain.forward((x - 0.5) / 0.25), 1e-5, 1e-5));
}

TEST(LoadModel, MissingAndNonModelFilesAreInputErrors) {
  const std::string dir = test::temp_dir("notmodel");
  EXPECT_THROW(load_model(dir + "/missing.foil"), InputError);
  std::ofstream(dir + "/text.pt") << "this is not a model";
  EXPECT_THROW(load_model(dir + "/text.pt"), InputError);
  // A truncated model file.
  ZooModel m(ZooNet("mlp", ImageShape{1, 28, 28}, 10), info_for("mlp"));
  m.save(dir + "/full.foil");
  std::ifstream in(dir + "/full.foil", std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/cut.foil", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_THROW(load_model(dir + "/cut.foil"), InputError);
}

}  // namespace
}  // namespace foil
