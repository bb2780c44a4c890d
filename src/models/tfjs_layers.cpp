// Keras layers models (TensorFlow.js "layers-model" format) as graph-model nodes. Each layer
// becomes the TensorFlow ops Keras itself runs (Conv2D + BiasAdd + activation, ...), so the
// graph executor and its kernels serve both formats and every layer is a tap by its name.
#include "tfjs_layers.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>
#include <set>

#include "../graph/node.h"
#include "foil/core/error.h"

namespace foil::graph {
namespace {

using nlohmann::json;

json string_attr(const std::string& v) { return {{"s", base64_encode(v)}}; }
json ints_attr(const std::vector<int64_t>& v) { return {{"list", {{"i", v}}}}; }

torch::Tensor int_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::kLong).to(torch::kInt);
}

class Translator {
 public:
  explicit Translator(const json& model_json);
  /// Translates the whole model.
  LayersGraph run();

  /// The layer being translated: its name, class and config.
  std::string layer, cls;
  json config;

  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("layer '{}' ({}): {}", layer, cls, what));
  }
  /// Adds a node of `op` reading `inputs`; returns its name.
  std::string emit(const std::string& op, const std::vector<std::string>& inputs,
                   json attr = json::object());
  /// Adds a constant that is not a weight.
  std::string constant(const std::string& what, const torch::Tensor& value);
  /// The manifest weight `<layer>/<key>`.
  std::string weight(const std::string& key) const;
  /// The shape of a manifest weight.
  const std::vector<int64_t>& weight_shape(const std::string& name) const {
    return weights_.at(name);
  }
  /// The nodes of a Keras activation function applied to `x`.
  std::string activation(const std::string& x, const json& name);
  /// An int or a pair [a, b] from the config (`fallback` when absent or null).
  std::pair<int64_t, int64_t> pair(const std::string& key, std::pair<int64_t, int64_t> fallback);
  /// "SAME"/"VALID" from the config's padding.
  std::string padding();
  void check_channels_last();

 private:
  void enter(const json& jl);  ///< makes `jl` the current layer
  /// Translates the current layer reading `inputs`; its output node carries its name.
  void translate(const std::vector<std::string>& inputs);
  /// Translates a (possibly nested) model reading `inputs` (none: its own input layers);
  /// returns its output layers.
  std::vector<std::string> model(const json& m, const std::vector<std::string>& inputs);
  std::vector<std::string> inbound(const json& jl) const;

  const json& model_json_;
  json current_;  ///< the current layer's JSON
  LayersGraph g_;
  std::map<std::string, std::vector<int64_t>> weights_;  ///< manifest names and shapes
  std::set<std::string> names_;
  size_t first_node_ = 0;  ///< the current layer's first node
};

using Handler =
    std::function<std::string(Translator&, const std::string& x, const std::vector<std::string>&)>;

std::string binary_chain(Translator& t, const std::string& op, const std::vector<std::string>& in) {
  if (in.size() < 2) t.fail("needs at least two inputs");
  std::string y = in[0];
  for (size_t i = 1; i < in.size(); ++i) y = t.emit(op, {y, in[i]});
  return y;
}

std::string pooling(Translator& t, const std::string& x, const std::string& op) {
  t.check_channels_last();
  const auto [kh, kw] = t.pair("pool_size", {2, 2});
  const auto [sh, sw] = t.pair("strides", {kh, kw});
  return t.emit(op, {x},
                {{"ksize", ints_attr({1, kh, kw, 1})},
                 {"strides", ints_attr({1, sh, sw, 1})},
                 {"padding", string_attr(t.padding())}});
}

std::string global_pooling(Translator& t, const std::string& x, const std::string& op) {
  t.check_channels_last();
  return t.emit(op, {x, t.constant("axes", int_tensor({1, 2}))},
                {{"keep_dims", {{"b", t.config.value("keepdims", false)}}}});
}

std::string convolution(Translator& t, const std::string& x, bool depthwise, bool separable) {
  t.check_channels_last();
  if (t.config.value("groups", 1) != 1) t.fail("grouped convolutions are not supported");
  const auto [sh, sw] = t.pair("strides", {1, 1});
  const auto [dh, dw] = t.pair("dilation_rate", {1, 1});
  const json window = {{"strides", ints_attr({1, sh, sw, 1})},
                       {"padding", string_attr(t.padding())},
                       {"dilations", ints_attr({1, dh, dw, 1})}};
  std::string y;
  if (depthwise || separable) {
    y = t.emit("DepthwiseConv2dNative", {x, t.weight("depthwise_kernel")}, window);
    if (separable)
      y = t.emit("Conv2D", {y, t.weight("pointwise_kernel")},
                 {{"strides", ints_attr({1, 1, 1, 1})}, {"padding", string_attr("VALID")}});
  } else {
    y = t.emit("Conv2D", {x, t.weight("kernel")}, window);
  }
  if (t.config.value("use_bias", true)) y = t.emit("BiasAdd", {y, t.weight("bias")});
  return t.activation(y, t.config.value("activation", json("linear")));
}

