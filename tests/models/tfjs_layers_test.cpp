// Keras layers models: every layer class foil translates, on random weights, against
// TensorFlow.js's own layers runtime (tfjs-layers 4.22.0); and what foil refuses.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"
#include "test_util.h"
#include "tfjs_graph_builder.h"
#include "tfjs_reference.h"

namespace foil {
namespace {

using nlohmann::json;
using test::LayersBuilder;

/// Adds a random weight `name` (uniform in [lo, hi)).
void random_weight(LayersBuilder& b, const std::string& name, const std::vector<int64_t>& shape,
                   float lo = -0.5f, float hi = 0.5f) {
  const auto t = torch::rand(shape) * (hi - lo) + lo;
  b.weight(name, shape, std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel()));
}

/// A functional model with every supported layer class that tfjs-layers also has (all but
/// Subtract and the inference-time identities), random weights.
std::string every_layer_model(const std::string& dir) {
  torch::manual_seed(3);
  LayersBuilder b;
  const json same = "same";
  b.layer("InputLayer", "image",
          {{"batch_input_shape", {nullptr, 12, 12, 3}}, {"dtype", "float32"}});
  b.layer("Rescaling", "rescale", {{"scale", 2.0}, {"offset", -1.0}}, {"image"});
  b.layer("Conv2D", "conv",
          {{"filters", 4},
           {"kernel_size", {3, 3}},
           {"strides", {2, 2}},
           {"padding", same},
           {"activation", "swish"},
           {"use_bias", true}},
          {"rescale"});
  random_weight(b, "conv/kernel", {3, 3, 3, 4});
  random_weight(b, "conv/bias", {4});
  b.layer("BatchNormalization", "bn",
          {{"axis", -1}, {"epsilon", 0.01}, {"center", true}, {"scale", false}}, {"conv"});
  random_weight(b, "bn/beta", {4});
  random_weight(b, "bn/moving_mean", {4});
  random_weight(b, "bn/moving_variance", {4}, 0.5f, 1.5f);
  b.layer("LeakyReLU", "leaky", {{"alpha", 0.1}}, {"bn"});
  b.layer("SeparableConv2D", "sep",
          {{"filters", 6},
           {"kernel_size", {3, 3}},
           {"padding", same},
           {"depth_multiplier", 2},
           {"activation", "relu"},
           {"use_bias", true}},
          {"leaky"});
  random_weight(b, "sep/depthwise_kernel", {3, 3, 4, 2});
  random_weight(b, "sep/pointwise_kernel", {1, 1, 8, 6});
  random_weight(b, "sep/bias", {6});
  b.layer("DepthwiseConv2D", "depthwise",
          {{"kernel_size", {3, 3}},
           {"padding", same},
           {"depth_multiplier", 1},
           {"activation", "relu6"},
           {"use_bias", true}},
          {"sep"});
  random_weight(b, "depthwise/depthwise_kernel", {3, 3, 6, 1}, -2, 2);
  random_weight(b, "depthwise/bias", {6});
  b.layer("PReLU", "prelu", {{"shared_axes", {1, 2}}}, {"sep"});
  random_weight(b, "prelu/alpha", {1, 1, 6});
  b.layer("Add", "add", json::object(), {"depthwise", "prelu"});
  b.layer("Multiply", "multiply", json::object(), {"depthwise", "prelu"});
  b.layer("Average", "average", json::object(), {"add", "multiply"});
  b.layer("Maximum", "maximum", json::object(), {"add", "multiply"});
  b.layer("Minimum", "minimum", json::object(), {"add", "multiply"});
  b.layer("Concatenate", "concat", {{"axis", -1}}, {"average", "maximum", "minimum"});
  b.layer("ZeroPadding2D", "pad", {{"padding", {{1, 0}, {0, 1}}}}, {"concat"});
  b.layer("MaxPooling2D", "maxpool",
          {{"pool_size", {2, 2}}, {"strides", {1, 1}}, {"padding", "valid"}}, {"pad"});
  b.layer("AveragePooling2D", "avgpool",
          {{"pool_size", {3, 3}}, {"strides", {2, 2}}, {"padding", same}}, {"maxpool"});
  b.layer("GlobalAveragePooling2D", "gap", json::object(), {"avgpool"});
  b.layer("GlobalMaxPooling2D", "gmp", json::object(), {"maxpool"});
  b.layer("Flatten", "flatten", json::object(), {"avgpool"});
  b.layer("Reshape", "reshape", {{"target_shape", {3, 54}}}, {"avgpool"});
  b.layer("Flatten", "flatten2", json::object(), {"reshape"});
  b.layer("Concatenate", "features", json::object(), {"gap", "gmp", "flatten", "flatten2"});
  b.layer("Dense", "dense", {{"units", 8}, {"activation", "tanh"}, {"use_bias", true}},
          {"features"});
  random_weight(b, "dense/kernel", {18 + 18 + 162 + 162, 8});
  random_weight(b, "dense/bias", {8});
  b.layer("Dropout", "dropout", {{"rate", 0.5}}, {"dense"});
  b.layer("Activation", "selu", {{"activation", "selu"}}, {"dropout"});
  b.layer("ReLU", "relu", {{"max_value", 0.5}}, {"selu"});
  b.layer("Softmax", "softmax", {{"axis", -1}}, {"dense"});
  b.layer("Dense", "logits", {{"units", 3}, {"activation", "softmax"}, {"use_bias", false}},
          {"relu"});
  random_weight(b, "logits/kernel", {8, 3}, -3, 3);
  return b.write(dir, {"logits", "softmax"});
}

TEST(TfjsLayers, EveryLayerClassMatchesTfjsLayers) {
  const std::string path = every_layer_model(test::temp_dir("tfjs-layers"));
  Graph g(path);
  EXPECT_EQ(g.signature_outputs(), (std::vector<std::string>{"logits", "softmax"}));
  const std::vector<std::string> layers = {
      "rescale",  "conv",     "bn",      "leaky",   "sep",     "depthwise", "prelu",
      "add",      "multiply", "average", "maximum", "minimum", "concat",    "pad",
      "maxpool",  "avgpool",  "gap",     "gmp",     "flatten", "reshape",   "flatten2",
      "features", "dense",    "dropout", "selu",    "relu",    "softmax",   "logits"};
  const auto x = torch::rand({2, 12, 12, 3});
  const auto ours = g.execute(x, layers);
  const auto ref = test::tfjs_reference(path, x, "float32", layers);
  for (size_t k = 0; k < layers.size(); ++k) {
    const auto& r = ref.at(layers[k]);
    ASSERT_EQ(ours[k].sizes(), r.sizes()) << layers[k];
    EXPECT_LE((ours[k] - r).abs().max().item<double>(),
              1e-5 * std::max(1.0, r.abs().max().item<double>()))
        << layers[k];
  }
  // The layers' values are not trivial: every layer but the dropout changes its input.
  EXPECT_GT(ours[0].abs().max().item<double>(), 0.5);
  EXPECT_GT(ours.back().max().item<double>(), ours.back().min().item<double>());
}

TEST(TfjsLayers, SequentialModelWithoutInputLayer) {
  torch::manual_seed(4);
  const std::string dir = test::temp_dir("tfjs-seq");
  LayersBuilder weights;  // only its weights are used
  random_weight(weights, "conv/kernel", {3, 3, 1, 2});
  random_weight(weights, "conv/bias", {2});
  random_weight(weights, "out/kernel", {32, 2});
  random_weight(weights, "out/bias", {2});
  weights.write(dir, {}, "weights");
  json j = test::read_json(dir + "/weights.json");
  const json layers = {{{"class_name", "Conv2D"},
                        {"config",
                         {{"name", "conv"},
                          {"batch_input_shape", {nullptr, 6, 6, 1}},
                          {"filters", 2},
                          {"kernel_size", {3, 3}},
                          {"activation", "relu"}}}},
                       {{"class_name", "Flatten"}, {"config", {{"name", "flat"}}}},
                       {{"class_name", "Dense"}, {"config", {{"name", "out"}, {"units", 2}}}}};
  j["modelTopology"]["model_config"] = {{"class_name", "Sequential"},
                                        {"config", {{"name", "seq"}, {"layers", layers}}}};
  std::ofstream(dir + "/seq.json") << j.dump();
  Graph g(dir + "/seq.json");
  EXPECT_EQ(g.input_name(), "conv_input");
  EXPECT_EQ(g.signature_outputs(), std::vector<std::string>{"out"});
  const auto x = torch::rand({3, 6, 6, 1});
  const auto ours = g.execute(x, {"conv", "out"});
  const auto ref = test::tfjs_reference(dir + "/seq.json", x, "float32", {"conv", "out"});
  EXPECT_LE((ours[0] - ref.at("conv")).abs().max().item<double>(), 1e-5);
  EXPECT_LE((ours[1] - ref.at("out")).abs().max().item<double>(), 1e-5);
}

TEST(TfjsLayers, NestedModelsAsTeachableMachineExportsThem) {
  // Teachable Machine: Sequential[ Sequential[ Model(backbone) ], Sequential[ Dense ] ].
  torch::manual_seed(5);
  const std::string dir = test::temp_dir("tfjs-nested");
  LayersBuilder backbone;
  backbone.layer("InputLayer", "input_1", {{"batch_input_shape", {nullptr, 8, 8, 3}}});
  backbone.layer("Conv2D", "conv",
                 {{"filters", 4}, {"kernel_size", {3, 3}}, {"activation", "relu"}}, {"input_1"});
  backbone.layer("GlobalAveragePooling2D", "pool", json::object(), {"conv"});
  random_weight(backbone, "conv/kernel", {3, 3, 3, 4});
  random_weight(backbone, "conv/bias", {4});
  random_weight(backbone, "dense/kernel", {4, 2}, -2, 2);
  backbone.write(dir, {"pool"}, "backbone");
  json j = test::read_json(dir + "/backbone.json");
  const json inner = j["modelTopology"]["model_config"];  // Model "backbone"
  const json head = {{"class_name", "Sequential"},
                     {"config",
                      {{"name", "head"},
                       {"layers",
                        {{{"class_name", "Dense"},
                          {"config",
                           {{"name", "dense"},
                            {"batch_input_shape", {nullptr, 4}},
                            {"units", 2},
                            {"use_bias", false},
                            {"activation", "softmax"}}}}}}}}};
  const json features = {{"class_name", "Sequential"},
                         {"config", {{"name", "features"}, {"layers", {inner}}}}};
  j["modelTopology"]["model_config"] = {{"class_name", "Sequential"},
                                        {"config", {{"name", "tm"}, {"layers", {features, head}}}}};
  std::ofstream(dir + "/tm.json") << j.dump();
  Graph g(dir + "/tm.json");
  EXPECT_EQ(g.input_name(), "input_1");
  EXPECT_EQ(g.signature_outputs(), std::vector<std::string>{"head"});
  const auto x = torch::rand({2, 8, 8, 3});
  const auto ours = g.execute(x, {"conv", "features", "head"});
  EXPECT_TRUE(ours[1].allclose(ours[0].mean({1, 2})));
  const auto ref = test::tfjs_reference(dir + "/tm.json", x, "float32", {"features", "head"});
  EXPECT_LE((ours[1] - ref.at("features")).abs().max().item<double>(), 1e-5);
  EXPECT_LE((ours[2] - ref.at("head")).abs().max().item<double>(), 1e-5);
}

TEST(TfjsLayers, SubtractIsTheDifferenceOfItsInputs) {  // a Keras layer tfjs-layers lacks
  const std::string dir = test::temp_dir("tfjs-subtract");
  LayersBuilder b;
  b.layer("InputLayer", "image", {{"batch_input_shape", {nullptr, 4, 4, 3}}});
  b.layer("GlobalMaxPooling2D", "max", json::object(), {"image"});
  b.layer("GlobalAveragePooling2D", "mean", json::object(), {"image"});
  b.layer("Subtract", "gap", json::object(), {"max", "mean"});
  Graph g(b.write(dir, {"gap"}));
  const auto x = torch::rand({2, 4, 4, 3});
  EXPECT_TRUE(g.execute(x, {"gap"})[0].allclose(x.amax({1, 2}) - x.mean({1, 2})));
}

/// A layers model whose layer `bad` is replaced; the load error must name it.
void expect_refused(const json& bad, const std::vector<std::string>& inputs,
                    const std::string& needle) {
  const std::string dir = test::temp_dir("tfjs-layers-bad");
  LayersBuilder b;
  b.layer("InputLayer", "image", {{"batch_input_shape", {nullptr, 8, 8, 3}}});
  b.layer("Conv2D", "conv", {{"filters", 2}, {"kernel_size", {3, 3}}}, {"image"});
  random_weight(b, "conv/kernel", {3, 3, 3, 2});
  random_weight(b, "conv/bias", {2});
  b.layer(bad["class_name"], "bad", bad["config"], inputs);
  const std::string path = b.write(dir, {"bad"});
  try {
    Graph g(path);
    ADD_FAILURE() << "loaded a model with " << bad.dump();
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(needle), std::string::npos) << what;
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

TEST(TfjsLayers, RefusesWhatItCannotRunNamingTheLayer) {
  expect_refused({{"class_name", "LSTM"}, {"config", {{"units", 4}}}}, {"conv"},
                 "layer 'bad' (LSTM): foil does not support this Keras layer class (supported: "
                 "Activation, ActivityRegularization, Add,");
  expect_refused({{"class_name", "Dense"}, {"config", {{"units", 4}}}}, {"conv"},
                 "layer 'bad' (Dense): no weight 'bad/kernel' in weightsManifest");
  expect_refused({{"class_name", "MaxPooling2D"}, {"config", {{"data_format", "channels_first"}}}},
                 {"conv"}, "channels_first data is not supported");
  expect_refused({{"class_name", "Activation"}, {"config", {{"activation", "gelu_new"}}}}, {"conv"},
                 "activation 'gelu_new' is not supported");
  expect_refused({{"class_name", "Add"}, {"config", json::object()}}, {"conv", "nowhere"},
                 "reference to an unknown node 'nowhere'");
  expect_refused({{"class_name", "ZeroPadding2D"}, {"config", {{"padding", "lots"}}}}, {"conv"},
                 "is not n, [h, w] or [[t, b], [l, r]]");
}

TEST(TfjsLayers, CommandLineRefusesAnUnknownLayerInOneLine) {
  const std::string dir = test::temp_dir("tfjs-layers-cli");
  LayersBuilder b;
  b.layer("InputLayer", "image", {{"batch_input_shape", {nullptr, 8, 8, 3}}});
  b.layer("UpSampling2D", "up", {{"size", {2, 2}}}, {"image"});
  const std::string path = b.write(dir, {"up"});
  test::expect_bad_input("predict --model " + path + " --data " + test::asset("photos/dog.jpg"),
                         "layer 'up' (UpSampling2D): foil does not support");
}

}  // namespace
}  // namespace foil
