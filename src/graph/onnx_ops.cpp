// LibTorch kernels for ONNX operators (default domain, opsets 7 to 18), in ONNX's own layout
// (NCHW). Operators whose semantics coincide with a TensorFlow op share its kernel; the rest
// are written with the helpers the TensorFlow kernels use (graph/node.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "foil/core/error.h"
#include "node.h"

namespace foil::graph {
namespace {

using torch::Tensor;

int64_t opset(const Node& n) { return attr_int(n, "_opset", 13); }

bool given(const Tensors& in, size_t i) { return in.size() > i && in[i].defined(); }

std::vector<float> attr_floats(const Node& n, const std::string& key) {
  const auto* a = attr_of(n, key);
  if (!a || !a->contains("list") || !(*a)["list"].contains("f")) return {};
  return (*a)["list"]["f"].get<std::vector<float>>();
}

/// An int list from input `i` when given (newer opsets), else from attribute `key`.
std::vector<int64_t> ints_from(const Node& n, const Tensors& in, size_t i, const std::string& key) {
  return given(in, i) ? int_values(in[i]) : attr_ints(n, key);
}

/// Window geometry of Conv / ConvTranspose / pooling on an N×C×H×W input.
struct Window {
  std::array<int64_t, 2> kernel{1, 1}, stride{1, 1}, dilation{1, 1};
  std::array<int64_t, 4> pad{0, 0, 0, 0};  ///< top, bottom, left, right
};

Window window_of(const Node& n, const Tensor& x, std::vector<int64_t> kernel) {
  if (x.dim() != 4)
    fail(n, fmt::format("expected a 4-d N×C×H×W input, got {} dimensions (only 2-D windows "
                        "are supported)",
                        x.dim()));
  if (kernel.empty()) kernel = attr_ints(n, "kernel_shape");
  if (kernel.size() != 2) fail(n, "kernel_shape must have 2 values (2-D windows only)");
  Window w;
  w.kernel = {kernel[0], kernel[1]};
  auto pair = [&](const std::string& key, std::array<int64_t, 2>& v) {
    auto a = attr_ints(n, key);
    if (a.empty()) return;
    if (a.size() != 2) fail(n, key + " must have 2 values");
    v = {a[0], a[1]};
  };
  pair("strides", w.stride);
  pair("dilations", w.dilation);
  if (std::min({w.kernel[0], w.kernel[1], w.stride[0], w.stride[1], w.dilation[0], w.dilation[1]}) <
      1)
    fail(n, "kernel_shape, strides and dilations must be >= 1");
  const std::string mode = attr_string(n, "auto_pad", "NOTSET");
  if (mode == "NOTSET") {
    auto p = attr_ints(n, "pads");
    if (!p.empty() && p.size() != 4) fail(n, "pads must have 4 values");
    if (!p.empty()) w.pad = {p[0], p[2], p[1], p[3]};
    if (std::min({w.pad[0], w.pad[1], w.pad[2], w.pad[3]}) < 0) fail(n, "negative pads");
  } else if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    auto [t, b] = same_padding(x.size(2), w.kernel[0], w.stride[0], w.dilation[0]);
    auto [l, r] = same_padding(x.size(3), w.kernel[1], w.stride[1], w.dilation[1]);
    w.pad = mode == "SAME_UPPER" ? std::array<int64_t, 4>{t, b, l, r}
                                 : std::array<int64_t, 4>{b, t, r, l};
  } else if (mode != "VALID") {
    fail(n, "unknown auto_pad '" + mode + "'");
  }
  return w;
}

Tensor conv(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  const Tensor& w = in[1];
  if (w.dim() != 4)
    fail(n, fmt::format("only 2-D convolutions are supported (filter of {} dimensions)", w.dim()));
  Window win = window_of(n, in[0], {w.size(2), w.size(3)});
  return conv2d_padded(n, in[0], w, given(in, 2) ? in[2] : Tensor(), win.stride, win.dilation,
                       win.pad, attr_int(n, "group", 1));
}

Tensor conv_transpose(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  const Tensor& x = in[0];
  const Tensor& w = in[1];  // C_in × C_out/g × kh × kw, as LibTorch's
  const int64_t groups = attr_int(n, "group", 1);
  if (w.dim() != 4 || x.dim() != 4 || groups < 1 || x.size(1) != w.size(0))
    fail(n, "expected a 4-d input and filter with matching channels");
  Window win;
  win.kernel = {w.size(2), w.size(3)};
  for (const auto* key : {"strides", "dilations"}) {
    auto a = attr_ints(n, key);
    if (a.empty()) continue;
    if (a.size() != 2 || std::min(a[0], a[1]) < 1)
      fail(n, std::string(key) + " must be 2 values >= 1");
    auto& to = std::string(key) == "strides" ? win.stride : win.dilation;
    to[0] = a[0];
    to[1] = a[1];
  }
  auto extra = attr_ints(n, "output_padding");
  if (extra.empty()) extra = {0, 0};
  // The full result, then rows and columns removed by the pads (or the asked output shape).
  Tensor y = torch::conv_transpose2d(x, w, {}, win.stride, 0, 0, groups, win.dilation);
  y = torch::constant_pad_nd(y, {0, extra[1], 0, extra[0]}, 0);
  std::array<int64_t, 4> pad{0, 0, 0, 0};
  auto asked = attr_ints(n, "output_shape");
  const std::string mode = attr_string(n, "auto_pad", "NOTSET");
  if (!asked.empty() || mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    if (asked.empty()) asked = {x.size(2) * win.stride[0], x.size(3) * win.stride[1]};
    if (asked.size() > 2) asked = {asked[asked.size() - 2], asked.back()};
    for (int d = 0; d < 2; ++d) {
      const int64_t total = y.size(2 + d) - asked[d];
      if (total < 0) fail(n, "output_shape is larger than the transposed convolution gives");
      const int64_t small = total / 2, large = total - small;
      pad[2 * d] = mode == "SAME_UPPER" ? small : large;
      pad[2 * d + 1] = total - pad[2 * d];
    }
  } else {
    auto p = attr_ints(n, "pads");
    if (!p.empty() && p.size() != 4) fail(n, "pads must have 4 values");
    if (!p.empty()) pad = {p[0], p[2], p[1], p[3]};
  }
  if (pad[0] + pad[1] >= y.size(2) || pad[2] + pad[3] >= y.size(3))
    fail(n, "the pads remove the whole output");
  y = y.narrow(2, pad[0], y.size(2) - pad[0] - pad[1])
          .narrow(3, pad[2], y.size(3) - pad[2] - pad[3]);
  if (given(in, 2)) y = y + in[2].view({1, -1, 1, 1});
  return y;
}

Tensor pool(const Node& n, Tensors& in, bool max) {
  check_arity(n, in, 1);
  if (n.output_names.size() > 1 && !n.output_names[1].empty())
    fail(n, "the Indices output of MaxPool is not supported");
  Window w = window_of(n, in[0], {});
  if (w.dilation[0] != 1 || w.dilation[1] != 1) fail(n, "dilated pooling is not supported");
  return pool2d_padded(n, in[0], w.kernel, w.stride, w.pad, max,
                       attr_int(n, "count_include_pad", 0) != 0, attr_int(n, "ceil_mode", 0) != 0);
}

Tensor gemm(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  Tensor a = attr_int(n, "transA", 0) ? in[0].t() : in[0];
  Tensor b = attr_int(n, "transB", 0) ? in[1].t() : in[1];
  if (a.dim() != 2 || b.dim() != 2 || a.size(1) != b.size(0))
    fail(n, fmt::format("cannot multiply [{}] by [{}]", fmt::join(a.sizes(), ","),
                        fmt::join(b.sizes(), ",")));
  const double alpha = attr_float(n, "alpha", 1.0), beta = attr_float(n, "beta", 1.0);
  if (given(in, 2)) return torch::addmm(in[2], a, b, beta, alpha);
  return alpha == 1.0 ? torch::mm(a, b) : torch::mm(a, b) * alpha;
}

/// Reduce axes from the `axes` input (ReduceSum from opset 13, the others from 18) or
/// attribute; none: every axis unless noop_with_empty_axes.
Tensor reduce(const Node& n, Tensors& in, const std::string& op) {
  check_arity(n, in, 1);
  const int64_t from = op == "ReduceSum" ? 13 : 18;
  auto axes = opset(n) >= from ? (given(in, 1) ? int_values(in[1]) : std::vector<int64_t>{})
                               : attr_ints(n, "axes");
  const bool keep = attr_int(n, "keepdims", 1) != 0;
  if (axes.empty()) {
    if (attr_int(n, "noop_with_empty_axes", 0)) return in[0];
    for (int64_t d = 0; d < in[0].dim(); ++d) axes.push_back(d);
  }
  for (auto& a : axes) {
    a = axis_of(a, in[0].dim());
    if (a < 0 || a >= in[0].dim()) fail(n, "an axis is out of range");
  }
  if (op == "ReduceMean") return in[0].mean(axes, keep);
  if (op == "ReduceSum") return in[0].sum(axes, keep);
  if (op == "ReduceMax") return in[0].amax(axes, keep);
  return in[0].amin(axes, keep);
}

/// Softmax / LogSoftmax: before opset 13 over the flattened dimensions from `axis` (default
/// 1) on, from 13 over `axis` alone (default -1).
Tensor softmax(const Node& n, Tensors& in, bool log) {
  check_arity(n, in, 1);
  const Tensor& x = in[0];
  const bool old = opset(n) < 13;
  const int64_t axis = axis_of(attr_int(n, "axis", old ? 1 : -1), x.dim());
  if (axis < 0 || axis >= std::max<int64_t>(x.dim(), 1)) fail(n, "axis out of range");
  if (!old || axis == x.dim() - 1)
    return log ? torch::log_softmax(x, axis) : torch::softmax(x, axis);
  Tensor flat = x.reshape({c10::multiply_integers(x.sizes().slice(0, axis)), -1});
  return (log ? torch::log_softmax(flat, 1) : torch::softmax(flat, 1)).reshape(x.sizes());
}

Tensors split(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const Tensor& x = in[0];
  const int64_t axis = attr_int(n, "axis", 0);
  auto sizes = opset(n) >= 13 ? (given(in, 1) ? int_values(in[1]) : std::vector<int64_t>{})
                              : attr_ints(n, "split");
  if (sizes.empty()) {
    const int64_t parts = static_cast<int64_t>(n.output_names.size());
    const int64_t a = axis_of(axis, x.dim());
    if (a < 0 || a >= x.dim()) fail(n, "axis out of range");
    if (parts < 1 || x.size(a) % parts != 0)
      fail(n, fmt::format("dimension {} of size {} does not split into {} equal parts", a,
                          x.size(a), parts));
    sizes.assign(parts, x.size(a) / parts);
  }
  if (sizes.size() != n.output_names.size())
    fail(n, fmt::format("{} split sizes for {} outputs", sizes.size(), n.output_names.size()));
  return split_checked(n, x, axis, sizes);
}

Tensor slice(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const bool old = opset(n) < 10;
  if (!old) check_arity(n, in, 3);
  const auto starts = old ? attr_ints(n, "starts") : int_values(in[1]);
  const auto ends = old ? attr_ints(n, "ends") : int_values(in[2]);
  auto axes =
      old ? attr_ints(n, "axes") : (given(in, 3) ? int_values(in[3]) : std::vector<int64_t>{});
  auto steps = !old && given(in, 4) ? int_values(in[4]) : std::vector<int64_t>{};
  if (axes.empty())
    for (size_t d = 0; d < starts.size(); ++d) axes.push_back(static_cast<int64_t>(d));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail(n, "starts, ends, axes and steps must have the same length");
  Tensor y = in[0];
  for (size_t i = 0; i < starts.size(); ++i) {
    const int64_t d = axis_of(axes[i], y.dim());
    if (d < 0 || d >= y.dim()) fail(n, "an axis is out of range");
    y = slice_dim(n, y, d, starts[i], ends[i], steps[i]);
  }
  return y;
}

Tensor reshape(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  auto shape = int_values(in[1]);
  if (!attr_int(n, "allowzero", 0))
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d] == 0) {
        if (static_cast<int64_t>(d) >= in[0].dim())
          fail(n, "a 0 in the shape names a missing dimension");
        shape[d] = in[0].size(static_cast<int64_t>(d));
      }
  return reshape_checked(n, in[0], shape);
}

