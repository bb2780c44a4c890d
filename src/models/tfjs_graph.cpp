// The TensorFlow.js reader: a graph model's nodes (or a layers model's, translated into
// TensorFlow ops) and its weights from the shards the manifest names, into a Graph.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "../graph/graph_impl.h"
#include "onnx_import.h"
#include "tfjs_layers.h"

namespace foil {

namespace fs = std::filesystem;
using graph::Node;

namespace {

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open (expected a TensorFlow.js model.json)");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path + ": not valid JSON (" + first_line(e.what()) + ")");
  }
}

std::vector<int64_t> shape_of(const nlohmann::json& tensor_shape) {
  std::vector<int64_t> out;
  if (!tensor_shape.is_object() || !tensor_shape.contains("dim")) return out;
  for (const auto& d : tensor_shape["dim"]) {
    if (!d.contains("size")) {
      out.push_back(1);
      continue;
    }
    const auto& s = d["size"];
    out.push_back(s.is_string() ? std::stoll(s.get<std::string>()) : s.get<int64_t>());
  }
  return out;
}

/// Bytes per stored value for a manifest entry (quantised entries store the quantised type).
int64_t stored_bytes(const nlohmann::json& w, std::string& stored) {
  stored = w.value("dtype", "float32");
  if (w.contains("quantization")) stored = w["quantization"].value("dtype", "");
  if (stored == "float32" || stored == "int32") return 4;
  if (stored == "float16" || stored == "uint16") return 2;
  if (stored == "uint8" || stored == "bool") return 1;
  return 0;
}

/// Decodes one weight from its bytes.
torch::Tensor decode_weight(const nlohmann::json& w, const char* data, int64_t count,
                            const std::string& stored, const std::vector<int64_t>& shape) {
  const std::string dtype = w.value("dtype", "float32");
  auto copy = [&](torch::ScalarType type) {
    return torch::from_blob(const_cast<char*>(data), {count}, type).clone();
  };
  torch::Tensor values;
  if (stored == "float32") values = copy(torch::kFloat);
  if (stored == "int32") values = copy(torch::kInt);
  if (stored == "bool") values = copy(torch::kUInt8).to(torch::kBool);
  if (stored == "float16") values = copy(torch::kHalf).to(torch::kFloat);
  if (stored == "uint8" || stored == "uint16") {
    const auto& q = w["quantization"];
    auto raw = stored == "uint8"
                   ? copy(torch::kUInt8).to(torch::kFloat)
                   : copy(torch::kShort).to(torch::kInt).bitwise_and(0xFFFF).to(torch::kFloat);
    values = raw * q.value("scale", 1.0) + q.value("min", 0.0);
  }
  if (dtype == "int32" && values.is_floating_point()) values = values.round().to(torch::kInt);
  return values.reshape(shape);
}

}  // namespace

void Graph::Impl::parse(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("weightsManifest") || !j["weightsManifest"].is_array())
    fail("no weightsManifest (expected a TensorFlow.js model.json with its list of weight shards)");
  graph::LayersGraph layers;
  const bool keras = graph::is_layers_model(j);
  if (keras) {
    try {
      layers = graph::translate_layers(j);
    } catch (const InputError& e) {
      fail(e.what());
    }
    constants = std::move(layers.constants);
  } else if (!j.contains("modelTopology") || !j["modelTopology"].is_object() ||
             !j["modelTopology"].contains("node")) {
    fail(
        "not a TensorFlow.js model (expected modelTopology.node of a graph model or "
        "modelTopology.model_config of a layers model)");
  } else if (j.contains("format") && j["format"] != "graph-model") {
    fail("format '" + j["format"].get<std::string>() + "' is not a graph model");
  }
  const nlohmann::json& node_list = keras ? layers.nodes : j["modelTopology"]["node"];
  for (const auto& jn : node_list) {
    Node n;
    try {  // a field of the wrong JSON type: name the node and the field
      n.name = jn.value("name", "");
      n.op = jn.value("op", "");
      n.attr = jn.value("attr", nlohmann::json::object());
      jn.value("input", std::vector<std::string>{});
    } catch (const nlohmann::json::exception& e) {
      fail(
          fmt::format("modelTopology.node[{}] ('{}'): name and op must be strings, attr an "
                      "object, input a list of strings ({})",
                      nodes.size(),
                      jn.is_object() && jn.contains("name") && jn["name"].is_string()
                          ? jn["name"].get<std::string>()
                          : "?",
                      first_line(e.what())));
    }
    if (n.name.empty() || n.op.empty()) fail("a node without name or op");
    n.kernel = graph::find_kernel(n.op);
    if (n.op != "Const" && n.op != "Placeholder" && !n.kernel)
      fail(fmt::format("node '{}' uses op '{}', which foil does not support (supported: {})",
                       n.name, n.op, fmt::join(graph::supported_ops(), ", ")));
    if (index.count(n.name)) fail("two nodes named '" + n.name + "'");
    index[n.name] = static_cast<int>(nodes.size());
    nodes.push_back(std::move(n));
  }
  // Inputs are resolved after all nodes are known.
  size_t i = 0;
  for (const auto& jn : node_list) {
    for (const auto& in : jn.value("input", std::vector<std::string>{})) {
      if (!in.empty() && in[0] == '^') continue;  // control dependency
      nodes[i].inputs.push_back(resolve(in));
    }
    ++i;
  }
  for (const auto& n : nodes) {
    if (n.op != "Placeholder") continue;
    if (input >= 0) fail("more than one input placeholder (foil models take one image input)");
    input = index.at(n.name);
    input_name = n.name;
    input_dtype =
        n.attr.value("dtype", nlohmann::json::object()).value("type", "DT_FLOAT") == "DT_INT32"
            ? "int32"
            : "float32";
    if (n.attr.contains("shape"))
      input_shape = shape_of(n.attr["shape"].value("shape", nlohmann::json()));
  }
  if (input < 0) fail("no input placeholder");
  // Outputs: the signature's, else the nodes nothing reads.
  outputs = layers.outputs;
  auto sig = j.value("signature", nlohmann::json::object());
  if (sig.empty() && j.contains("userDefinedMetadata"))
    sig = j["userDefinedMetadata"].value("signature", nlohmann::json::object());
  if (outputs.empty() && sig.contains("outputs"))
    for (const auto& [key, out] : sig["outputs"].items()) outputs.push_back(out.value("name", key));
  if (outputs.empty()) {
    std::set<int> used;
    for (const auto& n : nodes)
      for (auto [src, k] : n.inputs) used.insert(src);
    for (size_t k = 0; k < nodes.size(); ++k)
      if (!used.count(static_cast<int>(k)) && nodes[k].op != "Const")
        outputs.push_back(nodes[k].name);
  }
  for (const auto& o : outputs) resolve(o);
}

