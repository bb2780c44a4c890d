#pragma once
// Internal to the graph importers: reads an ONNX model file into graph nodes that run on the
// same executor (and, where the semantics coincide, the same kernels) as TensorFlow.js graphs.

#include <filesystem>
#include <string>
#include <vector>

#include "../graph/node.h"

namespace foil::graph {

/// An ONNX graph as executor nodes: initializers and Constant nodes become "Const" nodes, the
/// image input a "Placeholder"; every other node keeps its ONNX operator name, its kernel
/// resolved and its attributes (plus "_opset") in TensorFlow.js's JSON form.
struct ImportedGraph {
  std::vector<Node> nodes;  ///< inputs refer to indices of this list
  std::string input_name, input_dtype;
  std::vector<int64_t> input_shape;         ///< -1: any (symbolic or unknown)
  std::vector<std::string> outputs;         ///< the graph's outputs, by value name
  std::vector<int64_t> first_output_shape;  ///< declared shape of the first output (may be empty)
  std::string description;                  ///< producer and opset
};

/// Reads `path`; throws InputError naming the file (and node, for an unsupported operator)
/// for anything that is not a loadable ONNX model.
ImportedGraph read_onnx(const std::string& path);

/// The file `name` (as a model lists it) inside `dir`: relative, without "..", inside the
/// folder once symlinks are resolved, and a regular file. Throws InputError prefixed by
/// `owner` otherwise.
std::filesystem::path file_inside(const std::filesystem::path& dir, const std::string& name,
                                  const std::string& owner, const std::string& what);

}  // namespace foil::graph