Tensor transpose(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  auto perm = attr_ints(n, "perm");
  if (perm.empty())
    for (int64_t d = in[0].dim() - 1; d >= 0; --d) perm.push_back(d);
  if (static_cast<int64_t>(perm.size()) != in[0].dim())
    fail(n, fmt::format("perm has {} values for a {}-d input", perm.size(), in[0].dim()));
  return in[0].permute(perm);
}

Tensor squeeze(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  auto axes = opset(n) >= 13 ? (given(in, 1) ? int_values(in[1]) : std::vector<int64_t>{})
                             : attr_ints(n, "axes");
  if (axes.empty()) return in[0].squeeze();
  for (auto& a : axes) a = axis_of(a, in[0].dim());
  std::sort(axes.rbegin(), axes.rend());
  Tensor y = in[0];
  for (auto d : axes) {
    if (d < 0 || d >= y.dim() || y.size(d) != 1)
      fail(n, fmt::format("cannot squeeze dimension {} of [{}]", d, fmt::join(in[0].sizes(), ",")));
    y = y.squeeze(d);
  }
  return y;
}

Tensor unsqueeze(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  auto axes = opset(n) >= 13 ? (check_arity(n, in, 2), int_values(in[1])) : attr_ints(n, "axes");
  const int64_t rank = in[0].dim() + static_cast<int64_t>(axes.size());
  for (auto& a : axes) {
    a = axis_of(a, rank);
    if (a < 0 || a >= rank) fail(n, "an axis is out of range");
  }
  std::sort(axes.begin(), axes.end());
  Tensor y = in[0];
  for (auto a : axes) y = y.unsqueeze(a);
  return y;
}

