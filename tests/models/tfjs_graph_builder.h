#pragma once
// Writes small TensorFlow.js graph and layers models (model.json + one .bin shard) for the
// importer's tests.

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil::test {

inline std::string base64(const std::string& bytes) {
  static const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t value = 0;  // the low 14 bits hold what is not yet written
  int bits = -6;
  for (unsigned char c : bytes) {
    value = ((value << 8) | c) & 0x3FFFu;
    bits += 8;
    while (bits >= 0) {
      out.push_back(chars[(value >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(chars[((value << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

/// Attribute values in the graph-model JSON encoding.
inline nlohmann::json attr_s(const std::string& s) { return {{"s", base64(s)}}; }
inline nlohmann::json attr_ints(const std::vector<int64_t>& v) {
  std::vector<std::string> s;
  for (auto x : v) s.push_back(std::to_string(x));
  return {{"list", {{"i", s}}}};
}
inline nlohmann::json attr_strings(const std::vector<std::string>& v) {
  std::vector<std::string> s;
  for (const auto& x : v) s.push_back(base64(x));
  return {{"list", {{"s", s}}}};
}

class GraphBuilder {
 public:
  GraphBuilder& input(const std::string& name, const std::vector<int64_t>& shape,
                      const std::string& dtype = "DT_FLOAT") {
    nlohmann::json dims = nlohmann::json::array();
    for (auto d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes_.push_back(
        {{"name", name},
         {"op", "Placeholder"},
         {"attr", {{"dtype", {{"type", dtype}}}, {"shape", {{"shape", {{"dim", dims}}}}}}}});
    return *this;
  }

  /// A Const with raw bytes as stored (dtype/quantization as in the manifest).
  GraphBuilder& raw(const std::string& name, const std::vector<int64_t>& shape,
                    const std::string& dtype, const std::string& bytes,
                    const nlohmann::json& quantization = nullptr) {
    nodes_.push_back(
        {{"name", name},
         {"op", "Const"},
         {"attr", {{"dtype", {{"type", dtype == "int32" ? "DT_INT32" : "DT_FLOAT"}}}}}});
    nlohmann::json w = {{"name", name}, {"shape", shape}, {"dtype", dtype}};
    if (!quantization.is_null()) w["quantization"] = quantization;
    weights_.push_back(w);
    bin_ += bytes;
    return *this;
  }

  GraphBuilder& constant(const std::string& name, const std::vector<int64_t>& shape,
                         const std::vector<float>& values) {
    std::string bytes(values.size() * 4, '\0');
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return raw(name, shape, "float32", bytes);
  }

  GraphBuilder& ints(const std::string& name, const std::vector<int64_t>& shape,
                     const std::vector<int32_t>& values) {
    std::string bytes(values.size() * 4, '\0');
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    return raw(name, shape, "int32", bytes);
  }

  GraphBuilder& node(const std::string& name, const std::string& op,
                     const std::vector<std::string>& inputs, nlohmann::json attr = {}) {
    if (attr.is_null()) attr = nlohmann::json::object();
    nodes_.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", attr}});
    return *this;
  }

  /// Writes DIR/NAME.json and DIR/NAME.bin; returns the model.json path.
  std::string write(const std::string& dir, const std::string& name = "model") const {
    nlohmann::json j = {{"format", "graph-model"},
                        {"modelTopology", {{"node", nodes_}}},
                        {"weightsManifest", {{{"paths", {name + ".bin"}}, {"weights", weights_}}}}};
    std::ofstream(dir + "/" + name + ".json") << j.dump();
    std::ofstream(dir + "/" + name + ".bin", std::ios::binary) << bin_;
    return dir + "/" + name + ".json";
  }

 private:
  nlohmann::json nodes_ = nlohmann::json::array();
  nlohmann::json weights_ = nlohmann::json::array();
  std::string bin_;
};

/// A Keras functional model in the TensorFlow.js layers format.
class LayersBuilder {
 public:
  /// Adds a layer reading the outputs of the layers `inputs` (none for an InputLayer).
  LayersBuilder& layer(const std::string& cls, const std::string& name, nlohmann::json config,
                       const std::vector<std::string>& inputs = {}) {
    config["name"] = name;
    nlohmann::json calls = nlohmann::json::array();
    if (!inputs.empty()) {
      nlohmann::json call = nlohmann::json::array();
      for (const auto& in : inputs) call.push_back({in, 0, 0, nlohmann::json::object()});
      calls.push_back(call);
    }
    if (cls == "InputLayer") inputs_.push_back({name, 0, 0});
    layers_.push_back(
        {{"name", name}, {"class_name", cls}, {"config", config}, {"inbound_nodes", calls}});
    return *this;
  }

  /// Adds the float32 weight `layer/key` of the given shape.
  LayersBuilder& weight(const std::string& name, const std::vector<int64_t>& shape,
                        const std::vector<float>& values) {
    weights_.push_back({{"name", name}, {"shape", shape}, {"dtype", "float32"}});
    std::string bytes(values.size() * 4, '\0');
    if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
    bin_ += bytes;
    return *this;
  }

  /// Writes DIR/NAME.json and DIR/NAME.bin with `outputs` as the output layers.
  std::string write(const std::string& dir, const std::vector<std::string>& outputs,
                    const std::string& name = "model") const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& o : outputs) out.push_back({o, 0, 0});
    nlohmann::json config = {
        {"name", name}, {"layers", layers_}, {"input_layers", inputs_}, {"output_layers", out}};
    nlohmann::json j = {{"format", "layers-model"},
                        {"modelTopology",
                         {{"keras_version", "2.2.4"},
                          {"backend", "tensorflow"},
                          {"model_config", {{"class_name", "Model"}, {"config", config}}}}},
                        {"weightsManifest", {{{"paths", {name + ".bin"}}, {"weights", weights_}}}}};
    std::ofstream(dir + "/" + name + ".json") << j.dump();
    std::ofstream(dir + "/" + name + ".bin", std::ios::binary) << bin_;
    return dir + "/" + name + ".json";
  }

 private:
  nlohmann::json layers_ = nlohmann::json::array();
  nlohmann::json inputs_ = nlohmann::json::array();
  nlohmann::json weights_ = nlohmann::json::array();
  std::string bin_;
};

}  // namespace foil::test
