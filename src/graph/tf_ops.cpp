// LibTorch kernels for TensorFlow ops as TensorFlow.js graph models use them. Tensors stay in
// TensorFlow's layout (NHWC); each kernel follows TensorFlow's (and tfjs-backend-cpu's)
// definition, including SAME padding with asymmetric halves and the resize coordinate rules.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "foil/core/error.h"
#include "node.h"

namespace foil::graph {

using torch::Tensor;

namespace {

std::vector<std::string> attr_strings(const Node& n, const std::string& key) {
  std::vector<std::string> out;
  const auto* a = attr_of(n, key);
  if (!a || !a->contains("list") || !(*a)["list"].contains("s")) return out;
  for (const auto& v : (*a)["list"]["s"]) out.push_back(base64_decode(v.get<std::string>()));
  return out;
}

std::string dtype_attr(const Node& n, const std::string& key) {
  const auto* a = attr_of(n, key);
  return a && a->contains("type") ? (*a)["type"].get<std::string>() : "";
}

/// (top, bottom, left, right) padding of an NHWC input for a window op.
std::array<int64_t, 4> window_padding(const Node& n, const Tensor& x, int64_t kh, int64_t kw,
                                      int64_t sh, int64_t sw, int64_t dh, int64_t dw) {
  if (std::min({kh, kw, sh, sw, dh, dw}) < 1)
    throw InputError(fmt::format(
        "node '{}' ({}): window {}x{}, strides {}x{} and dilations {}x{} must all be >= 1", n.name,
        n.op, kh, kw, sh, sw, dh, dw));
  const std::string mode = attr_string(n, "padding", "VALID");
  if (mode == "VALID") return {0, 0, 0, 0};
  if (mode == "SAME") {
    auto [t, b] = same_padding(x.size(1), kh, sh, dh);
    auto [l, r] = same_padding(x.size(2), kw, sw, dw);
    return {t, b, l, r};
  }
  if (mode == "EXPLICIT") {
    auto p = attr_ints(n, "explicit_paddings");
    if (p.size() != 8) fail(n, "EXPLICIT padding needs 8 explicit_paddings values");
    return {p[2], p[3], p[4], p[5]};
  }
  fail(n, "unknown padding '" + mode + "' (expected SAME, VALID or EXPLICIT)");
}

std::pair<int64_t, int64_t> hw_of(const Node& n, const std::string& key) {
  auto v = attr_ints(n, key);
  if (v.empty()) return {1, 1};
  if (v.size() != 4) fail(n, key + " must have 4 values (NHWC)");
  return {v[1], v[2]};
}

void check_nhwc(const Node& n, const Tensor& x) {
  if (x.dim() != 4) fail(n, fmt::format("expected a 4-d NHWC input, got {} dimensions", x.dim()));
  const std::string format = attr_string(n, "data_format", "NHWC");
  if (format != "NHWC") fail(n, "data_format " + format + " is not supported (expected NHWC)");
}

/// Convolution of an NHWC input with a weight already in LibTorch layout (O×I/g×kh×kw).
Tensor conv_nhwc(const Node& n, const Tensor& x, const Tensor& w, const Tensor& bias,
                 int64_t groups) {
  check_nhwc(n, x);
  auto [sh, sw] = hw_of(n, "strides");
  auto [dh, dw] = hw_of(n, "dilations");
  auto [t, b, l, r] = window_padding(n, x, w.size(2), w.size(3), sh, sw, dh, dw);
  // NCHW view of NHWC memory (channels-last)
  return conv2d_padded(n, x.permute({0, 3, 1, 2}), w, bias, {sh, sw}, {dh, dw}, {t, b, l, r},
                       groups)
      .permute({0, 2, 3, 1});
}

/// Filter [kh,kw,in,out] -> [out,in,kh,kw], cached on the node.
const Tensor& conv_weight(const Node& n, const Tensor& filter) {
  if (n.cache.empty()) {
    if (filter.dim() != 4) fail(n, "the filter must be 4-d [kh,kw,in,out]");
    n.cache.push_back(filter.permute({3, 2, 0, 1}).contiguous());
  }
  return n.cache[0];
}

/// Depthwise filter [kh,kw,in,mult] -> [in*mult,1,kh,kw] (output channel = c*mult + m).
const Tensor& depthwise_weight(const Node& n, const Tensor& filter) {
  if (n.cache.empty()) {
    if (filter.dim() != 4) fail(n, "the filter must be 4-d [kh,kw,in,multiplier]");
    n.cache.push_back(
        filter.permute({2, 3, 0, 1})
            .reshape({filter.size(2) * filter.size(3), 1, filter.size(0), filter.size(1)})
            .contiguous());
  }
  return n.cache[0];
}

Tensor activate(const Node& n, const std::string& op, const Tensor& x, const Tensor& alpha) {
  if (op == "Relu") return torch::relu(x);
  if (op == "Relu6") return torch::clamp(x, 0, 6);
  if (op == "Sigmoid") return torch::sigmoid(x);
  if (op == "Tanh") return torch::tanh(x);
  if (op == "Elu") return torch::elu(x);
  if (op == "Prelu") {
    if (!alpha.defined()) fail(n, "Prelu needs an alpha input");
    return torch::where(x < 0, x * alpha, x);
  }
  if (op == "LeakyRelu") return torch::leaky_relu(x, attr_float(n, "leakyrelu_alpha", 0.2));
  fail(n, "fused activation '" + op + "' is not supported");
}

/// The fused_ops tail of _FusedConv2D / FusedDepthwiseConv2dNative / _FusedMatMul:
/// [BiasAdd][, activation]; args follow the main inputs (bias, then Prelu alpha).
struct Fused {
  Tensor bias, alpha;
  std::string activation;
};

Fused fused_of(const Node& n, const Tensors& in, size_t main_inputs) {
  Fused f;
  auto ops = attr_strings(n, "fused_ops");
  size_t arg = main_inputs;
  size_t i = 0;
  if (i < ops.size() && ops[i] == "BiasAdd") {
    check_arity(n, in, arg + 1);
    f.bias = in[arg++];
    ++i;
  }
  if (i < ops.size()) {
    f.activation = ops[i++];
    if (f.activation == "Prelu") {
      check_arity(n, in, arg + 1);
      f.alpha = in[arg++];
    }
  }
  if (i < ops.size()) fail(n, "unsupported fused op sequence (expected [BiasAdd][,activation])");
  return f;
}

Tensor finish(const Node& n, Tensor y, const Fused& f, bool bias_done) {
  if (f.bias.defined() && !bias_done) y = y + f.bias;
  if (!f.activation.empty()) y = activate(n, f.activation, y, f.alpha);
  return y;
}

Tensor conv2d_op(const Node& n, Tensors& in, bool fused) {
  check_arity(n, in, 2);
  Fused f = fused ? fused_of(n, in, 2) : Fused{};
  const Tensor& w = conv_weight(n, in[1]);
  const bool bias_in_conv = f.bias.defined() && f.bias.dim() == 1 && f.bias.size(0) == w.size(0);
  Tensor y = conv_nhwc(n, in[0], w, bias_in_conv ? f.bias : Tensor(), 1);
  return finish(n, y, f, bias_in_conv);
}

Tensor depthwise_op(const Node& n, Tensors& in, bool fused) {
  check_arity(n, in, 2);
  Fused f = fused ? fused_of(n, in, 2) : Fused{};
  if (in[0].dim() == 4 && in[1].dim() == 4 && in[0].size(3) != in[1].size(2))
    fail(n, fmt::format("input has {} channels, the depthwise filter expects {}", in[0].size(3),
                        in[1].size(2)));
  const Tensor& w = depthwise_weight(n, in[1]);
  const bool bias_in_conv = f.bias.defined() && f.bias.dim() == 1 && f.bias.size(0) == w.size(0);
  Tensor y = conv_nhwc(n, in[0], w, bias_in_conv ? f.bias : Tensor(), in[1].size(2));
  return finish(n, y, f, bias_in_conv);
}

Tensor matmul_op(const Node& n, Tensors& in, bool fused) {
  check_arity(n, in, 2);
  Tensor a = attr_bool(n, "transpose_a", false) ? in[0].transpose(-1, -2) : in[0];
  Tensor b = attr_bool(n, "transpose_b", false) ? in[1].transpose(-1, -2) : in[1];
  if (a.size(-1) != b.size(-2))
    fail(n, fmt::format("inner dimensions differ: {} vs {}", a.size(-1), b.size(-2)));
  Fused f = fused ? fused_of(n, in, 2) : Fused{};
  return finish(n, torch::matmul(a, b), f, false);
}

Tensor pool_op(const Node& n, Tensors& in, bool max) {
  check_arity(n, in, 1);
  check_nhwc(n, in[0]);
  auto [kh, kw] = hw_of(n, "ksize");
  auto [sh, sw] = hw_of(n, "strides");
  auto [t, b, l, r] = window_padding(n, in[0], kh, kw, sh, sw, 1, 1);
  // Averages over the window's valid (unpadded) cells, as TensorFlow does.
  return pool2d_padded(n, in[0].permute({0, 3, 1, 2}), {kh, kw}, {sh, sw}, {t, b, l, r}, max, false,
                       false)
      .permute({0, 2, 3, 1});
}

std::vector<int64_t> reduce_axes(const Tensor& x, const Tensor& axes) {
  auto v = int_values(axes);
  for (auto& a : v) a = axis_of(a, x.dim());
  return v;
}

/// tfjs-backend-cpu's bilinear resize (resize_axis): half-pixel centres or not, align corners.
Tensor resize_bilinear(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  if (in[0].dim() != 4) fail(n, "expected a 4-d NHWC image");
  auto size = int_values(in[1]);
  if (size.size() != 2 || size[0] < 1 || size[1] < 1) fail(n, "size must be two positive values");
  const bool align = attr_bool(n, "align_corners", false);
  const bool half = attr_bool(n, "half_pixel_centers", false);
  return resize_axis(resize_axis(in[0], 1, size[0], align, half), 2, size[1], align, half);
}

Tensor gather_nd(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  const Tensor& params = in[0];
  Tensor idx = in[1].to(torch::kLong);
  const int64_t k = idx.size(-1);
  if (k > params.dim()) fail(n, "index depth exceeds the params rank");
  Tensor linear = torch::zeros(idx.sizes().slice(0, idx.dim() - 1), idx.options());
  int64_t stride = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    Tensor part = idx.select(-1, j);
    if ((part < 0).any().item<bool>() || (part >= params.size(j)).any().item<bool>())
      fail(n, fmt::format("index out of range for dimension {} of size {}", j, params.size(j)));
    linear = linear + part * stride;
    stride *= params.size(j);
  }
  std::vector<int64_t> flat = {stride};
  std::vector<int64_t> out(idx.sizes().begin(), idx.sizes().end() - 1);
  for (int64_t d = k; d < params.dim(); ++d) {
    flat.push_back(params.size(d));
    out.push_back(params.size(d));
  }
  return params.reshape(flat).index_select(0, linear.flatten()).reshape(out);
}

Tensor cast_op(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const std::string to = dtype_attr(n, "DstT");
  if (to == "DT_FLOAT") return in[0].is_floating_point() ? in[0] : in[0].to(torch::kFloat);
  if (to == "DT_INT32") return in[0].to(torch::kInt);  // truncates toward zero, like TF
  if (to == "DT_BOOL") return in[0] != 0;
  fail(n, "cast to " + to + " is not supported");
}

Tensor pad_op(const Node& n, Tensors& in, double value) {
  check_arity(n, in, 2);
  return pad_constant(n, in[0], int_values(in[1]), value);
}

Tensor reshape_op(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  return reshape_checked(n, in[0], int_values(in[1]));
}

Tensor squeeze_op(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  auto dims = attr_ints(n, "squeeze_dims");
  if (dims.empty()) return in[0].squeeze();
  std::vector<int64_t> axes;
  for (auto d : dims) axes.push_back(axis_of(d, in[0].dim()));
  std::sort(axes.rbegin(), axes.rend());
  Tensor y = in[0];
  for (auto d : axes) {
    if (y.size(d) != 1)
      fail(n, fmt::format("cannot squeeze dimension {} of size {}", d, y.size(d)));
    y = y.squeeze(d);
  }
  return y;
}

/// Inference-mode batch normalisation over the last axis: inputs x, scale, offset, mean,
/// variance; attribute epsilon.
Tensor batch_norm(const Node& n, Tensors& in) {
  check_arity(n, in, 5);
  if (in[0].dim() == 4) check_nhwc(n, in[0]);
  if (attr_bool(n, "is_training", false)) fail(n, "training-mode batch normalisation");
  return batch_norm_folded(n, in[0], in[1], in[2], in[3], in[4], attr_float(n, "epsilon", 1e-3),
                           -1);
}

Tensor concat_op(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  const int64_t rank = in[0].dim();
  const int64_t axis = axis_of(int_values(in.back())[0], rank);
  return torch::cat(Tensors(in.begin(), in.end() - 1), axis);
}

/// TensorFlow's StridedSlice: begin/end/strides per sparse dimension, with the begin, end,
/// ellipsis, new-axis and shrink-axis bit masks.
Tensor strided_slice(const Node& n, Tensors& in) {
  check_arity(n, in, 4);
  const auto begin = int_values(in[1]), end = int_values(in[2]), strides = int_values(in[3]);
  if (begin.size() != end.size() || begin.size() != strides.size())
    fail(n, "begin, end and strides must have the same length");
  const int64_t begin_mask = attr_int(n, "begin_mask", 0), end_mask = attr_int(n, "end_mask", 0);
  const int64_t ellipsis = attr_int(n, "ellipsis_mask", 0),
                new_axis = attr_int(n, "new_axis_mask", 0);
  const int64_t shrink = attr_int(n, "shrink_axis_mask", 0);
  const int64_t sparse = static_cast<int64_t>(begin.size());
  if (sparse > 62) fail(n, "more than 62 slice dimensions");
  auto bit = [](int64_t mask, int64_t i) { return ((mask >> i) & 1) != 0; };
  int64_t real = 0;  // sparse entries that consume an input dimension
  for (int64_t i = 0; i < sparse; ++i) real += !bit(ellipsis, i) && !bit(new_axis, i);
  Tensor y = in[0];
  if (real > y.dim()) fail(n, fmt::format("{} slice dimensions for a {}-d input", real, y.dim()));
  int64_t dim = 0;  // the dimension of y the next entry applies to
  bool seen_ellipsis = false;
  for (int64_t i = 0; i < sparse; ++i) {
    if (bit(ellipsis, i)) {
      if (seen_ellipsis) fail(n, "more than one ellipsis");
      seen_ellipsis = true;
      dim += in[0].dim() - real;  // the ellipsis keeps the dimensions nobody names
      continue;
    }
    if (bit(new_axis, i)) {
      y = y.unsqueeze(dim++);
      continue;
    }
    const int64_t len = y.size(dim), s = strides[i];
    if (s == 0) fail(n, "a stride of 0");
    if (bit(shrink, i)) {
      const int64_t at = begin[i] < 0 ? begin[i] + len : begin[i];
      if (at < 0 || at >= len)
        fail(n, fmt::format("index {} is out of range for dimension {} of size {}", begin[i], dim,
                            len));
      y = y.select(dim, at);
      continue;
    }
    const int64_t b = bit(begin_mask, i) ? (s > 0 ? 0 : len - 1) : begin[i];
    const int64_t e = bit(end_mask, i) ? (s > 0 ? len : -len - 1) : end[i];
    y = slice_dim(n, y, dim, b, e, s);
    ++dim;
  }
  return y;
}

/// SplitV (explicit sizes, one may be -1) and Split (equal parts) along an axis.
Tensors split_op(const Node& n, Tensors& in, bool sizes_given) {
  check_arity(n, in, sizes_given ? 3 : 2);
  const Tensor& x = sizes_given ? in[0] : in[1];
  const int64_t axis = int_values(sizes_given ? in[2] : in[0])[0];
  const int64_t parts = attr_int(n, "num_split", 1);
  std::vector<int64_t> sizes;
  if (sizes_given) {
    sizes = int_values(in[1]);
  } else {
    const int64_t len = x.size(axis_of(axis, x.dim()));
    if (parts < 1 || len % parts != 0)
      fail(n,
           fmt::format("dimension {} of size {} does not split into {} parts", axis, len, parts));
    sizes.assign(parts, len / parts);
  }
  if (static_cast<int64_t>(sizes.size()) != parts)
    fail(n, fmt::format("{} sizes for {} parts", sizes.size(), parts));
  return split_checked(n, x, axis, sizes);
}

Tensor sparse_to_dense(const Node& n, Tensors& in) {
  check_arity(n, in, 4);
  const auto shape = int_values(in[1]);
  for (auto s : shape)
    if (s < 0) fail(n, "output_shape has a negative size");
  Tensor idx = in[0].to(torch::kLong);
  if (idx.dim() < 2) idx = idx.reshape({-1, shape.empty() ? 0 : 1});
  if (idx.size(1) != static_cast<int64_t>(shape.size()))
    fail(n, fmt::format("indices of depth {} for a {}-d output", idx.size(1), shape.size()));
  Tensor values = in[2].dim() == 0 ? in[2].expand({idx.size(0)}) : in[2].flatten();
  if (values.size(0) != idx.size(0))
    fail(n, fmt::format("{} values for {} indices", values.size(0), idx.size(0)));
  Tensor out = in[3].to(values.scalar_type()).expand(shape).clone();
  if (idx.size(0) == 0) return out;
  for (size_t d = 0; d < shape.size(); ++d) {
    auto col = idx.select(1, static_cast<int64_t>(d));
    if ((col < 0).any().item<bool>() || (col >= shape[d]).any().item<bool>())
      fail(n, fmt::format("an index is out of range for dimension {} of size {}", d, shape[d]));
  }
  Tensor linear = torch::zeros({idx.size(0)}, idx.options());
  for (size_t d = 0; d < shape.size(); ++d)
    linear = linear * shape[d] + idx.select(1, static_cast<int64_t>(d));
  c10::List<c10::optional<Tensor>> at;
  at.push_back(linear);
  return out.reshape(-1).index_put(at, values).reshape(shape);
}

Tensor gather_v2(const Node& n, Tensors& in) {
  check_arity(n, in, 3);
  if (attr_int(n, "batch_dims", 0) != 0) fail(n, "batch_dims other than 0 are not supported");
  const Tensor idx = in[1].to(torch::kLong);
  if (idx.numel() && (idx < 0).any().item<bool>()) fail(n, "a negative index");
  return gather_axis(n, in[0], idx, int_values(in[2])[0]);
}

Tensors top_k(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  const int64_t k = int_values(in[1])[0];
  if (in[0].dim() < 1 || k < 0 || k > in[0].size(-1))
    fail(n, fmt::format("k = {} for a last dimension of size {}", k,
                        in[0].dim() ? in[0].size(-1) : 0));
  // TensorFlow breaks ties by the lower index: a stable descending sort does the same.
  auto [values, order] = in[0].sort(/*stable=*/true, -1, /*descending=*/true);
  return {values.narrow(-1, 0, k), order.narrow(-1, 0, k).to(torch::kInt)};
}

Tensor depth_to_space(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  check_nhwc(n, in[0]);
  const int64_t b = attr_int(n, "block_size", 0);
  const Tensor& x = in[0];
  if (b < 1 || x.size(3) % (b * b) != 0)
    fail(n, fmt::format("block size {} does not divide {} channels into blocks", b, x.size(3)));
  const int64_t c = x.size(3) / (b * b);
  return x.reshape({x.size(0), x.size(1), x.size(2), b, b, c})
      .permute({0, 1, 3, 2, 4, 5})
      .reshape({x.size(0), x.size(1) * b, x.size(2) * b, c});
}

/// Conv2DBackpropInput (a transposed convolution): the gradient of a Conv2D of an input of
/// `input_sizes` with respect to that input.
Tensor conv2d_backprop_input(const Node& n, Tensors& in) {
  check_arity(n, in, 3);
  const auto sizes = int_values(in[0]);
  const Tensor& filter = in[1];
  const Tensor& dy = in[2];
  check_nhwc(n, dy);
  if (sizes.size() != 4 || filter.dim() != 4 || sizes[3] != filter.size(2) ||
      dy.size(3) != filter.size(3))
    fail(n, fmt::format("input_sizes [{}], filter [{}] and out_backprop [{}] do not agree",
                        fmt::join(sizes, ","), fmt::join(filter.sizes(), ","),
                        fmt::join(dy.sizes(), ",")));
  auto [sh, sw] = hw_of(n, "strides");
  auto [dh, dw] = hw_of(n, "dilations");
  // Padding of the forward convolution, computed on an input of the requested size.
  const Tensor probe = torch::empty({1, sizes[1], sizes[2], 1});
  auto [t, b, l, r] = window_padding(n, probe, filter.size(0), filter.size(1), sh, sw, dh, dw);
  const int64_t oh = (sizes[1] + t + b - ((filter.size(0) - 1) * dh + 1)) / sh + 1;
  const int64_t ow = (sizes[2] + l + r - ((filter.size(1) - 1) * dw + 1)) / sw + 1;
  if (dy.size(1) != oh || dy.size(2) != ow)
    fail(n, fmt::format("out_backprop is {}x{}, a convolution of {}x{} gives {}x{}", dy.size(1),
                        dy.size(2), sizes[1], sizes[2], oh, ow));
  if (n.cache.empty()) n.cache.push_back(filter.permute({3, 2, 0, 1}).contiguous());
  Tensor full = torch::conv_transpose2d(dy.permute({0, 3, 1, 2}), n.cache[0], {}, {sh, sw}, 0, 0, 1,
                                        {dh, dw});
  // The full result covers the padded input; keep the rows and columns of the real one.
  full = torch::constant_pad_nd(full, {0, std::max<int64_t>(0, l + sizes[2] - full.size(3)), 0,
                                       std::max<int64_t>(0, t + sizes[1] - full.size(2))});
  return full.narrow(2, t, sizes[1]).narrow(3, l, sizes[2]).permute({0, 2, 3, 1});
}

const std::map<std::string, Kernel>& tfjs_kernels() {
  static const std::map<std::string, Kernel> table = [] {
    std::map<std::string, Kernel> k;
    auto identity = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {in[0]};
    };
    k["Identity"] = identity;
    k["Snapshot"] = identity;
    k["StopGradient"] = unary([](const Tensor& x) { return x.detach(); });
    k["Add"] = k["AddV2"] = binary([](const Tensor& a, const Tensor& b) { return a + b; });
    k["BiasAdd"] = k["Add"];
    k["Sub"] = binary([](const Tensor& a, const Tensor& b) { return a - b; });
    k["Mul"] = binary([](const Tensor& a, const Tensor& b) { return a * b; });
    k["RealDiv"] = binary([](const Tensor& a, const Tensor& b) { return a / b; });
    k["Div"] = k["RealDiv"];
    k["FloorDiv"] = binary(
        [](const Tensor& a, const Tensor& b) { return torch::div(a, b, std::string("floor")); });
    k["Maximum"] = binary([](const Tensor& a, const Tensor& b) { return torch::maximum(a, b); });
    k["Minimum"] = binary([](const Tensor& a, const Tensor& b) { return torch::minimum(a, b); });
    k["SquaredDifference"] =
        binary([](const Tensor& a, const Tensor& b) { return (a - b) * (a - b); });
    k["Pow"] = binary([](const Tensor& a, const Tensor& b) { return torch::pow(a, b); });
    k["AddN"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      Tensor sum = in[0];
      for (size_t i = 1; i < in.size(); ++i) sum = sum + in[i];
      return {sum};
    };
    k["Relu"] = unary([](const Tensor& x) { return torch::relu(x); });
    k["Relu6"] = unary([](const Tensor& x) { return torch::clamp(x, 0, 6); });
    k["Elu"] = unary([](const Tensor& x) { return torch::elu(x); });
    k["Selu"] = unary([](const Tensor& x) { return torch::selu(x); });
    k["Softplus"] = unary([](const Tensor& x) { return torch::softplus(x); });
    k["Sigmoid"] = unary([](const Tensor& x) { return torch::sigmoid(x); });
    k["Tanh"] = unary([](const Tensor& x) { return torch::tanh(x); });
    k["Sqrt"] = unary([](const Tensor& x) { return torch::sqrt(x); });
    k["Rsqrt"] = unary([](const Tensor& x) { return torch::rsqrt(x); });
    k["Exp"] = unary([](const Tensor& x) { return torch::exp(x); });
    k["Log"] = unary([](const Tensor& x) { return torch::log(x); });
    k["Neg"] = unary([](const Tensor& x) { return -x; });
    k["Abs"] = unary([](const Tensor& x) { return torch::abs(x); });
    k["Square"] = unary([](const Tensor& x) { return x * x; });
    k["Softmax"] = unary([](const Tensor& x) { return torch::softmax(x, -1); });
    k["LogSoftmax"] = unary([](const Tensor& x) { return torch::log_softmax(x, -1); });
    k["Prelu"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 2);
      return {activate(n, "Prelu", in[0], in[1])};
    };
    k["LeakyRelu"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {torch::leaky_relu(in[0], attr_float(n, "alpha", 0.2))};
    };
    k["Conv2D"] = single([](const Node& n, Tensors& in) { return conv2d_op(n, in, false); });
    k["_FusedConv2D"] = single([](const Node& n, Tensors& in) { return conv2d_op(n, in, true); });
    k["DepthwiseConv2dNative"] =
        single([](const Node& n, Tensors& in) { return depthwise_op(n, in, false); });
    k["FusedDepthwiseConv2dNative"] =
        single([](const Node& n, Tensors& in) { return depthwise_op(n, in, true); });
    k["MatMul"] = single([](const Node& n, Tensors& in) { return matmul_op(n, in, false); });
    k["_FusedMatMul"] = single([](const Node& n, Tensors& in) { return matmul_op(n, in, true); });
    k["MaxPool"] = single([](const Node& n, Tensors& in) { return pool_op(n, in, true); });
    k["AvgPool"] = single([](const Node& n, Tensors& in) { return pool_op(n, in, false); });
    auto reduce = [](Tensor (*f)(const Tensor&, at::IntArrayRef, bool)) -> Kernel {
      return [f](const Node& n, Tensors& in) -> Tensors {
        check_arity(n, in, 2);
        return {f(in[0], reduce_axes(in[0], in[1]), attr_bool(n, "keep_dims", false))};
      };
    };
    k["Mean"] = reduce(
        [](const Tensor& x, at::IntArrayRef a, bool keep) { return torch::mean(x, a, keep); });
    k["Sum"] = reduce(
        [](const Tensor& x, at::IntArrayRef a, bool keep) { return torch::sum(x, a, keep); });
    k["Max"] = reduce(
        [](const Tensor& x, at::IntArrayRef a, bool keep) { return torch::amax(x, a, keep); });
    k["ResizeBilinear"] = single(resize_bilinear);
    k["Reshape"] = single(reshape_op);
    k["Squeeze"] = single(squeeze_op);
    k["ExpandDims"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 2);
      int64_t axis = int_values(in[1])[0];
      if (axis < 0) axis += in[0].dim() + 1;
      return {in[0].unsqueeze(axis)};
    };
    k["ConcatV2"] = single(concat_op);
    k["Pack"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {torch::stack(in, axis_of(attr_int(n, "axis", 0), in[0].dim() + 1))};
    };
    k["Unpack"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return in[0].unbind(axis_of(attr_int(n, "axis", 0), in[0].dim()));
    };
    k["Transpose"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 2);
      return {in[0].permute(int_values(in[1]))};
    };
    k["Slice"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 3);
      auto begin = int_values(in[1]), size = int_values(in[2]);
      Tensor y = in[0];
      for (size_t d = 0; d < begin.size(); ++d) {
        const int64_t len = size[d] < 0 ? y.size(d) - begin[d] : size[d];
        y = y.narrow(d, begin[d], len);
      }
      return {y};
    };
    k["Pad"] = single([](const Node& n, Tensors& in) { return pad_op(n, in, 0); });
    k["PadV2"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 3);
      return pad_op(n, in, in[2].item<double>());
    });
    k["Cast"] = single(cast_op);
    k["ArgMax"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 2);
      const int64_t axis = axis_of(int_values(in[1])[0], in[0].dim());
      auto out = in[0].argmax(axis);
      return {dtype_attr(n, "output_type") == "DT_INT64" ? out : out.to(torch::kInt)};
    };
    k["GatherNd"] = single(gather_nd);
    k["GatherV2"] = single(gather_v2);
    k["StridedSlice"] = single(strided_slice);
    k["SplitV"] = [](const Node& n, Tensors& in) { return split_op(n, in, true); };
    k["Split"] = [](const Node& n, Tensors& in) { return split_op(n, in, false); };
    k["SparseToDense"] = single(sparse_to_dense);
    k["TopKV2"] = top_k;
    k["DepthToSpace"] = single(depth_to_space);
    k["Conv2DBackpropInput"] = single(conv2d_backprop_input);
    k["Equal"] = binary([](const Tensor& a, const Tensor& b) { return torch::eq(a, b); });
    k["FloorMod"] = binary([](const Tensor& a, const Tensor& b) { return torch::remainder(a, b); });
    k["FusedBatchNormV3"] = k["FusedBatchNorm"] = single(batch_norm);
    // Not a TensorFlow op: Keras' Flatten layer (and ONNX's Flatten), dimensions from `axis`
    // (default 1) on folded into one.
    k["Flatten"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      const int64_t axis = axis_of(attr_int(n, "axis", 1), in[0].dim());
      if (axis < 0 || axis > in[0].dim()) fail(n, "axis out of range");
      const int64_t rows = c10::multiply_integers(in[0].sizes().slice(0, axis));
      return {in[0].reshape({rows, rows == 0 ? 0 : in[0].numel() / rows})};
    };
    k["Shape"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      auto out = torch::tensor(in[0].sizes().vec(), torch::kLong);
      return {dtype_attr(n, "out_type") == "DT_INT64" ? out : out.to(torch::kInt)};
    };
    return k;
  }();
  return table;
}

}  // namespace

const Kernel* find_kernel(const std::string& op) {
  const auto& k = tfjs_kernels();
  auto it = k.find(op);
  return it == k.end() ? nullptr : &it->second;
}

std::vector<std::string> supported_ops() {
  std::vector<std::string> out = {"Const", "Placeholder"};
  for (const auto& [name, kernel] : tfjs_kernels()) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace foil::graph