Tensor shape(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const int64_t rank = in[0].dim();
  int64_t start = std::clamp(axis_of(attr_int(n, "start", 0), rank), int64_t(0), rank);
  int64_t end = std::clamp(axis_of(attr_int(n, "end", rank), rank), int64_t(0), rank);
  std::vector<int64_t> sizes(in[0].sizes().begin() + start,
                             in[0].sizes().begin() + std::max(start, end));
  return torch::tensor(sizes, torch::dtype(torch::kLong).device(in[0].device()));
}

Tensor constant_of_shape(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  auto shape = int_values(in[0]);
  for (auto s : shape)
    if (s < 0) fail(n, "a negative size");
  const Tensor fill =
      n.value.defined() ? n.value.flatten()[0] : torch::zeros({}, torch::kFloat).to(in[0].device());
  return fill.expand(shape).clone();
}

Tensor expand(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  auto shape = int_values(in[1]);
  const Tensor& x = in[0];
  // Bidirectional broadcast of x's shape and `shape`.
  const int64_t rank = std::max<int64_t>(x.dim(), static_cast<int64_t>(shape.size()));
  std::vector<int64_t> out(rank);
  for (int64_t i = 0; i < rank; ++i) {
    const int64_t xi = i - (rank - x.dim()), si = i - (rank - static_cast<int64_t>(shape.size()));
    const int64_t a = xi >= 0 ? x.size(xi) : 1, b = si >= 0 ? shape[si] : 1;
    if (a != b && a != 1 && b != 1)
      fail(n, fmt::format("[{}] does not broadcast to [{}]", fmt::join(x.sizes(), ","),
                          fmt::join(shape, ",")));
    out[i] = a == 1 ? b : a;
  }
  // The result is materialised by the next op: refuse a size no machine holds (the count is
  // kept in double, so 2^62 x 2^62 cannot wrap around).
  double elements = 1;
  for (int64_t d : out) {
    if (d < 0) fail(n, fmt::format("a negative size in [{}]", fmt::join(out, ",")));
    elements *= static_cast<double>(d);
  }
  if (elements > static_cast<double>(int64_t{1} << 31))
    fail(n,
         fmt::format("expanding to [{}] would make {:.3g} values", fmt::join(out, ","), elements));
  return x.expand(out);
}

