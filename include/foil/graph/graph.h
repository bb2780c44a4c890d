#pragma once
/// @file
/// The graph executor the model importers share. A TensorFlow.js graph model (`model.json`:
/// op nodes with TensorFlow attributes), a Keras layers model (translated layer by layer into
/// the same TensorFlow ops) and an ONNX file (default domain, opsets 7 to 18) are each read into
/// one Graph: nodes with their op's LibTorch kernel, weights as constants. The kernels live in
/// src/graph (tf_ops.cpp for TensorFlow ops, onnx_ops.cpp for ONNX operators, kernels.cpp for
/// what both are written with); the readers in src/models (tfjs_graph.cpp, tfjs_layers.cpp,
/// onnx.cpp). Models wrap a Graph as `GraphModel` (foil/models/graph_model.h).

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace foil {

/// A dataflow graph of ops run on LibTorch: what the TensorFlow.js and ONNX importers read
/// model files into. Nodes run in topological order, each by its op's kernel; gradients flow
/// to the input.
class Graph {
 public:
  /// Reads a TensorFlow.js `model.json` (graph or layers model, with its weight shards) or an
  /// ONNX `.onnx` file; throws InputError naming the file (or node) for anything that is not a
  /// loadable graph model.
  explicit Graph(const std::string& model_file);
  ~Graph();
  /// Moves the graph (weights are not copied).
  Graph(Graph&&) noexcept;

  /// Runs the graph on `input` (the model's own scaling and layout, e.g. NHWC) and returns
  /// the values of `nodes` ("name" or "name:k"), in TensorFlow layout. 4-D values of
  /// `nodes[first_nchw..]` come back as N×C×H×W views that the rest of the graph reads
  /// through, so gradients of later values with respect to them flow (Grad-CAM). `given`
  /// supplies the values of single-output nodes (by name, TensorFlow layout): they are not
  /// computed, and what depends on them reads the given tensors. `scales` multiplies the
  /// computed values of nodes (by name, TensorFlow layout, broadcast): what depends on them,
  /// and their own requested values, read the products.
  std::vector<torch::Tensor> execute(const torch::Tensor& input,
                                     const std::vector<std::string>& nodes,
                                     size_t first_nchw = static_cast<size_t>(-1),
                                     const std::map<std::string, torch::Tensor>& given = {},
                                     const std::map<std::string, torch::Tensor>& scales = {}) const;

  /// Node outputs that can be requested, in execution order (constants excluded).
  const std::vector<std::string>& value_names() const;
  /// The op of a node ("" when unknown).
  std::string op_of(const std::string& node) const;
  /// An integer attribute of a node (`fallback` when the node or attribute is absent).
  int64_t int_attr_of(const std::string& node, const std::string& key, int64_t fallback) const;
  /// The input placeholder: name, dtype ("float32"/"int32") and shape (-1 = any).
  const std::string& input_name() const;
  /// The input placeholder's dtype, "float32" or "int32".
  const std::string& input_dtype() const;
  /// The input placeholder's shape (-1 = any).
  const std::vector<int64_t>& input_shape() const;
  /// Output nodes named by the signature (or the graph's sinks).
  const std::vector<std::string>& signature_outputs() const;
  /// The node feeding node `name`'s first input ("" when none).
  std::string first_input_of(const std::string& name) const;
  /// ONNX graphs: values are N×C×H×W (TensorFlow.js graphs: NHWC).
  bool channels_first() const;
  /// ONNX graphs: the producer and opset ("" for TensorFlow.js graphs).
  const std::string& description() const;
  /// ONNX graphs: the declared shape of the first output (-1: symbolic; empty: unknown).
  const std::vector<int64_t>& first_output_shape() const;

  /// Moves the weights to `device`.
  void to(c10::Device device);

  /// The graph's state (internal: src/graph/graph_impl.h, filled by the readers).
  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace foil