void Graph::Impl::load_weights(const nlohmann::json& manifest) {
  const fs::path dir = fs::path(path).parent_path();
  for (const auto& group : manifest) {
    std::string data;
    for (const auto& p : group.value("paths", std::vector<std::string>{})) {
      const fs::path shard = graph::file_inside(dir, p, path, "weight shard");
      std::ifstream in(shard, std::ios::binary);
      if (!in) fail("weight shard " + p + " cannot be read");
      data.append(std::istreambuf_iterator<char>(in), {});
    }
    int64_t offset = 0;
    for (const auto& w : group.value("weights", nlohmann::json::array())) {
      const std::string name = w.value("name", "");
      auto it = index.find(name);
      if (it == index.end()) fail("weightsManifest names '" + name + "', which is not a node");
      Node& node = nodes[it->second];
      const auto shape = w.value("shape", std::vector<int64_t>{});
      std::string stored;
      const int64_t bytes = stored_bytes(w, stored);
      if (bytes == 0) fail(fmt::format("weight '{}' has unsupported dtype '{}'", name, stored));
      // Sizes are checked against the bytes the shards hold, so no product can overflow.
      int64_t count = 1;
      for (auto s : shape)
        if (s < 0 || (s > 0 && count > static_cast<int64_t>(data.size()) / s))
          fail(fmt::format("weight '{}' has shape [{}], more values than the shards hold", name,
                           fmt::join(shape, ",")));
        else
          count *= s;
      if (count > (static_cast<int64_t>(data.size()) - offset) / bytes)
        fail(fmt::format(
            "weight shards hold {} bytes but weight '{}' (shape [{}], {}) needs bytes {}..{}; a "
            "shard is truncated or the manifest's shapes are wrong",
            data.size(), name, fmt::join(shape, ","), stored, offset, offset + count * bytes));
      if (node.attr.contains("value") && node.attr["value"].contains("tensor")) {
        const auto declared =
            shape_of(node.attr["value"]["tensor"].value("tensorShape", nlohmann::json()));
        // An empty constant may declare a placeholder shape (nanodet's folded Where).
        if (!declared.empty() && declared != shape && count > 0)
          fail(fmt::format("weight '{}': the manifest says shape [{}], the graph [{}]", name,
                           fmt::join(shape, ","), fmt::join(declared, ",")));
      }
      node.value = decode_weight(w, data.data() + offset, count, stored, shape);
      offset += count * bytes;
    }
    if (offset != static_cast<int64_t>(data.size()))
      fail(fmt::format("weight shards hold {} bytes but the manifest describes {}", data.size(),
                       offset));
  }
  for (auto& n : nodes)
    if (auto it = constants.find(n.name); it != constants.end()) n.value = it->second;
  for (const auto& n : nodes)
    if (n.op == "Const" && !n.value.defined())
      fail("constant '" + n.name + "' has no weights in weightsManifest");
}

void read_tfjs_graph(Graph::Impl& g) {
  const nlohmann::json j = read_json_file(g.path);
  g.parse(j);
  g.load_weights(j.at("weightsManifest"));
}

}  // namespace foil