Tensor pad(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const Tensor& x = in[0];
  const bool old = opset(n) < 11;
  auto raw = old ? attr_ints(n, "pads") : (check_arity(n, in, 2), int_values(in[1]));
  const double value =
      old ? attr_float(n, "value", 0.0) : (given(in, 2) ? in[2].item<double>() : 0.0);
  std::vector<int64_t> axes;
  if (!old && given(in, 3)) {
    axes = int_values(in[3]);
  } else {
    for (int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
  }
  if (raw.size() != 2 * axes.size())
    fail(n, fmt::format("{} pads for {} axes", raw.size(), axes.size()));
  std::vector<int64_t> pads(2 * x.dim(), 0);  // (before, after) per dimension
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t d = axis_of(axes[i], x.dim());
    if (d < 0 || d >= x.dim()) fail(n, "an axis is out of range");
    pads[2 * d] = raw[i];
    pads[2 * d + 1] = raw[i + axes.size()];
  }
  const std::string mode = attr_string(n, "mode", "constant");
  if (mode == "constant") return pad_constant(n, x, pads, value);
  if (mode != "reflect" && mode != "edge") fail(n, "unknown pad mode '" + mode + "'");
  if (x.dim() != 4 || pads[0] || pads[1] || pads[2] || pads[3])
    fail(n, mode + " padding is supported on the two spatial dimensions of a 4-d input only");
  namespace F = torch::nn::functional;
  F::PadFuncOptions options({pads[6], pads[7], pads[4], pads[5]});
  if (mode == "reflect") return F::pad(x, options.mode(torch::kReflect));
  return F::pad(x, options.mode(torch::kReplicate));
}

