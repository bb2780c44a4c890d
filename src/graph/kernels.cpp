// What the kernels of both importers share: node attributes, the tensor helpers they are
// written with (padding, pooling, resampling, slicing, checked reshapes), node output counts
// and the base64 of string attributes.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "foil/core/error.h"
#include "node.h"

namespace foil::graph {

using torch::Tensor;

// ---- attributes -------------------------------------------------------------------------

const nlohmann::json* attr_of(const Node& n, const std::string& key) {
  auto it = n.attr.find(key);
  return it == n.attr.end() ? nullptr : &*it;
}

int64_t attr_int(const Node& n, const std::string& key, int64_t fallback) {
  const auto* a = attr_of(n, key);
  if (!a || !a->contains("i")) return fallback;
  const auto& v = (*a)["i"];
  return v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>();
}

double attr_float(const Node& n, const std::string& key, double fallback) {
  const auto* a = attr_of(n, key);
  return a && a->contains("f") ? (*a)["f"].get<double>() : fallback;
}

bool attr_bool(const Node& n, const std::string& key, bool fallback) {
  const auto* a = attr_of(n, key);
  return a && a->contains("b") ? (*a)["b"].get<bool>() : fallback;
}

std::string attr_string(const Node& n, const std::string& key, const std::string& fallback) {
  const auto* a = attr_of(n, key);
  return a && a->contains("s") ? base64_decode((*a)["s"].get<std::string>()) : fallback;
}

std::vector<int64_t> attr_ints(const Node& n, const std::string& key) {
  std::vector<int64_t> out;
  const auto* a = attr_of(n, key);
  if (!a || !a->contains("list") || !(*a)["list"].contains("i")) return out;
  for (const auto& v : (*a)["list"]["i"])
    out.push_back(v.is_string() ? std::stoll(v.get<std::string>()) : v.get<int64_t>());
  return out;
}

void fail(const Node& n, const std::string& what) {
  throw InputError(fmt::format("node '{}' ({}): {}", n.name, n.op, what));
}

void check_arity(const Node& n, const Tensors& in, size_t count) {
  if (in.size() < count)
    fail(n, fmt::format("expected at least {} inputs, got {}", count, in.size()));
  for (size_t i = 0; i < count; ++i)
    if (!in[i].defined()) fail(n, fmt::format("input {} is required but omitted", i));
}

// ---- helpers ----------------------------------------------------------------------------

std::vector<int64_t> int_values(const Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kLong).contiguous().flatten();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

int64_t axis_of(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

std::pair<int64_t, int64_t> same_padding(int64_t in, int64_t k, int64_t s, int64_t d) {
  const int64_t effective = (k - 1) * d + 1;
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + effective - in, 0);
  return {total / 2, total - total / 2};
}

Tensor conv2d_padded(const Node& n, const Tensor& x, const Tensor& w, const Tensor& bias,
                     std::array<int64_t, 2> stride, std::array<int64_t, 2> dilation,
                     std::array<int64_t, 4> pad, int64_t groups) {
  auto [t, b, l, r] = pad;
  Tensor in = x;
  std::vector<int64_t> sym = {0, 0};
  if (t == b && l == r) {
    sym = {t, l};
  } else {
    in = torch::constant_pad_nd(in, {l, r, t, b}, 0);
  }
  if (w.dim() != 4) fail(n, fmt::format("expected a 4-d filter, got {} dimensions", w.dim()));
  if (groups < 1 || in.size(1) != w.size(1) * groups)
    fail(n, fmt::format("input has {} channels, the filter expects {}", in.size(1),
                        w.size(1) * groups));
  return torch::conv2d(in, w, bias, stride, sym, dilation, groups);
}

Tensor pool2d_padded(const Node& n, const Tensor& x, std::array<int64_t, 2> kernel,
                     std::array<int64_t, 2> stride, std::array<int64_t, 4> pad, bool max,
                     bool count_pad, bool ceil) {
  auto [kh, kw] = kernel;
  auto [t, b, l, r] = pad;
  if (x.dim() != 4) fail(n, fmt::format("expected a 4-d input, got {} dimensions", x.dim()));
  if (std::min({kh, kw, stride[0], stride[1]}) < 1 || std::min({t, b, l, r}) < 0)
    fail(n, fmt::format("window {}x{} and strides {}x{} must be >= 1, paddings >= 0", kh, kw,
                        stride[0], stride[1]));
  // Symmetric padding up to half the window: LibTorch's own pooling, exactly.
  if (t == b && l == r && 2 * t <= kh && 2 * l <= kw)
    return max ? torch::max_pool2d(x, kernel, stride, {t, l}, 1, ceil)
               : torch::avg_pool2d(x, kernel, stride, {t, l}, ceil, count_pad);
  if (max)
    return torch::max_pool2d(
        torch::constant_pad_nd(x, {l, r, t, b}, -std::numeric_limits<float>::infinity()), kernel,
        stride, 0, 1, ceil);
  // Average over the window's valid (unpadded) cells unless padding counts.
  Tensor sum =
      torch::avg_pool2d(torch::constant_pad_nd(x, {l, r, t, b}, 0), kernel, stride, 0, ceil, true);
  if (count_pad) return sum;
  Tensor ones = torch::ones({1, 1, x.size(2), x.size(3)}, x.options());
  Tensor count = torch::avg_pool2d(torch::constant_pad_nd(ones, {l, r, t, b}, 0), kernel, stride, 0,
                                   ceil, true);
  return sum / count;
}

Tensor resize_axis(const Tensor& x, int64_t dim, int64_t out, bool align, bool half, double ratio) {
  const int64_t in = x.size(dim);
  if (align) ratio = out > 1 ? double(in - 1) / double(out - 1) : 0.0;
  if (ratio < 0) ratio = double(in) / out;
  std::vector<int64_t> lo(out), hi(out);
  std::vector<float> frac(out);
  for (int64_t i = 0; i < out; ++i) {
    const double src = half ? ratio * (i + 0.5) - 0.5 : ratio * i;
    lo[i] = std::max<int64_t>(0, static_cast<int64_t>(std::floor(src)));
    hi[i] = std::min<int64_t>(in - 1, static_cast<int64_t>(std::ceil(src)));
    frac[i] = static_cast<float>(src - lo[i]);
  }
  auto opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  Tensor lo_t = torch::tensor(lo, opts), hi_t = torch::tensor(hi, opts);
  std::vector<int64_t> shape(x.dim(), 1);
  shape[dim] = out;
  Tensor f = torch::tensor(frac, x.options()).view(shape);
  Tensor a = x.index_select(dim, lo_t), b = x.index_select(dim, hi_t);
  return a + (b - a) * f;
}

Tensor slice_dim(const Node& n, const Tensor& x, int64_t dim, int64_t begin, int64_t end,
                 int64_t step) {
  const int64_t len = x.size(dim);
  if (step == 0) fail(n, "a step of 0");
  auto norm = [len](int64_t v, int64_t lo, int64_t hi) {
    return std::clamp(v < 0 ? std::max(v, -len - 1) + len : v, lo, hi);
  };
  if (step > 0) {
    const int64_t b = norm(begin, 0, len), e = norm(end, 0, len);
    return x.slice(dim, b, std::max(b, e), step);
  }
  const int64_t b = norm(begin, -1, len - 1), e = norm(end, -1, len - 1);
  std::vector<int64_t> idx;
  for (int64_t k = b; k > e; k += step) idx.push_back(k);
  return x.index_select(dim, torch::tensor(idx, torch::dtype(torch::kLong).device(x.device())));
}

Tensor reshape_checked(const Node& n, const Tensor& x, std::vector<int64_t> shape) {
  int64_t known = 1, unknown = 0;
  for (auto s : shape) s < 0 ? ++unknown : known *= s;
  const bool ok = unknown > 1 ? false
                  : unknown   ? known > 0 && x.numel() % known == 0
                              : known == x.numel();
  if (!ok)
    fail(n, fmt::format("cannot reshape {} values (shape {}) to [{}]", x.numel(),
                        fmt::join(x.sizes(), ","), fmt::join(shape, ",")));
  return x.reshape(shape);
}

Tensor gather_axis(const Node& n, const Tensor& params, const Tensor& index, int64_t axis) {
  axis = axis_of(axis, params.dim());
  if (axis < 0 || axis >= params.dim())
    fail(n, fmt::format("axis out of range for a {}-d input", params.dim()));
  const int64_t len = params.size(axis);
  Tensor idx = index.to(torch::kLong);
  if (idx.numel() && ((idx < -len).any().item<bool>() || (idx >= len).any().item<bool>()))
    fail(n, fmt::format("an index is out of range for dimension {} of size {}", axis, len));
  idx = torch::where(idx < 0, idx + len, idx);
  std::vector<int64_t> shape(params.sizes().begin(), params.sizes().begin() + axis);
  shape.insert(shape.end(), idx.sizes().begin(), idx.sizes().end());
  shape.insert(shape.end(), params.sizes().begin() + axis + 1, params.sizes().end());
  return params.index_select(axis, idx.flatten()).reshape(shape);
}

Tensors split_checked(const Node& n, const Tensor& x, int64_t axis, std::vector<int64_t> sizes) {
  axis = axis_of(axis, x.dim());
  if (axis < 0 || axis >= x.dim())
    fail(n, fmt::format("axis out of range for a {}-d input", x.dim()));
  int64_t known = 0, unknown = -1;
  for (size_t k = 0; k < sizes.size(); ++k)
    if (sizes[k] < 0) {
      if (unknown >= 0) fail(n, "more than one size of -1");
      unknown = static_cast<int64_t>(k);
    } else {
      known += sizes[k];
    }
  if (unknown >= 0) sizes[unknown] = x.size(axis) - known;
  int64_t total = 0;
  for (auto s : sizes) total += s < 0 ? x.size(axis) + 1 : s;
  if (total != x.size(axis))
    fail(n, fmt::format("sizes [{}] do not split dimension {} of size {}", fmt::join(sizes, ","),
                        axis, x.size(axis)));
  return x.split_with_sizes(sizes, axis);
}

Tensor pad_constant(const Node& n, const Tensor& x, const std::vector<int64_t>& pads,
                    double value) {
  if (static_cast<int64_t>(pads.size()) != 2 * x.dim())
    fail(n, fmt::format("{} padding values for a {}-d input (expected {})", pads.size(), x.dim(),
                        2 * x.dim()));
  std::vector<int64_t> torch_pad;  // last dimension first
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    torch_pad.push_back(pads[2 * d]);
    torch_pad.push_back(pads[2 * d + 1]);
  }
  return torch::constant_pad_nd(x, torch_pad, value);
}