const std::map<std::string, Handler>& handlers() {
  static const std::map<std::string, Handler> table = [] {
    std::map<std::string, Handler> h;
    using In = const std::vector<std::string>&;
    using X = const std::string&;
    h["Conv2D"] = [](Translator& t, X x, In) { return convolution(t, x, false, false); };
    h["DepthwiseConv2D"] = [](Translator& t, X x, In) { return convolution(t, x, true, false); };
    h["SeparableConv2D"] = [](Translator& t, X x, In) { return convolution(t, x, false, true); };
    h["Dense"] = [](Translator& t, X x, In) {
      std::string y = t.emit("MatMul", {x, t.weight("kernel")});
      if (t.config.value("use_bias", true)) y = t.emit("BiasAdd", {y, t.weight("bias")});
      return t.activation(y, t.config.value("activation", json("linear")));
    };
    h["BatchNormalization"] = [](Translator& t, X x, In) {
      const json axis = t.config.value("axis", json(-1));
      if (!(axis == -1 || axis == 3 || axis == 1 || axis == json::array({3}) ||
            axis == json::array({-1})))
        t.fail("normalises axis " + axis.dump() + "; foil supports the channel (last) axis");
      const std::string mean = t.weight("moving_mean"), var = t.weight("moving_variance");
      const auto& shape = t.weight_shape(mean);
      const std::string gamma = t.config.value("scale", true)
                                    ? t.weight("gamma")
                                    : t.constant("gamma", torch::ones(shape));
      const std::string beta = t.config.value("center", true)
                                   ? t.weight("beta")
                                   : t.constant("beta", torch::zeros(shape));
      return t.emit("FusedBatchNormV3", {x, gamma, beta, mean, var},
                    {{"epsilon", {{"f", t.config.value("epsilon", 1e-3)}}}});
    };
    h["Activation"] = [](Translator& t, X x, In) {
      return t.activation(x, t.config.value("activation", json("linear")));
    };
    h["ReLU"] = [](Translator& t, X x, In) {
      const json max = t.config.value("max_value", json());
      const double slope = t.config.value("negative_slope", 0.0);
      if (t.config.value("threshold", 0.0) != 0.0) t.fail("a non-zero threshold is not supported");
      if (slope == 0.0 && max.is_number() && max.get<double>() == 6.0) return t.emit("Relu6", {x});
      std::string y = slope == 0.0 ? t.emit("Relu", {x})
                                   : t.emit("LeakyRelu", {x}, {{"alpha", {{"f", slope}}}});
      if (max.is_number())
        y = t.emit("Minimum", {y, t.constant("max_value", torch::tensor(max.get<float>()))});
      return y;
    };
    h["LeakyReLU"] = [](Translator& t, X x, In) {
      return t.emit("LeakyRelu", {x}, {{"alpha", {{"f", t.config.value("alpha", 0.3)}}}});
    };
    h["PReLU"] = [](Translator& t, X x, In) { return t.emit("Prelu", {x, t.weight("alpha")}); };
    h["Softmax"] = [](Translator& t, X x, In) {
      const json axis = t.config.value("axis", json(-1));
      if (axis != -1 && axis != json::array({-1}))
        t.fail("softmax over an axis other than the last");
      return t.emit("Softmax", {x});
    };
    h["ZeroPadding2D"] = [](Translator& t, X x, In) {
      t.check_channels_last();
      const json p = t.config.value("padding", json(1));
      std::vector<int64_t> v;  // top, bottom, left, right
      if (p.is_number_integer()) v = {p, p, p, p};
      if (p.is_array() && p.size() == 2 && p[0].is_number_integer()) v = {p[0], p[0], p[1], p[1]};
      if (p.is_array() && p.size() == 2 && p[0].is_array())
        v = {p[0].at(0), p[0].at(1), p[1].at(0), p[1].at(1)};
      if (v.size() != 4) t.fail("padding " + p.dump() + " is not n, [h, w] or [[t, b], [l, r]]");
      const auto pads = int_tensor({0, 0, v[0], v[1], v[2], v[3], 0, 0}).reshape({4, 2});
      return t.emit("Pad", {x, t.constant("paddings", pads)});
    };
    h["MaxPooling2D"] = [](Translator& t, X x, In) { return pooling(t, x, "MaxPool"); };
    h["AveragePooling2D"] = [](Translator& t, X x, In) { return pooling(t, x, "AvgPool"); };
    h["GlobalAveragePooling2D"] = [](Translator& t, X x, In) {
      return global_pooling(t, x, "Mean");
    };
    h["GlobalMaxPooling2D"] = [](Translator& t, X x, In) { return global_pooling(t, x, "Max"); };
    h["Flatten"] = [](Translator& t, X x, In) {
      t.check_channels_last();
      return t.emit("Flatten", {x});
    };
    h["Reshape"] = [](Translator& t, X x, In) {
      std::vector<int64_t> shape = {-1};
      for (const auto& d : t.config.value("target_shape", json::array())) shape.push_back(d);
      return t.emit("Reshape", {x, t.constant("shape", int_tensor(shape))});
    };
    h["Rescaling"] = [](Translator& t, X x, In) {
      if (!t.config.value("scale", json(1.0)).is_number() ||
          !t.config.value("offset", json(0.0)).is_number())
        t.fail("per-channel scale or offset is not supported");
      const std::string y =
          t.emit("Mul", {x, t.constant("scale", torch::tensor(t.config.value("scale", 1.0f)))});
      return t.emit("AddV2",
                    {y, t.constant("offset", torch::tensor(t.config.value("offset", 0.0f)))});
    };
    for (const char* inert : {"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                              "AlphaDropout", "ActivityRegularization"})
      h[inert] = [](Translator& t, X x, In) { return t.emit("Identity", {x}); };
    h["Add"] = [](Translator& t, X, In in) {
      if (in.size() < 2) t.fail("needs at least two inputs");
      return t.emit("AddN", in);
    };
    h["Subtract"] = [](Translator& t, X, In in) {
      if (in.size() != 2) t.fail("needs exactly two inputs");
      return t.emit("Sub", in);
    };
    h["Multiply"] = [](Translator& t, X, In in) { return binary_chain(t, "Mul", in); };
    h["Maximum"] = [](Translator& t, X, In in) { return binary_chain(t, "Maximum", in); };
    h["Minimum"] = [](Translator& t, X, In in) { return binary_chain(t, "Minimum", in); };
    h["Average"] = [](Translator& t, X, In in) {
      if (in.size() < 2) t.fail("needs at least two inputs");
      const auto share = torch::tensor(1.0f / static_cast<float>(in.size()));
      return t.emit("Mul", {t.emit("AddN", in), t.constant("share", share)});
    };
    h["Concatenate"] = [](Translator& t, X, In in) {
      std::vector<std::string> args = in;
      args.push_back(t.constant("axis", int_tensor({t.config.value("axis", int64_t{-1})})));
      return t.emit("ConcatV2", args);
    };
    return h;
  }();
  return table;
}

const std::map<std::string, std::string>& activations() {
  static const std::map<std::string, std::string> ops = {
      {"relu", "Relu"},       {"relu6", "Relu6"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"},
      {"softmax", "Softmax"}, {"elu", "Elu"},     {"selu", "Selu"},       {"softplus", "Softplus"},
      {"exponential", "Exp"}, {"swish", ""},      {"silu", ""},           {"linear", ""}};
  return ops;
}

Translator::Translator(const json& model_json) : model_json_(model_json) {
  for (const auto& group : model_json.at("weightsManifest"))
    for (const auto& w : group.value("weights", json::array())) {
      const std::string name = w.value("name", "");
      weights_[name] = w.value("shape", std::vector<int64_t>{});
      g_.nodes.push_back({{"name", name}, {"op", "Const"}});
      names_.insert(name);
    }
}

std::string Translator::emit(const std::string& op, const std::vector<std::string>& inputs,
                             json attr) {
  std::string name = layer + "/" + op;
  for (int k = 1; names_.count(name); ++k) name = fmt::format("{}/{}_{}", layer, op, k);
  names_.insert(name);
  g_.nodes.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", std::move(attr)}});
  return name;
}

std::string Translator::constant(const std::string& what, const torch::Tensor& value) {
  std::string name = layer + "/" + what;
  for (int k = 1; names_.count(name); ++k) name = fmt::format("{}/{}_{}", layer, what, k);
  names_.insert(name);
  g_.nodes.push_back({{"name", name}, {"op", "Const"}});
  g_.constants[name] = value;
  return name;
}

std::string Translator::weight(const std::string& key) const {
  const std::string exact = layer + "/" + key, suffix = "/" + exact;
  if (weights_.count(exact)) return exact;
  for (const auto& [name, shape] : weights_)  // saved inside an outer model: "outer/layer/key"
    if (name.size() > suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return name;
  fail("no weight '" + exact + "' in weightsManifest");
}

std::string Translator::activation(const std::string& x, const json& name) {
  if (!name.is_string()) fail("activation " + name.dump() + " is not a name");
  const std::string a = name.get<std::string>();
  auto it = activations().find(a);
  if (it == activations().end()) {
    std::vector<std::string> known;
    for (const auto& [k, op] : activations()) known.push_back(k);
    fail(
        fmt::format("activation '{}' is not supported (supported: {})", a, fmt::join(known, ", ")));
  }
  if (a == "swish" || a == "silu") return emit("Mul", {x, emit("Sigmoid", {x})});
  return it->second.empty() ? x : emit(it->second, {x});
}

std::pair<int64_t, int64_t> Translator::pair(const std::string& key,
                                             std::pair<int64_t, int64_t> fallback) {
  const json v = config.value(key, json());
  if (v.is_null()) return fallback;
  if (v.is_number_integer()) return {v.get<int64_t>(), v.get<int64_t>()};
  if (v.is_array() && v.size() == 2 && v[0].is_number_integer() && v[1].is_number_integer())
    return {v[0].get<int64_t>(), v[1].get<int64_t>()};
  fail(key + " " + v.dump() + " is not n or [h, w]");
}

std::string Translator::padding() {
  const std::string p = config.value("padding", "valid");
  if (p == "same") return "SAME";
  if (p == "valid") return "VALID";
  fail("padding '" + p + "' is not supported (expected same or valid)");
}

void Translator::check_channels_last() {
  if (config.value("data_format", "channels_last") != "channels_last")
    fail("channels_first data is not supported (foil runs layers models channels_last)");
}

std::vector<std::string> Translator::inbound(const json& jl) const {
  const json calls = jl.value("inbound_nodes", json::array());
  if (!calls.is_array()) fail("inbound_nodes is not a list");
  if (calls.size() > 1) fail("is called more than once (shared layers are not supported)");
  std::vector<std::string> out;
  if (calls.empty()) return out;
  for (const auto& ref : calls[0]) {
    if (!ref.is_array() || ref.size() < 3 || !ref[0].is_string() || !ref[1].is_number_integer() ||
        !ref[2].is_number_integer())
      fail(
          "inbound_nodes in a format foil does not read (expected Keras 2's [name, node, "
          "tensor, kwargs] lists)");
    if (ref[1] != 0) fail("reads a second call of layer '" + ref[0].get<std::string>() + "'");
    if (ref[2] != 0)
      fail("reads output " + ref[2].dump() + " of layer '" + ref[0].get<std::string>() +
           "' (multi-output layers are not supported)");
    out.push_back(ref[0]);
  }
  return out;
}

void Translator::enter(const json& jl) {
  if (!jl.is_object()) throw InputError("modelTopology: a layer that is not an object");
  current_ = jl;
  config = jl.value("config", json::object());
  layer = jl.value("name", config.value("name", ""));
  cls = jl.value("class_name", "");
  if (layer.empty()) fail("a layer without a name");
  first_node_ = g_.nodes.size();
}

bool is_model(const std::string& cls) {
  return cls == "Model" || cls == "Functional" || cls == "Sequential";
}

void Translator::translate(const std::vector<std::string>& inputs) {
  if (cls == "InputLayer" && inputs.empty()) {
    json dims = json::array();
    for (const auto& d : config.value("batch_input_shape", json::array()))
      dims.push_back({{"size", d.is_number_integer() ? d.get<int64_t>() : -1}});
    const bool int32 = config.value("dtype", "float32") == "int32";
    json attr = {{"shape", {{"shape", {{"dim", dims}}}}},
                 {"dtype", {{"type", int32 ? "DT_INT32" : "DT_FLOAT"}}}};
    g_.nodes.push_back({{"name", layer}, {"op", "Placeholder"}, {"attr", attr}});
    names_.insert(layer);
    return;
  }
  std::string y;
  if (cls == "InputLayer") {  // a nested model's input: the value the outer model passes
    y = inputs[0];
  } else if (is_model(cls)) {  // a nested model: its layers, then its output under its name
    const std::string name = layer, kind = cls;
    const json nested = current_;
    const auto outputs = model(nested, inputs);
    layer = name;
    cls = kind;
    if (outputs.size() != 1) fail("a nested model with several outputs is not supported");
    y = outputs[0];
    first_node_ = g_.nodes.size();
  } else {
    auto it = handlers().find(cls);
    if (it == handlers().end())
      fail(fmt::format("foil does not support this Keras layer class (supported: {})",
                       fmt::join(supported_layers(), ", ")));
    if (inputs.empty()) fail("has no input");
    y = it->second(*this, inputs[0], inputs);
  }
  if (g_.nodes.size() == first_node_ || g_.nodes.back()["name"] != y)
    y = emit("Identity", {y});  // e.g. a linear Activation: the layer still needs a node
  names_.erase(y);
  g_.nodes.back()["name"] = layer;  // the layer's output carries the layer's name
  names_.insert(layer);
}

std::vector<std::string> Translator::model(const json& m, const std::vector<std::string>& inputs) {
  const std::string kind = m.value("class_name", "");
  const json cfg = m.value("config", json::object());
  if (!cfg.is_object() && !(kind == "Sequential" && cfg.is_array()))
    throw InputError("modelTopology: the config of model '" + kind + "' is not an object");
  if (kind == "Sequential") {
    const json layers = cfg.is_array() ? cfg : cfg.value("layers", json::array());
    std::vector<std::string> previous = inputs;
    for (const auto& jl : layers) {
      enter(jl);
      // The model's input: its InputLayer, a nested model's own, or the first layer's shape.
      if (previous.empty() && cls != "InputLayer" && !is_model(cls)) {
        const json input = {{"class_name", "InputLayer"},
                            {"config",
                             {{"name", layer + "_input"},
                              {"batch_input_shape", config.value("batch_input_shape", json())},
                              {"dtype", config.value("dtype", "float32")}}}};
        if (!input["config"]["batch_input_shape"].is_array())
          fail("the first layer of a Sequential model has no batch_input_shape");
        enter(input);
        translate({});
        previous = {layer};
        enter(jl);
      }
      translate(previous);
      previous = {layer};
    }
    if (previous.empty() || previous == inputs)
      throw InputError("modelTopology: a Sequential model without layers");
    return previous;
  }
  if (kind == "Model" || kind == "Functional") {
    // A nested model's input layers stand for the values the outer model passes, in order.
    std::map<std::string, std::string> passed;
    const json input_layers = cfg.value("input_layers", json::array());
    if (!inputs.empty() && input_layers.size() != inputs.size())
      throw InputError(fmt::format("modelTopology: model '{}' takes {} inputs, is given {}",
                                   cfg.value("name", ""), input_layers.size(), inputs.size()));
    for (size_t k = 0; k < inputs.size(); ++k) passed[input_layers[k].at(0)] = inputs[k];
    for (const auto& jl : cfg.value("layers", json::array())) {
      enter(jl);
      auto it = passed.find(layer);
      translate(it != passed.end() ? std::vector{it->second} : inbound(jl));
    }
    std::vector<std::string> outputs;
    for (const auto& out : cfg.value("output_layers", json::array())) {
      if (!out.is_array() || out.empty() || !out[0].is_string())
        throw InputError("modelTopology: output_layers must be [name, node, tensor] lists");
      outputs.push_back(out[0]);
    }
    return outputs;
  }
  throw InputError("modelTopology: '" + kind +
                   "' is not a Keras Model, Functional or Sequential model");
}

LayersGraph Translator::run() {
  const json& topology = model_json_.at("modelTopology");
  g_.outputs = model(topology.contains("model_config") ? topology["model_config"] : topology, {});
  return std::move(g_);
}

}  // namespace

bool is_layers_model(const json& model_json) {
  if (!model_json.is_object() || !model_json.contains("modelTopology")) return false;
  const json& t = model_json["modelTopology"];
  return t.is_object() && (t.contains("model_config") || t.contains("class_name"));
}

std::vector<std::string> supported_layers() {
  std::vector<std::string> out = {"InputLayer"};
  for (const auto& [name, handler] : handlers()) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

LayersGraph translate_layers(const json& model_json) { return Translator(model_json).run(); }

}  // namespace foil::graph
