#pragma once
// Internal to the graph importers (TensorFlow.js and ONNX): graph nodes, the LibTorch kernels
// of their ops, and the tensor helpers both importers' kernels are written with.

#include <torch/torch.h>

#include <array>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace foil::graph {

struct Node;
using Tensors = std::vector<torch::Tensor>;
using Kernel = std::function<Tensors(const Node&, Tensors&)>;

/// One graph node as read from model.json (or translated from an ONNX node).
struct Node {
  std::string name, op;
  std::vector<std::pair<int, int>> inputs;  ///< (node index, output index); -1: omitted input
  /// Attributes in TensorFlow.js's JSON form ({"i": ..}, {"f": ..}, {"s": base64},
  /// {"list": {"i"|"f"|"s": [..]}}); ONNX attributes are translated to the same form.
  nlohmann::json attr;
  torch::Tensor value;  ///< Const nodes: the weight
  /// ONNX nodes: the names of the outputs (a node's value k is reachable by its name).
  std::vector<std::string> output_names;
  const Kernel* kernel = nullptr;  ///< resolved when the graph is read
  /// Kernels may cache derived constants here (e.g. a weight in LibTorch layout).
  mutable std::vector<torch::Tensor> cache;
};

/// The kernel of TensorFlow op `op`, or nullptr when the op is not supported.
const Kernel* find_kernel(const std::string& op);
/// Names of the supported TensorFlow ops, sorted.
std::vector<std::string> supported_ops();
/// The kernel of ONNX operator `op` (default domain), or nullptr when not supported.
const Kernel* find_onnx_kernel(const std::string& op);
/// Names of the supported ONNX operators, sorted.
std::vector<std::string> supported_onnx_ops();
/// Number of outputs a node produces (Unpack: its `num` attribute; ONNX: its output names).
int output_count(const Node& node);

/// Encodes bytes as base64 (how graph models store string attributes).
std::string base64_encode(const std::string& bytes);
/// Decodes a base64 string attribute value.
std::string base64_decode(const std::string& text);

// ---- shared by the TensorFlow and ONNX kernels --------------------------------------------

const nlohmann::json* attr_of(const Node& n, const std::string& key);
int64_t attr_int(const Node& n, const std::string& key, int64_t fallback);
double attr_float(const Node& n, const std::string& key, double fallback);
bool attr_bool(const Node& n, const std::string& key, bool fallback);
std::string attr_string(const Node& n, const std::string& key, const std::string& fallback);
std::vector<int64_t> attr_ints(const Node& n, const std::string& key);

/// Throws InputError "node 'name' (op): what".
[[noreturn]] void fail(const Node& n, const std::string& what);
void check_arity(const Node& n, const Tensors& in, size_t count);
/// The values of an integer (or integral float) tensor.
std::vector<int64_t> int_values(const torch::Tensor& t);
/// A possibly negative axis as a dimension index.
int64_t axis_of(int64_t axis, int64_t rank);
/// Total SAME padding of one spatial dimension split (before, after), the extra one after.
std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t k, int64_t s, int64_t d);

/// 2-D convolution of an N×C×H×W input with a weight O×I/g×kh×kw; `pad` is (top, bottom,
/// left, right), asymmetric halves allowed.
torch::Tensor conv2d_padded(const Node& n, const torch::Tensor& x, const torch::Tensor& w,
                            const torch::Tensor& bias, std::array<int64_t, 2> stride,
                            std::array<int64_t, 2> dilation, std::array<int64_t, 4> pad,
                            int64_t groups);
/// Max or average pooling of N×C×H×W; averages count the padded cells only when
/// `count_pad`; `ceil` rounds the output size up as PyTorch (and ONNX's ceil_mode) do.
torch::Tensor pool2d_padded(const Node& n, const torch::Tensor& x, std::array<int64_t, 2> kernel,
                            std::array<int64_t, 2> stride, std::array<int64_t, 4> pad, bool max,
                            bool count_pad, bool ceil);
/// Linear resampling of dimension `dim` to `out` values at source coordinates
/// ratio*(i+0.5)-0.5 (`half`) or ratio*i; ratio (in-1)/(out-1) when `align`, else `ratio`
/// when given (>= 0: ONNX's 1/scale), else in/out.
torch::Tensor resize_axis(const torch::Tensor& x, int64_t dim, int64_t out, bool align, bool half,
                          double ratio = -1);
/// x[begin:end:step] along `dim` with Python's clamping of negative and out-of-range bounds.
torch::Tensor slice_dim(const Node& n, const torch::Tensor& x, int64_t dim, int64_t begin,
                        int64_t end, int64_t step);
/// Reshape with at most one -1; names the node and both shapes when the sizes disagree.
torch::Tensor reshape_checked(const Node& n, const torch::Tensor& x, std::vector<int64_t> shape);
/// Gather of whole slices along `axis` (indices may be negative: counted from the end).
torch::Tensor gather_axis(const Node& n, const torch::Tensor& params, const torch::Tensor& index,
                          int64_t axis);
/// Splits `axis` into parts of `sizes` (one may be -1: the rest).
Tensors split_checked(const Node& n, const torch::Tensor& x, int64_t axis,
                      std::vector<int64_t> sizes);
/// Constant padding; `pads` holds (before, after) per dimension, first dimension first.
torch::Tensor pad_constant(const Node& n, const torch::Tensor& x, const std::vector<int64_t>& pads,
                           double value);
/// y = x * scale + shift per channel of `channel_dim`, folded from inference batch-norm
/// statistics once and cached on the node.
torch::Tensor batch_norm_folded(const Node& n, const torch::Tensor& x, const torch::Tensor& gamma,
                                const torch::Tensor& beta, const torch::Tensor& mean,
                                const torch::Tensor& var, double eps, int64_t channel_dim);

/// Kernels from plain functions: two broadcast inputs, one input, or one output.
Kernel binary(torch::Tensor (*f)(const torch::Tensor&, const torch::Tensor&));
Kernel unary(torch::Tensor (*f)(const torch::Tensor&));
Kernel single(torch::Tensor (*f)(const Node&, Tensors&));

}  // namespace foil::graph