Tensor batch_norm_folded(const Node& n, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& mean, const Tensor& var, double eps, int64_t channel_dim) {
  channel_dim = axis_of(channel_dim, x.dim());
  if (channel_dim < 0 || channel_dim >= x.dim())
    fail(n, fmt::format("a {}-d input has no channel dimension", x.dim()));
  const int64_t c = x.size(channel_dim);
  for (const Tensor* t : {&gamma, &beta, &mean, &var})
    if (t->numel() != c) fail(n, fmt::format("{} statistics for {} channels", t->numel(), c));
  if (n.cache.empty()) {  // scale and shift folded once per device
    const Tensor scale = gamma.flatten() * torch::rsqrt(var.flatten() + eps);
    n.cache = {scale, beta.flatten() - mean.flatten() * scale};
  }
  std::vector<int64_t> shape(x.dim() - channel_dim, 1);
  shape[0] = c;
  return x * n.cache[0].view(shape) + n.cache[1].view(shape);
}

Kernel binary(Tensor (*f)(const Tensor&, const Tensor&)) {
  return [f](const Node& n, Tensors& in) -> Tensors {
    check_arity(n, in, 2);
    try {
      return {f(in[0], in[1])};
    } catch (const c10::Error& e) {
      fail(n, fmt::format("shapes [{}] and [{}] do not broadcast", fmt::join(in[0].sizes(), ","),
                          fmt::join(in[1].sizes(), ",")));
    }
  };
}

