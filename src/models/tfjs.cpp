#include "foil/models/tfjs.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "foil/core/error.h"
#include "onnx_import.h"
#include "tfjs_layers.h"
#include "tfjs_ops.h"

namespace foil {

namespace fs = std::filesystem;
using tfjs::Node;

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

bool is_onnx_file(const std::string& path) { return fs::path(path).extension() == ".onnx"; }

std::pair<std::string, int> split_ref(const std::string& ref) {
  const auto colon = ref.rfind(':');
  if (colon == std::string::npos) return {ref, 0};
  const std::string tail = ref.substr(colon + 1);
  if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) return {ref, 0};
  return {ref.substr(0, colon), std::stoi(tail)};
}

}  // namespace

// ---- graph ------------------------------------------------------------------------------

struct TfjsGraph::Impl {
  std::string path;
  std::vector<Node> nodes;  ///< in execution (topological) order
  std::unordered_map<std::string, int> index;
  int input = -1;
  std::string input_name, input_dtype;
  std::vector<int64_t> input_shape;
  std::vector<std::string> outputs;
  std::vector<std::string> value_names;
  std::map<std::string, torch::Tensor> constants;  ///< layers models: constants not in weights
  bool nchw = false;  ///< ONNX graphs: 4-D values are N×C×H×W (TensorFlow's are NHWC)
  /// ONNX graphs: every output of every node by its value name.
  std::unordered_map<std::string, std::pair<int, int>> aliases;
  std::string description;
  std::vector<int64_t> first_output_shape;

  [[noreturn]] void fail(const std::string& what) const { throw InputError(path + ": " + what); }

  void parse(const nlohmann::json& j);
  void import_onnx();
  void sort_nodes();
  std::filesystem::path shard_path(const std::filesystem::path& dir, const std::string& name) const;
  void load_weights(const nlohmann::json& manifest);
  std::pair<int, int> resolve(const std::string& ref) const;
};

