#pragma once
// Internal to the graph module and its readers: the graph's state, filled by a reader
// (read_tfjs_graph, read_onnx_graph), then put in execution order by sort_nodes.

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "foil/core/error.h"
#include "foil/graph/graph.h"
#include "node.h"

namespace foil {

struct Graph::Impl {
  std::string path;
  std::vector<graph::Node> nodes;  ///< in execution (topological) order
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

  // The TensorFlow.js reader's steps (src/models/tfjs_graph.cpp): nodes, then weights.
  void parse(const nlohmann::json& j);
  void load_weights(const nlohmann::json& manifest);
  /// Puts the nodes in execution order and names every value (the readers call it last).
  void sort_nodes();
  /// The node and output index of "name", "name:k" or an ONNX value name.
  std::pair<int, int> resolve(const std::string& ref) const;
};

/// "name:k" as (name, k); (ref, 0) when there is no numeric suffix.
std::pair<std::string, int> split_ref(const std::string& ref);

/// The readers: a TensorFlow.js model.json (graph or layers model, weights from its shards)
/// and an ONNX file, each into `g` (g.path set) before sort_nodes.
void read_tfjs_graph(Graph::Impl& g);
void read_onnx_graph(Graph::Impl& g);

}  // namespace foil
