// The graph executor: nodes in topological order, each run by its op's kernel; taps come back
// as N×C×H×W views the rest of the graph reads through.
#include <fmt/format.h>

#include <filesystem>

#include "graph_impl.h"

namespace foil {

using graph::Node;

std::pair<std::string, int> split_ref(const std::string& ref) {
  const auto colon = ref.rfind(':');
  if (colon == std::string::npos) return {ref, 0};
  const std::string tail = ref.substr(colon + 1);
  if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) return {ref, 0};
  return {ref.substr(0, colon), std::stoi(tail)};
}

std::pair<int, int> Graph::Impl::resolve(const std::string& ref) const {
  if (auto a = aliases.find(ref); a != aliases.end()) return a->second;
  auto it = index.find(ref);
  if (it != index.end()) return {it->second, 0};
  auto [name, k] = split_ref(ref);
  it = index.find(name);
  if (it == index.end()) fail("reference to an unknown node '" + ref + "'");
  if (k >= graph::output_count(nodes[it->second]))
    fail(fmt::format("node '{}' has no output {}", name, k));
  return {it->second, k};
}

void Graph::Impl::sort_nodes() {
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
    for (int k = 1; k < graph::output_count(n); ++k)
      value_names.push_back(fmt::format("{}:{}", n.name, k));
  }
}

Graph::Graph(const std::string& model_file) : impl_(std::make_unique<Impl>()) {
  impl_->path = model_file;
  const bool onnx = std::filesystem::path(model_file).extension() == ".onnx";
  if (!std::filesystem::is_regular_file(model_file))
    throw InputError(model_file + ": file not found (expected a TensorFlow.js model.json or " +
                     "an ONNX model)");
  try {
    if (onnx)
      read_onnx_graph(*impl_);
    else
      read_tfjs_graph(*impl_);
    impl_->sort_nodes();
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // JSON of the wrong type, numbers out of range
    throw InputError(model_file +
                     (onnx ? ": malformed ONNX model (" : ": malformed graph model (") +
                     first_line(e.what()) + ")");
  }
}

Graph::~Graph() = default;
Graph::Graph(Graph&&) noexcept = default;

std::vector<torch::Tensor> Graph::execute(
    const torch::Tensor& input, const std::vector<std::string>& nodes, size_t first_nchw,
    const std::map<std::string, torch::Tensor>& given,
    const std::map<std::string, torch::Tensor>& scales) const {
  const Impl& g = *impl_;
  std::vector<std::pair<int, int>> wanted;
  for (const auto& name : nodes) wanted.push_back(g.resolve(name));
  std::map<int, torch::Tensor> supplied;
  const bool nchw_graph = g.nchw;
  for (const auto& [name, value] : given) {
    const auto [v, k] = g.resolve(name);
    if (k == 0) supplied[v] = value;  // a node's later outputs are computed, never given
  }
  std::map<std::pair<int, int>, torch::Tensor> scaled;
  for (const auto& [name, value] : scales) scaled[g.resolve(name)] = value;
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
  // Each value is released after its last reader, so a pass holds only the live activations
  // (without it a batch of 250 through MobileNetV2 kept every layer's output: 20 GB); what
  // backward needs, autograd keeps itself.
  std::vector<int> last_use(g.nodes.size(), -1);
  for (size_t v = 0; v < g.nodes.size(); ++v)
    if (needed[v] && !supplied.count(static_cast<int>(v)))
      for (auto [u, k] : g.nodes[v].inputs)
        if (u >= 0) last_use[u] = static_cast<int>(v);
  for (auto [v, k] : wanted) last_use[v] = static_cast<int>(g.nodes.size());  // returned
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
      for (size_t k = 0; k < values[v].size(); ++k)
        if (const auto it = scaled.find({static_cast<int>(v), static_cast<int>(k)});
            it != scaled.end())
          values[v][k] = values[v][k] * it->second;
      args.clear();
      for (auto [u, k] : n.inputs)
        if (u >= 0 && last_use[u] == static_cast<int>(v)) values[u].clear();
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

const std::vector<std::string>& Graph::value_names() const { return impl_->value_names; }
const std::string& Graph::input_name() const { return impl_->input_name; }
const std::string& Graph::input_dtype() const { return impl_->input_dtype; }
const std::vector<int64_t>& Graph::input_shape() const { return impl_->input_shape; }
const std::vector<std::string>& Graph::signature_outputs() const { return impl_->outputs; }
bool Graph::channels_first() const { return impl_->nchw; }
const std::string& Graph::description() const { return impl_->description; }
const std::vector<int64_t>& Graph::first_output_shape() const { return impl_->first_output_shape; }

int64_t Graph::int_attr_of(const std::string& node, const std::string& key,
                           int64_t fallback) const {
  if (auto a = impl_->aliases.find(node); a != impl_->aliases.end())
    return attr_int(impl_->nodes[a->second.first], key, fallback);
  auto it = impl_->index.find(split_ref(node).first);
  return it == impl_->index.end() ? fallback : attr_int(impl_->nodes[it->second], key, fallback);
}

std::string Graph::op_of(const std::string& node) const {
  if (auto a = impl_->aliases.find(node); a != impl_->aliases.end())
    return impl_->nodes[a->second.first].op;
  auto it = impl_->index.find(split_ref(node).first);
  return it == impl_->index.end() ? "" : impl_->nodes[it->second].op;
}

std::string Graph::first_input_of(const std::string& name) const {
  int v = -1;
  if (auto a = impl_->aliases.find(name); a != impl_->aliases.end()) v = a->second.first;
  if (auto it = impl_->index.find(split_ref(name).first); v < 0 && it != impl_->index.end())
    v = it->second;
  if (v < 0 || impl_->nodes[v].inputs.empty() || impl_->nodes[v].inputs[0].first < 0) return "";
  auto [u, k] = impl_->nodes[v].inputs[0];
  if (!impl_->nodes[u].output_names.empty()) return impl_->nodes[u].output_names.at(k);
  return k == 0 ? impl_->nodes[u].name : fmt::format("{}:{}", impl_->nodes[u].name, k);
}

void Graph::to(c10::Device device) {
  for (auto& n : impl_->nodes) {
    if (n.value.defined()) n.value = n.value.to(device);
    n.cache.clear();
  }
}

}  // namespace foil