void TfjsGraph::Impl::parse(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("weightsManifest") || !j["weightsManifest"].is_array())
    fail("no weightsManifest (expected a TensorFlow.js model.json with its list of weight shards)");
  tfjs::LayersGraph layers;
  const bool keras = tfjs::is_layers_model(j);
  if (keras) {
    try {
      layers = tfjs::translate_layers(j);
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
    n.kernel = tfjs::find_kernel(n.op);
    if (n.op != "Const" && n.op != "Placeholder" && !n.kernel)
      fail(fmt::format("node '{}' uses op '{}', which foil does not support (supported: {})",
                       n.name, n.op, fmt::join(tfjs::supported_ops(), ", ")));
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

void TfjsGraph::Impl::import_onnx() {
  tfjs::ImportedGraph g = tfjs::read_onnx(path);
  nodes = std::move(g.nodes);
  for (size_t k = 0; k < nodes.size(); ++k) index[nodes[k].name] = static_cast<int>(k);
  input = index.at(g.input_name);
  input_name = g.input_name;
  input_dtype = g.input_dtype;
  input_shape = g.input_shape;
  outputs = g.outputs;
  description = g.description;
  first_output_shape = g.first_output_shape;
  nchw = true;
}

std::pair<int, int> TfjsGraph::Impl::resolve(const std::string& ref) const {
  if (auto a = aliases.find(ref); a != aliases.end()) return a->second;
  auto it = index.find(ref);
  if (it != index.end()) return {it->second, 0};
  auto [name, k] = split_ref(ref);
  it = index.find(name);
  if (it == index.end()) fail("reference to an unknown node '" + ref + "'");
  if (k >= tfjs::output_count(nodes[it->second]))
    fail(fmt::format("node '{}' has no output {}", name, k));
  return {it->second, k};
}

void TfjsGraph::Impl::sort_nodes() {
  // Depth-first topological order; the JSON's own order is not guaranteed to be one.
  std::vector<int> state(nodes.size(), 0), order;
  for (size_t root = 0; root < nodes.size(); ++root) {
    std::vector<std::pair<int, size_t>> stack = {{static_cast<int>(root), 0}};
    while (!stack.empty()) {
      auto& [v, next] = stack.back();
      if (next == 0) {
        if (state[v] == 2) {
          stack.pop_back();
          continue;
        }
        state[v] = 1;
      }
      if (next < nodes[v].inputs.size()) {
        const int u = nodes[v].inputs[next++].first;
        if (u < 0) continue;  // an omitted optional input
        if (state[u] == 1) fail("the graph has a cycle through node '" + nodes[u].name + "'");
        if (state[u] == 0) stack.push_back({u, 0});
        continue;
      }
      state[v] = 2;
      order.push_back(v);
      stack.pop_back();
    }
  }
  std::vector<int> new_index(nodes.size());
  for (size_t k = 0; k < order.size(); ++k) new_index[order[k]] = static_cast<int>(k);
  std::vector<Node> sorted;
  for (int v : order) sorted.push_back(std::move(nodes[v]));
  for (auto& n : sorted)
    for (auto& in : n.inputs)
      if (in.first >= 0) in.first = new_index[in.first];
  nodes = std::move(sorted);
  for (size_t k = 0; k < nodes.size(); ++k) index[nodes[k].name] = static_cast<int>(k);
  input = index.at(input_name);
  for (size_t k = 0; k < nodes.size(); ++k)
    for (size_t o = 0; o < nodes[k].output_names.size(); ++o)
      if (!nodes[k].output_names[o].empty())
        aliases[nodes[k].output_names[o]] = {static_cast<int>(k), static_cast<int>(o)};
  for (const auto& n : nodes) {
    if (n.op == "Const") continue;
    if (!n.output_names.empty()) {
      for (const auto& name : n.output_names)
        if (!name.empty()) value_names.push_back(name);
      continue;
    }
    value_names.push_back(n.name);
    for (int k = 1; k < tfjs::output_count(n); ++k)
      value_names.push_back(fmt::format("{}:{}", n.name, k));
  }
}

/// The file a weightsManifest path names: inside the model's folder.
fs::path TfjsGraph::Impl::shard_path(const fs::path& dir, const std::string& name) const {
  return tfjs::file_inside(dir, name, path, "weight shard");
}

void TfjsGraph::Impl::load_weights(const nlohmann::json& manifest) {
  const fs::path dir = fs::path(path).parent_path();
  for (const auto& group : manifest) {
    std::string data;
    for (const auto& p : group.value("paths", std::vector<std::string>{})) {
      const fs::path shard = shard_path(dir, p);
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

TfjsGraph::TfjsGraph(const std::string& model_json) : impl_(std::make_unique<Impl>()) {
  impl_->path = model_json;
  const bool onnx = is_onnx_file(model_json);
  if (!fs::is_regular_file(model_json))
    throw InputError(model_json + ": file not found (expected a TensorFlow.js model.json or " +
                     "an ONNX model)");
  if (onnx) {
    try {
      impl_->import_onnx();
      impl_->sort_nodes();
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& e) {
      throw InputError(model_json + ": malformed ONNX model (" + first_line(e.what()) + ")");
    }
    return;
  }
  const auto j = read_json_file(model_json);
  try {
    impl_->parse(j);
    impl_->load_weights(j.at("weightsManifest"));
    impl_->sort_nodes();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // JSON of the wrong type, numbers out of range
    throw InputError(model_json + ": malformed graph model (" + first_line(e.what()) + ")");
  }
}

TfjsGraph::~TfjsGraph() = default;
TfjsGraph::TfjsGraph(TfjsGraph&&) noexcept = default;

std::vector<torch::Tensor> TfjsGraph::execute(
    const torch::Tensor& input, const std::vector<std::string>& nodes, size_t first_nchw,
    const std::map<std::string, torch::Tensor>& given) const {
  const Impl& g = *impl_;
  std::vector<std::pair<int, int>> wanted;
  for (const auto& name : nodes) wanted.push_back(g.resolve(name));
  std::map<int, torch::Tensor> supplied;
  const bool nchw_graph = g.nchw;
  for (const auto& [name, value] : given) {
    const auto [v, k] = g.resolve(name);
    if (k == 0) supplied[v] = value;  // a node's later outputs are computed, never given
  }
  std::vector<char> as_nchw(g.nodes.size(), 0);
  for (size_t i = first_nchw; i < wanted.size(); ++i) as_nchw[wanted[i].first] = 1;
  std::map<int, std::vector<torch::Tensor>> nchw;
  // Only the nodes the requested values depend on run (given ones need nothing).
  std::vector<char> needed(g.nodes.size(), 0);
  for (auto [v, k] : wanted) needed[v] = 1;
  for (int v = static_cast<int>(g.nodes.size()) - 1; v >= 0; --v)
    if (needed[v] && !supplied.count(v))
      for (auto [u, k] : g.nodes[v].inputs)
        if (u >= 0) needed[u] = 1;
  std::vector<std::vector<torch::Tensor>> values(g.nodes.size());
  std::vector<torch::Tensor> args;
  for (size_t v = 0; v < g.nodes.size(); ++v) {
    if (!needed[v]) continue;
    const Node& n = g.nodes[v];
    if (const auto it = supplied.find(static_cast<int>(v)); it != supplied.end()) {
      values[v] = {it->second};
    } else if (n.op == "Const") {
      values[v] = {n.value};
    } else if (static_cast<int>(v) == g.input) {
      values[v] = {input};
    } else {
      args.clear();
      for (auto [u, k] : n.inputs) args.push_back(u < 0 ? torch::Tensor() : values[u].at(k));
      try {
        values[v] = (*n.kernel)(n, args);
      } catch (const InputError&) {
        throw;
      } catch (const std::exception& e) {
        throw InputError(
            fmt::format("node '{}' ({}): {}", n.name, n.op, library_message(e.what())));
      }
    }
    // A tapped 4-D value: the graph goes on from an NHWC view of the N×C×H×W tap, so the
    // tap is an ancestor of everything computed after it.
    if (as_nchw[v] && nchw_graph) {
      nchw[static_cast<int>(v)] = values[v];
    } else if (as_nchw[v]) {
      for (auto& t : values[v]) {
        nchw[static_cast<int>(v)].push_back(t.dim() == 4 ? t.permute({0, 3, 1, 2}) : t);
        if (t.dim() == 4) t = nchw[static_cast<int>(v)].back().permute({0, 2, 3, 1});
      }
    }
  }
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < wanted.size(); ++i) {
    auto [v, k] = wanted[i];
    out.push_back(i >= first_nchw ? nchw.at(v).at(k) : values[v].at(k));
  }
  return out;
}

const std::vector<std::string>& TfjsGraph::value_names() const { return impl_->value_names; }
const std::string& TfjsGraph::input_name() const { return impl_->input_name; }
const std::string& TfjsGraph::input_dtype() const { return impl_->input_dtype; }
const std::vector<int64_t>& TfjsGraph::input_shape() const { return impl_->input_shape; }
const std::vector<std::string>& TfjsGraph::signature_outputs() const { return impl_->outputs; }
bool TfjsGraph::channels_first() const { return impl_->nchw; }
const std::string& TfjsGraph::description() const { return impl_->description; }
const std::vector<int64_t>& TfjsGraph::first_output_shape() const {
  return impl_->first_output_shape;
}

int64_t TfjsGraph::int_attr_of(const std::string& node, const std::string& key,
                               int64_t fallback) const {
  if (auto a = impl_->aliases.find(node); a != impl_->aliases.end())
    return attr_int(impl_->nodes[a->second.first], key, fallback);
  auto it = impl_->index.find(split_ref(node).first);
  return it == impl_->index.end() ? fallback : attr_int(impl_->nodes[it->second], key, fallback);
}

std::string TfjsGraph::op_of(const std::string& node) const {
  if (auto a = impl_->aliases.find(node); a != impl_->aliases.end())
    return impl_->nodes[a->second.first].op;
  auto it = impl_->index.find(split_ref(node).first);
  return it == impl_->index.end() ? "" : impl_->nodes[it->second].op;
}

std::string TfjsGraph::first_input_of(const std::string& name) const {
  int v = -1;
  if (auto a = impl_->aliases.find(name); a != impl_->aliases.end()) v = a->second.first;
  if (auto it = impl_->index.find(split_ref(name).first); v < 0 && it != impl_->index.end())
    v = it->second;
  if (v < 0 || impl_->nodes[v].inputs.empty() || impl_->nodes[v].inputs[0].first < 0) return "";
  auto [u, k] = impl_->nodes[v].inputs[0];
  if (!impl_->nodes[u].output_names.empty()) return impl_->nodes[u].output_names.at(k);
  return k == 0 ? impl_->nodes[u].name : fmt::format("{}:{}", impl_->nodes[u].name, k);
}

void TfjsGraph::to(c10::Device device) {
  for (auto& n : impl_->nodes) {
    if (n.value.defined()) n.value = n.value.to(device);
    n.cache.clear();
  }
}

// ---- model ------------------------------------------------------------------------------

TfjsModel::TfjsModel(const std::string& model_json)
    : graph_(model_json), meta_(tfjs_meta_for(model_json, graph_)) {
  const auto& shape = graph_.input_shape();
  if (shape.size() != 4)
    throw InputError(fmt::format("{}: input '{}' has shape [{}], expected an image (NHWC or NCHW)",
                                 model_json, graph_.input_name(), fmt::join(shape, ",")));
  info_.name = fs::path(model_json).filename().string();
  info_.backend = graph_.channels_first() ? "onnx" : "tfjs";
  info_.arch = fs::path(model_json).stem().string();
  // Channels first when dimension 1 looks like channels and dimension 3 does not.
  auto channels = [](int64_t c) { return c == 1 || c == 3; };
  nchw_input_ = channels(shape[1]) && !channels(shape[3]);
  const auto dim = [&](int k) { return std::max<int64_t>(shape[k], 0); };
  info_.input =
      nchw_input_ ? ImageShape{dim(1), dim(2), dim(3)} : ImageShape{dim(3), dim(1), dim(2)};
  {  // A declared size foil could not hold is refused before any image of it is made.
    const ImageShape& in = info_.input;
    const bool fits = in.channels <= 4 && in.height <= kMaxImageSide && in.width <= kMaxImageSide &&
                      std::max<int64_t>(in.channels, 1) * std::max<int64_t>(in.height, 1) *
                              std::max<int64_t>(in.width, 1) <=
                          kMaxImageElements;
    check_input(fits, model_json + " input",
                fmt::format("an image of at most 4 channels and {}x{} pixels", kMaxImageSide,
                            kMaxImageSide),
                fmt::format("a declared shape [{}]", fmt::join(shape, ", ")));
  }
  info_.input.letterbox = meta_.letterbox;
  info_.class_names = meta_.class_names;
  if (meta_.task == "classifier" || meta_.task == "detection")
    info_.num_classes = static_cast<int64_t>(meta_.class_names.size());
  for (const auto& map : meta_.class_maps) {
    std::string node = map;  // the map's value before any Identity and its final Sigmoid
    while (graph_.op_of(node) == "Identity") node = graph_.first_input_of(node);
    if (graph_.op_of(node) == "Sigmoid") {
      class_logits_.push_back(graph_.first_input_of(node));
      continue;
    }
    // A Sigmoid behind reshapes and transposes (NanoDet): the map holds probabilities, whose
    // best location's logit is taken after the maximum (sigmoid is monotonic).
    static const std::set<std::string> layout = {"Identity", "Reshape", "Transpose", "Squeeze",
                                                 "ExpandDims"};
    std::string back = node;
    while (layout.count(graph_.op_of(back))) back = graph_.first_input_of(back);
    if (graph_.op_of(back) == "Sigmoid") probability_maps_ = true;
    class_logits_.push_back(node);
  }
  for (const auto& map : meta_.class_maps) {
    static const std::set<std::string> pass = {"Identity",   "Reshape", "Transpose", "Squeeze",
                                               "ExpandDims", "Sigmoid", "BiasAdd",   "Add",
                                               "AddV2",      "ConcatV2"};
    for (std::string node = map; !node.empty(); node = graph_.first_input_of(node)) {
      class_head_.insert(node.substr(0, node.find(':')));
      if (!pass.count(graph_.op_of(node))) break;  // the convolution computing the scores
    }
  }
  if (meta_.task == "detection" && class_logits_.empty())
    throw InputError(model_json + ": a detector needs class_maps (the class score nodes)");
  if (meta_.outputs.empty()) throw InputError(model_json + ": the graph has no output node");
  output_node_ = meta_.outputs[0];
  if (meta_.task == "classifier" && meta_.logits_before_softmax) {
    std::string node = output_node_;
    while (graph_.op_of(node) == "Identity") node = graph_.first_input_of(node);
    if (graph_.op_of(node) == "Softmax") {
      // The softmax skipped must be the one over the classes of N x K scores: any other axis
      // (or one the scores do not have) is refused here, as running it would be.
      const int64_t axis = graph_.int_attr_of(node, "axis", -1);
      check_input(axis == -1 || axis == 1, model_json + ": output Softmax '" + node + "' axis",
                  "the class axis of N x K scores (1 or -1)", std::to_string(axis));
      output_node_ = graph_.first_input_of(node);
    }
  }
}

TfjsModel::~TfjsModel() = default;

std::vector<std::string> TfjsModel::layer_names() const { return graph_.value_names(); }

void TfjsModel::to(c10::Device device) {
  graph_.to(device);
  device_ = device;
}

torch::Tensor TfjsModel::model_input(const torch::Tensor& pixels) const {
  const torch::Tensor rgb = meta_.bgr ? pixels.flip(1) : pixels;
  torch::Tensor x = (nchw_input_ ? rgb : rgb.permute({0, 2, 3, 1})) * meta_.scale + meta_.offset;
  // int32 inputs (e.g. MoveNet's 0..255): round, but let the gradient pass straight through.
  if (graph_.input_dtype() == "int32") x = x + (x.round() - x).detach();
  return x;
}

std::vector<torch::Tensor> TfjsModel::execute(const torch::Tensor& pixels,
                                              const std::vector<std::string>& nodes,
                                              size_t first_nchw) const {
  const torch::Tensor input = model_input(pixels);
  if (graph_.input_shape()[0] != 1 || input.size(0) == 1)
    return graph_.execute(input, nodes, first_nchw);
  // Graphs exported with a fixed batch of 1 (their reshapes spell it out) run per image.
  const int64_t n = input.size(0);
  auto per_image = [&](const std::vector<std::string>& wanted,
                       const std::vector<std::map<std::string, torch::Tensor>>& given) {
    std::vector<std::vector<torch::Tensor>> parts(wanted.size());
    for (int64_t i = 0; i < n; ++i) {
      auto out = graph_.execute(input.slice(0, i, i + 1), wanted, static_cast<size_t>(-1),
                                given.empty() ? std::map<std::string, torch::Tensor>{} : given[i]);
      for (size_t k = 0; k < out.size(); ++k) parts[k].push_back(out[k]);
    }
    std::vector<torch::Tensor> out;
    for (auto& p : parts) out.push_back(torch::cat(p, 0));
    return out;
  };
  if (first_nchw >= nodes.size()) return per_image(nodes, {});
  // Taps whose gradients must flow (Grad-CAM): the taps of every image first, batched as
  // N×C×H×W; then each image's heads computed from its slice of those batched taps, so the
  // heads depend on the very tensors returned.
  const std::vector<std::string> heads(nodes.begin(), nodes.begin() + first_nchw);
  const std::vector<std::string> taps(nodes.begin() + first_nchw, nodes.end());
  std::vector<torch::Tensor> tapped = per_image(taps, {});
  std::vector<std::map<std::string, torch::Tensor>> given(n);
  for (size_t k = 0; k < taps.size(); ++k) {
    const bool spatial = tapped[k].dim() == 4;
    const bool nhwc = spatial && !graph_.channels_first();
    if (nhwc) tapped[k] = tapped[k].permute({0, 3, 1, 2});
    if (taps[k].find(':') != std::string::npos && taps[k].substr(taps[k].find(':')) != ":0")
      continue;  // a node's second output: read, not injected (no gradient to it)
    for (int64_t i = 0; i < n; ++i) {
      const torch::Tensor slice = tapped[k].slice(0, i, i + 1);
      given[i][taps[k]] = nhwc ? slice.permute({0, 2, 3, 1}) : slice;
    }
  }
  std::vector<torch::Tensor> out = per_image(heads, given);
  out.insert(out.end(), tapped.begin(), tapped.end());
  return out;
}

std::vector<torch::Tensor> TfjsModel::outputs(const torch::Tensor& pixels) const {
  check_input_shape(pixels);
  return execute(pixels.to(device_), meta_.outputs);
}

TapOutputs TfjsModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  std::vector<std::string> nodes = class_logits_;
  if (nodes.empty()) nodes = {output_node_};
  const size_t heads = nodes.size();
  nodes.insert(nodes.end(), taps.begin(), taps.end());
  auto values = execute(x, nodes, heads);  // taps (after the heads) come back N×C×H×W
  TapOutputs out;
  if (meta_.probability_output) {
    const torch::Tensor p = values[0].reshape({values[0].size(0), 1}).clamp(1e-7, 1 - 1e-7);
    out.output = torch::cat({torch::log1p(-p), torch::log(p)}, 1);
  } else if (class_logits_.empty()) {
    out.output = values[0];
  } else {  // image-level class logits: each class's best location over all maps
    std::vector<torch::Tensor> maps;
    const int64_t classes = static_cast<int64_t>(meta_.class_names.size());
    for (size_t k = 0; k < heads; ++k) {
      // N×H×W×C or N×locations×C.
      const torch::Tensor& v = values[k];
      if (v.size(-1) != classes)
        throw InputError(fmt::format("{}: class map '{}' has {} classes, the metadata {}",
                                     info_.name, class_logits_[k], v.size(-1), classes));
      maps.push_back(v.reshape({v.size(0), -1, classes}));
    }
    out.output = torch::cat(maps, 1).amax(1);
    if (probability_maps_) {  // logit of the best probability; exact up to float rounding
      const torch::Tensor p = out.output.clamp(1e-7, 1 - 1e-7);
      out.output = torch::log(p) - torch::log1p(-p);
    }
  }
  for (size_t k = 0; k < taps.size(); ++k) out.taps[taps[k]] = values[k + heads];
  return out;
}

}  // namespace foil