/// Resize (opset 10+) and Upsample (7-9): nearest or (bi)linear along every dimension whose
/// size changes.
Tensor resize(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  const Tensor& x = in[0];
  const int64_t version = opset(n);
  const bool upsample = n.op == "Upsample";
  std::vector<float> scales;
  std::vector<int64_t> sizes;
  if (upsample) {
    scales = given(in, 1) ? std::vector<float>() : attr_floats(n, "scales");
    if (given(in, 1)) {
      auto s = in[1].to(torch::kCPU, torch::kFloat).contiguous();
      scales.assign(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
    }
  } else {
    const size_t scale_input = version < 11 ? 1 : 2;
    if (given(in, scale_input) && in[scale_input].numel() > 0) {
      auto s = in[scale_input].to(torch::kCPU, torch::kFloat).contiguous();
      scales.assign(s.data_ptr<float>(), s.data_ptr<float>() + s.numel());
    }
    if (version >= 11 && given(in, 3) && in[3].numel() > 0) sizes = int_values(in[3]);
  }
  if (sizes.empty()) {
    if (static_cast<int64_t>(scales.size()) != x.dim())
      fail(n, fmt::format("{} scales for a {}-d input", scales.size(), x.dim()));
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (!(scales[d] > 0)) fail(n, "scales must be positive");
      sizes.push_back(static_cast<int64_t>(std::floor(x.size(d) * double(scales[d]))));
    }
  }
  if (static_cast<int64_t>(sizes.size()) != x.dim())
    fail(n, fmt::format("{} sizes for a {}-d input", sizes.size(), x.dim()));
  const std::string mode = attr_string(n, "mode", "nearest");
  const std::string coords = upsample || version < 11
                                 ? "asymmetric"
                                 : attr_string(n, "coordinate_transformation_mode", "half_pixel");
  const std::string rounding = attr_string(n, "nearest_mode", "round_prefer_floor");
  Tensor y = x;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const int64_t len = x.size(d), out = sizes[d];
    if (out < 1) fail(n, "an output size below 1");
    if (out == len && (scales.empty() || scales[d] == 1.0f)) continue;
    const double ratio = scales.empty() ? double(len) / out : 1.0 / scales[d];
    if (mode == "linear") {
      if (coords == "half_pixel" || coords == "pytorch_half_pixel") {
        y = coords == "pytorch_half_pixel" && out == 1 ? resize_axis(y, d, out, false, false, 0.0)
                                                       : resize_axis(y, d, out, false, true, ratio);
      } else if (coords == "align_corners") {
        y = resize_axis(y, d, out, true, false);
      } else if (coords == "asymmetric") {
        y = resize_axis(y, d, out, false, false, ratio);
      } else {
        fail(n, "coordinate_transformation_mode '" + coords + "' is not supported");
      }
      continue;
    }
    if (mode != "nearest") fail(n, "resize mode '" + mode + "' is not supported (nearest, linear)");
    std::vector<int64_t> index(out);
    for (int64_t i = 0; i < out; ++i) {
      double src;
      if (coords == "asymmetric")
        src = i * ratio;
      else if (coords == "half_pixel")
        src = (i + 0.5) * ratio - 0.5;
      else if (coords == "pytorch_half_pixel")
        src = out > 1 ? (i + 0.5) * ratio - 0.5 : 0;
      else if (coords == "align_corners")
        src = out > 1 ? i * double(len - 1) / (out - 1) : 0;
      else
        fail(n, "coordinate_transformation_mode '" + coords + "' is not supported");
      double r;
      if (rounding == "floor")
        r = std::floor(src);
      else if (rounding == "ceil")
        r = std::ceil(src);
      else if (rounding == "round_prefer_ceil")
        r = std::floor(src + 0.5);
      else if (rounding == "round_prefer_floor")
        r = std::ceil(src - 0.5);
      else
        fail(n, "nearest_mode '" + rounding + "' is not supported");
      index[i] = std::clamp<int64_t>(static_cast<int64_t>(r), 0, len - 1);
    }
    y = y.index_select(d, torch::tensor(index, torch::dtype(torch::kLong).device(y.device())));
  }
  return y;
}

