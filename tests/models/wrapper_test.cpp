// ModelWrapper: a wrapper takes the wrapped model's info (without its normalisation, which stays
// inside), its layers and taps, and moves it with to(); the wrappers built on it keep their own
// overrides.
#include "foil/models/wrapper.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/models/access.h"
#include "foil/regions/neutralize.h"

namespace foil {
namespace {

/// 1x2x2 images: tap "hidden" = 2 * normalised pixels, "logits" = hidden · W. Normalises by
/// mean 0.5, std 0.25; to() only records the device, so any device can be named on a CPU.
class WrapperTestNet : public Model {
 public:
  explicit WrapperTestNet(const std::string& name) {
    info_.name = name;
    info_.backend = "test";
    info_.input = ImageShape{1, 2, 2};
    info_.num_classes = 2;
    set_normalization({0.5}, {0.25});
  }
  std::vector<std::string> layer_names() const override { return {"hidden", "logits"}; }
  void to(c10::Device device) override { device_ = device; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override {
    const torch::Tensor hidden = x.flatten(1) * 2;
    TapOutputs out{
        hidden.matmul(torch::tensor({{1.0f, -1.0f}, {0.0f, 2.0f}, {1.0f, 0.0f}, {-3.0f, 1.0f}})),
        {}};
    for (const auto& t : taps) out.taps[t] = t == "hidden" ? hidden : out.output;
    return out;
  }
};

/// The base alone: everything forwarded.
class PassThroughWrapper : public ModelWrapper {
 public:
  explicit PassThroughWrapper(std::shared_ptr<Model> inner) : ModelWrapper(std::move(inner)) {}
};

TEST(ModelWrapper, ForwardsInfoLayersTapsAndDevice) {
  auto net = std::make_shared<WrapperTestNet>("net");
  PassThroughWrapper w(net);
  EXPECT_EQ(&w.inner(), net.get());
  EXPECT_EQ(w.info().name, "net");
  EXPECT_EQ(w.info().backend, "test");
  EXPECT_EQ(w.info().num_classes, 2);
  EXPECT_EQ(w.info().input.str(), net->info().input.str());
  // The normalisation stays inside the wrapped model: the wrapper declares none and the
  // output is normalised once, as the wrapped model's own.
  EXPECT_TRUE(w.info().mean.empty());
  EXPECT_TRUE(w.info().std.empty());
  EXPECT_EQ(net->info().mean, std::vector<double>{0.5});
  const torch::Tensor x = torch::rand({3, 1, 2, 2});
  EXPECT_TRUE(torch::allclose(w.forward(x), net->forward(x)));

  EXPECT_EQ(w.layer_names(), net->layer_names());
  const TapOutputs out = w.forward(x, {"hidden"});
  ASSERT_EQ(out.taps.count("hidden"), 1u);
  EXPECT_TRUE(torch::allclose(out.taps.at("hidden"), (x.flatten(1) - 0.5) / 0.25 * 2));
  EXPECT_THROW(w.forward(x, {"conv9"}), InputError);

  w.to(c10::Device(c10::kMeta));
  EXPECT_EQ(w.device(), c10::Device(c10::kMeta));
  EXPECT_EQ(net->device(), c10::Device(c10::kMeta));

  EXPECT_THROW(PassThroughWrapper(nullptr), InputError);
}

TEST(ModelWrapper, WrappersKeepTheirOwnOverrides) {
  auto net = std::make_shared<WrapperTestNet>("net");
  const torch::Tensor x = torch::rand({4, 1, 2, 2});

  // Labels access: no taps, one-hot output, the name and normalisation as the base gives them.
  QueryModel labels(net, Access::kLabels);
  EXPECT_EQ(labels.info().name, "net");
  EXPECT_TRUE(labels.info().mean.empty());
  EXPECT_TRUE(labels.layer_names().empty());
  EXPECT_THROW(labels.forward(x, {"hidden"}), InputError);
  const torch::Tensor top = net->forward(x).argmax(1);
  EXPECT_TRUE(labels.forward(x).equal(torch::one_hot(top, 2).to(torch::kFloat)));
  EXPECT_EQ(labels.queries(), 4);

  // Neutralisation renames itself and passes the taps through.
  NeutralizedModel defended(net, NeutralizeOptions().q_vulnerable(0));
  EXPECT_EQ(defended.info().name, "net+neutralize");
  EXPECT_EQ(defended.layer_names(), net->layer_names());
  const TapOutputs through = defended.forward(x, {"hidden"});
  EXPECT_EQ(through.taps.count("hidden"), 1u);
  EXPECT_TRUE(torch::allclose(through.output, net->forward(x)));  // q 0: nothing neutralised

  // An ensemble moves every member and has no taps even though its members do.
  auto other = std::make_shared<WrapperTestNet>("other");
  EnsembleModel ensemble({net, other}, Fusion::kLogits);
  EXPECT_EQ(ensemble.info().name, "ensemble(net+other)");
  EXPECT_EQ(ensemble.info().backend, "ensemble");
  EXPECT_TRUE(ensemble.info().mean.empty());
  EXPECT_TRUE(ensemble.layer_names().empty());
  EXPECT_EQ(ensemble.members().size(), 2u);
  ensemble.to(c10::Device(c10::kMeta));
  EXPECT_EQ(net->device(), c10::Device(c10::kMeta));
  EXPECT_EQ(other->device(), c10::Device(c10::kMeta));
  EXPECT_EQ(ensemble.device(), c10::Device(c10::kMeta));
  EXPECT_THROW(EnsembleModel({}, Fusion::kLogits), InputError);
}

}  // namespace
}  // namespace foil