Kernel unary(Tensor (*f)(const Tensor&)) {
  return [f](const Node& n, Tensors& in) -> Tensors {
    check_arity(n, in, 1);
    return {f(in[0])};
  };
}

Kernel single(Tensor (*f)(const Node&, Tensors&)) {
  return [f](const Node& n, Tensors& in) -> Tensors { return {f(n, in)}; };
}

int output_count(const Node& node) {
  if (!node.output_names.empty()) return static_cast<int>(node.output_names.size());
  if (node.op == "TopKV2") return 2;
  const char* key = node.op == "Unpack" ? "num" : "num_split";
  if (node.op != "Unpack" && node.op != "Split" && node.op != "SplitV") return 1;
  const int64_t num = attr_int(node, key, 1);
  if (num < 1 || num > 4096)
    throw InputError(
        fmt::format("node '{}' ({}): {} {} is not in 1..4096", node.name, node.op, key, num));
  return static_cast<int>(num);
}

std::string base64_encode(const std::string& text) {
  static const char* chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t value = 0;
  int bits = -6;
  for (unsigned char c : text) {
    value = ((value << 8) | c) & 0xFFFFFFu;
    bits += 8;
    for (; bits >= 0; bits -= 6) out.push_back(chars[(value >> bits) & 0x3F]);
  }
  if (bits > -6) out.push_back(chars[((value << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

std::string base64_decode(const std::string& text) {
  static const std::string chars =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t value = 0;  // only the low 14 bits matter: at most 8 pending plus 6 new
  int bits = -8;
  for (char c : text) {
    const auto pos = chars.find(c);
    if (pos == std::string::npos) break;  // '=' padding or end
    value = ((value << 6) | static_cast<uint32_t>(pos)) & 0x3FFFu;
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((value >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace foil::graph