Tensor cast(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  switch (attr_int(n, "to", 1)) {
    case 1:
    case 10:
    case 11:  // float, float16, double: foil computes in float
      return in[0].is_floating_point() ? in[0] : in[0].to(torch::kFloat);
    case 6:
      return in[0].to(torch::kInt);
    case 2:
    case 3:
    case 4:
    case 5:
    case 7:
    case 12:
    case 13:
      return in[0].to(torch::kLong);
    case 9:
      return in[0] != 0;
    default:
      fail(n, fmt::format("cast to type {} is not supported", attr_int(n, "to", 1)));
  }
}

Tensor clip(const Node& n, Tensors& in) {
  check_arity(n, in, 1);
  c10::optional<c10::Scalar> lo, hi;
  if (opset(n) < 11) {
    if (attr_of(n, "min")) lo = attr_float(n, "min", 0);
    if (attr_of(n, "max")) hi = attr_float(n, "max", 0);
  } else {
    if (given(in, 1)) lo = in[1].item();
    if (given(in, 2)) hi = in[2].item();
  }
  if (!lo && !hi) return in[0];
  return torch::clamp(in[0], lo, hi);
}

Tensor layer_norm(const Node& n, Tensors& in) {
  check_arity(n, in, 2);
  if (n.output_names.size() > 1 && !n.output_names[1].empty())
    fail(n, "the Mean and InvStdDev outputs are not supported");
  const Tensor& x = in[0];
  const int64_t axis = axis_of(attr_int(n, "axis", -1), x.dim());
  if (axis < 0 || axis >= x.dim()) fail(n, "axis out of range");
  std::vector<int64_t> shape(x.sizes().begin() + axis, x.sizes().end());
  return torch::layer_norm(x, shape, in[1].expand(shape),
                           given(in, 2) ? in[2].expand(shape) : Tensor(),
                           attr_float(n, "epsilon", 1e-5));
}

