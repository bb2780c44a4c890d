#include "foil/models/graph_model.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "foil/core/error.h"

namespace foil {

namespace fs = std::filesystem;

// ---- model ------------------------------------------------------------------------------

GraphModel::GraphModel(const std::string& model_json)
    : graph_(model_json), meta_(graph_meta_for(model_json, graph_)) {
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
  if (meta_.task == "segmentation") {  // logits per pixel: before a final Sigmoid or Softmax
    std::string node = output_node_;
    while (graph_.op_of(node) == "Identity") node = graph_.first_input_of(node);
    sigmoid_mask_ = graph_.op_of(node) == "Sigmoid";
    if (sigmoid_mask_ || graph_.op_of(node) == "Softmax")
      output_node_ = graph_.first_input_of(node);
  }
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

GraphModel::~GraphModel() = default;

std::vector<std::string> GraphModel::layer_names() const { return graph_.value_names(); }

void GraphModel::to(c10::Device device) {
  graph_.to(device);
  device_ = device;
}

torch::Tensor GraphModel::model_input(const torch::Tensor& pixels) const {
  const torch::Tensor rgb = meta_.bgr ? pixels.flip(1) : pixels;
  torch::Tensor x = (nchw_input_ ? rgb : rgb.permute({0, 2, 3, 1})) * meta_.scale + meta_.offset;
  // int32 inputs (e.g. MoveNet's 0..255): round, but let the gradient pass straight through.
  if (graph_.input_dtype() == "int32") x = x + (x.round() - x).detach();
  return x;
}

std::vector<torch::Tensor> GraphModel::execute(
    const torch::Tensor& pixels, const std::vector<std::string>& nodes, size_t first_nchw,
    const std::map<std::string, torch::Tensor>& scales) const {
  const torch::Tensor input = model_input(pixels);
  if (graph_.input_shape()[0] != 1 || input.size(0) == 1)
    return graph_.execute(input, nodes, first_nchw, {}, scales);
  // Graphs exported with a fixed batch of 1 (their reshapes spell it out) run per image.
  const int64_t n = input.size(0);
  auto per_image = [&](const std::vector<std::string>& wanted,
                       const std::vector<std::map<std::string, torch::Tensor>>& given) {
    std::vector<std::vector<torch::Tensor>> parts(wanted.size());
    for (int64_t i = 0; i < n; ++i) {
      std::map<std::string, torch::Tensor> scale_i = scales;
      for (auto& [name, t] : scale_i)
        if (t.dim() > 0 && t.size(0) == n) t = t.slice(0, i, i + 1);
      auto out = graph_.execute(input.slice(0, i, i + 1), wanted, static_cast<size_t>(-1),
                                given.empty() ? std::map<std::string, torch::Tensor>{} : given[i],
                                scale_i);
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

std::vector<torch::Tensor> GraphModel::outputs(const torch::Tensor& pixels) const {
  check_input_shape(pixels);
  return execute(pixels.to(device_), meta_.outputs);
}

TapOutputs GraphModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  return run_graph(x, taps, {});
}

TapOutputs GraphModel::run_scaled(const torch::Tensor& x, const std::vector<std::string>& taps,
                                  const LayerScale& edit) {
  // The scale comes in the layout taps come back in (N×C×H×W); NHWC graphs read it as NHWC.
  const bool nhwc = edit.scale.dim() == 4 && !graph_.channels_first();
  return run_graph(x, taps, {{edit.layer, nhwc ? edit.scale.permute({0, 2, 3, 1}) : edit.scale}});
}

TapOutputs GraphModel::run_graph(const torch::Tensor& x, const std::vector<std::string>& taps,
                                 const std::map<std::string, torch::Tensor>& scales) {
  std::vector<std::string> nodes = class_logits_;
  if (nodes.empty()) nodes = {output_node_};
  const size_t heads = nodes.size();
  nodes.insert(nodes.end(), taps.begin(), taps.end());
  auto values = execute(x, nodes, heads, scales);  // taps (after the heads) come back N×C×H×W
  TapOutputs out;
  if (meta_.probability_output) {
    const torch::Tensor p = values[0].reshape({values[0].size(0), 1}).clamp(1e-7, 1 - 1e-7);
    out.output = torch::cat({torch::log1p(-p), torch::log(p)}, 1);
  } else if (meta_.task == "segmentation") {
    out.output = pixel_logits(values[0]);
  } else if (class_logits_.empty()) {
    out.output = values[0];
  } else {  // image-level class logits: each class's best location over all maps
    out.output = location_scores(values, heads).amax(1);
    if (probability_maps_) {  // logit of the best probability; exact up to float rounding
      const torch::Tensor p = out.output.clamp(1e-7, 1 - 1e-7);
      out.output = torch::log(p) - torch::log1p(-p);
    }
  }
  for (size_t k = 0; k < taps.size(); ++k) out.taps[taps[k]] = values[k + heads];
  return out;
}

torch::Tensor GraphModel::pixel_logits(const torch::Tensor& value) const {
  check_input(value.dim() == 4, info_.name + " output", "per-pixel scores (4-D)",
              fmt::format("shape {}", value.sizes()));
  torch::Tensor v = graph_.channels_first() ? value : value.permute({0, 3, 1, 2});
  // One sigmoid channel p = sigmoid(z): the two-class logits (0, z), whose softmax is (1-p, p).
  if (sigmoid_mask_) v = torch::cat({torch::zeros_like(v), v}, 1);
  const auto classes = static_cast<int64_t>(meta_.class_names.size());
  if (v.size(1) != classes)
    throw InputError(fmt::format("{}: the output has {} classes per pixel, the metadata {}",
                                 info_.name, v.size(1), classes));
  return v;
}

torch::Tensor GraphModel::location_scores(const std::vector<torch::Tensor>& values,
                                          size_t heads) const {
  std::vector<torch::Tensor> maps;
  const int64_t classes = static_cast<int64_t>(meta_.class_names.size());
  for (size_t k = 0; k < heads; ++k) {
    // N×H×W×C or N×locations×C.
    const torch::Tensor& v = values[k];
    if (classes < 1 || v.size(-1) != classes)
      throw InputError(fmt::format("{}: class map '{}' has {} classes, the metadata {}", info_.name,
                                   class_logits_[k], v.size(-1), classes));
    maps.push_back(v.reshape({v.size(0), -1, classes}));
  }
  return torch::cat(maps, 1);
}

torch::Tensor GraphModel::class_logits(const torch::Tensor& pixels) const {
  check_input(!class_logits_.empty(), info_.name, "a detector (class score maps)",
              "a " + meta_.task + " model");
  const torch::Tensor s = location_scores(
      execute(pixels.to(device_), class_logits_, class_logits_.size()), class_logits_.size());
  if (!probability_maps_) return s;
  const torch::Tensor p = s.clamp(1e-7, 1 - 1e-7);  // NanoDet: probabilities already
  return torch::log(p) - torch::log1p(-p);
}

}  // namespace foil
