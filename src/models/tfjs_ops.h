#pragma once
// Internal to the TensorFlow.js importer: graph nodes and the LibTorch kernels of their ops.

#include <torch/torch.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace foil::tfjs {

/// One graph node as read from model.json.
struct Node {
  std::string name, op;
  std::vector<std::pair<int, int>> inputs;  ///< (node index, output index)
  nlohmann::json attr;
  torch::Tensor value;  ///< Const nodes: the weight
  /// Kernels may cache derived constants here (e.g. a weight in LibTorch layout).
  mutable std::vector<torch::Tensor> cache;
};

using Kernel = std::function<std::vector<torch::Tensor>(const Node&, std::vector<torch::Tensor>&)>;

/// The kernel of `op`, or nullptr when the op is not supported.
const Kernel* find_kernel(const std::string& op);
/// Names of the supported ops, sorted.
std::vector<std::string> supported_ops();
/// Number of outputs a node of this op produces (Unpack: its `num` attribute).
int output_count(const Node& node);

/// Encodes bytes as base64 (how graph models store string attributes).
std::string base64_encode(const std::string& bytes);
/// Decodes a base64 string attribute value.
std::string base64_decode(const std::string& text);

}  // namespace foil::tfjs