Tensor div(const Tensor& a, const Tensor& b) {
  // ONNX divides integers with truncation; LibTorch's `/` would give floats.
  if (!a.is_floating_point() && !b.is_floating_point())
    return torch::div(a, b, std::string("trunc"));
  return a / b;
}

Kernel variadic(Tensor (*f)(const Tensor&, const Tensor&)) {
  return [f](const Node& n, Tensors& in) -> Tensors {
    check_arity(n, in, 1);
    Tensor y = in[0];
    for (size_t i = 1; i < in.size(); ++i) y = f(y, in[i]);
    return {y};
  };
}

const std::map<std::string, Kernel>& onnx_kernels() {
  static const std::map<std::string, Kernel> table = [] {
    std::map<std::string, Kernel> k;
    // Same semantics as the TensorFlow op of the same name: one kernel for both.
    for (const char* op : {"Identity", "Add", "Sub", "Mul", "Pow", "Equal", "Relu", "Sigmoid",
                           "Tanh", "Sqrt", "Exp", "Log", "Neg", "Abs", "MatMul", "Flatten"})
      k[op] = *find_kernel(op);
    k["PRelu"] = *find_kernel("Prelu");
    k["Sum"] = *find_kernel("AddN");
    k["Div"] = binary(div);
    k["Greater"] = binary([](const Tensor& a, const Tensor& b) { return torch::gt(a, b); });
    k["Less"] = binary([](const Tensor& a, const Tensor& b) { return torch::lt(a, b); });
    k["Max"] = variadic([](const Tensor& a, const Tensor& b) { return torch::maximum(a, b); });
    k["Min"] = variadic([](const Tensor& a, const Tensor& b) { return torch::minimum(a, b); });
    k["Erf"] = unary([](const Tensor& x) { return torch::erf(x); });
    k["Reciprocal"] = unary([](const Tensor& x) { return torch::reciprocal(x); });
    k["Floor"] = unary([](const Tensor& x) { return torch::floor(x); });
    k["Ceil"] = unary([](const Tensor& x) { return torch::ceil(x); });
    k["Not"] = unary([](const Tensor& x) { return torch::logical_not(x); });
    k["Dropout"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);  // inference: the input itself, and a mask of ones
      return {in[0], torch::ones_like(in[0], torch::kBool)};
    };
    k["LeakyRelu"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {torch::leaky_relu(in[0], attr_float(n, "alpha", 0.01))};
    };
    k["Elu"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {torch::elu(in[0], attr_float(n, "alpha", 1.0))};
    };
    k["HardSigmoid"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 1);
      return {torch::clamp(in[0] * attr_float(n, "alpha", 0.2) + attr_float(n, "beta", 0.5), 0, 1)};
    };
    k["HardSwish"] = unary([](const Tensor& x) { return x * torch::clamp(x / 6 + 0.5, 0, 1); });
    k["Softplus"] = unary([](const Tensor& x) { return torch::softplus(x); });
    k["Clip"] = single(clip);
    k["Conv"] = single(conv);
    k["ConvTranspose"] = single(conv_transpose);
    k["BatchNormalization"] = [](const Node& n, Tensors& in) -> Tensors {
      check_arity(n, in, 5);
      if (attr_int(n, "training_mode", 0)) fail(n, "training-mode batch normalisation");
      return {batch_norm_folded(n, in[0], in[1], in[2], in[3], in[4],
                                attr_float(n, "epsilon", 1e-5), 1)};
    };
    k["MaxPool"] = single([](const Node& n, Tensors& in) { return pool(n, in, true); });
    k["AveragePool"] = single([](const Node& n, Tensors& in) { return pool(n, in, false); });
    k["GlobalAveragePool"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 1);
      if (in[0].dim() < 3) fail(n, "expected an N×C×... input");
      std::vector<int64_t> dims;
      for (int64_t d = 2; d < in[0].dim(); ++d) dims.push_back(d);
      return in[0].mean(dims, true);
    });
    k["GlobalMaxPool"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 1);
      if (in[0].dim() < 3) fail(n, "expected an N×C×... input");
      std::vector<int64_t> dims;
      for (int64_t d = 2; d < in[0].dim(); ++d) dims.push_back(d);
      return in[0].amax(dims, true);
    });
    k["Gemm"] = single(gemm);
    for (const char* op : {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin"})
      k[op] = [op = std::string(op)](const Node& n, Tensors& in) -> Tensors {
        return {reduce(n, in, op)};
      };
    k["Softmax"] = single([](const Node& n, Tensors& in) { return softmax(n, in, false); });
    k["LogSoftmax"] = single([](const Node& n, Tensors& in) { return softmax(n, in, true); });
    k["Concat"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 1);
      const int64_t axis = axis_of(attr_int(n, "axis", 0), in[0].dim());
      if (axis < 0 || axis >= in[0].dim()) fail(n, "axis out of range");
      try {
        return torch::cat(in, axis);
      } catch (const c10::Error&) {
        std::vector<std::string> shapes;
        for (const auto& t : in) shapes.push_back(fmt::format("[{}]", fmt::join(t.sizes(), ",")));
        fail(n, fmt::format("shapes {} do not concatenate along axis {}", fmt::join(shapes, " "),
                            axis));
      }
    });
    k["Split"] = split;
    k["Slice"] = single(slice);
    k["Gather"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 2);
      return gather_axis(n, in[0], in[1], attr_int(n, "axis", 0));
    });
    k["Reshape"] = single(reshape);
    k["Transpose"] = single(transpose);
    k["Squeeze"] = single(squeeze);
    k["Unsqueeze"] = single(unsqueeze);
    k["Shape"] = single(shape);
    k["ConstantOfShape"] = single(constant_of_shape);
    k["Expand"] = single(expand);
    k["Pad"] = single(pad);
    k["Resize"] = k["Upsample"] = single(resize);
    k["Cast"] = single(cast);
    k["Where"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 3);
      return torch::where(in[0].to(torch::kBool), in[1], in[2]);
    });
    k["LayerNormalization"] = single(layer_norm);
    k["Einsum"] = single([](const Node& n, Tensors& in) {
      check_arity(n, in, 1);
      return torch::einsum(attr_string(n, "equation", ""), in);
    });
    return k;
  }();
  return table;
}

}  // namespace

const Kernel* find_onnx_kernel(const std::string& op) {
  const auto& k = onnx_kernels();
  auto it = k.find(op);
  return it == k.end() ? nullptr : &it->second;
}

std::vector<std::string> supported_onnx_ops() {
  std::vector<std::string> out = {"Constant"};
  for (const auto& [name, kernel] : onnx_kernels()) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace foil::graph
