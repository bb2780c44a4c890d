// The output decodes of TensorFlow.js detectors and keypoint models, as their own runtimes
// do them (@vladmandic/human 3.3.6: src/object/centernet.ts, src/body/blazepose.ts,
// src/body/posenet*.ts, src/body/efficientpose.ts; NanoDet's generalized-focal-loss head;
// BlazeFace's SSD anchors).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"

namespace foil {
namespace {

float iou(const Detection& a, const Detection& b) {
  const float w = std::min(a.x2, b.x2) - std::max(a.x1, b.x1);
  const float h = std::min(a.y2, b.y2) - std::max(a.y1, b.y1);
  if (w <= 0 || h <= 0) return 0;
  const float inter = w * h;
  const float area = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1);
  return inter / (area - inter);
}

/// Greedy non-maximum suppression over all classes (IoU 0.5), best score first.
std::vector<Detection> suppress(std::vector<Detection> all) {
  std::stable_sort(all.begin(), all.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (const auto& d : all)
    if (std::none_of(kept.begin(), kept.end(),
                     [&](const Detection& k) { return iou(d, k) > 0.5f; }))
      kept.push_back(d);
  return kept;
}

/// Peak of each channel of an N×H×W×K map: N×K×2 (x, y) at cell centres scaled to the input,
/// the cell indices and the peak values.
struct Peaks {
  torch::Tensor xy, row, col, value;
};

Peaks peaks(const torch::Tensor& maps, int64_t input_w, int64_t input_h) {
  const int64_t h = maps.size(1), w = maps.size(2);
  const auto flat = maps.flatten(1, 2);  // N×HW×K
  const auto [value, idx] = flat.max(1);
  Peaks p;
  p.row = torch::div(idx, w, "floor");
  p.col = idx - p.row * w;
  p.value = value;
  p.xy = torch::stack({(p.col.to(torch::kFloat) + 0.5) * (double(input_w) / w),
                       (p.row.to(torch::kFloat) + 0.5) * (double(input_h) / h)},
                      2);
  return p;
}

}  // namespace

std::vector<std::vector<Detection>> GraphModel::detect(const torch::Tensor& pixels,
                                                       double min_score) const {
  check_input(meta_.task == "detection", info_.name, "a detector", "a " + meta_.task + " model");
  if (min_score < 0) min_score = meta_.min_score;
  torch::NoGradGuard no_grad;
  const auto out = outputs(pixels);
  const auto& names = meta_.class_names;
  auto name_of = [&](int64_t c) {
    return c >= 0 && c < static_cast<int64_t>(names.size()) ? names[c] : std::to_string(c);
  };
  std::vector<std::vector<Detection>> result(pixels.size(0));
  if (meta_.decode == "centernet") {
    // N×100×(x1, y1, x2, y2, score, class), boxes in input pixels.
    const auto rows = out[0].cpu().to(torch::kFloat).contiguous();
    check_input(rows.dim() == 3 && rows.size(2) == 6, info_.name, "detections as N×K×6",
                fmt::format("[{}]", fmt::join(rows.sizes(), ",")));
    for (int64_t i = 0; i < rows.size(0); ++i) {
      std::vector<Detection> all;
      for (int64_t k = 0; k < rows.size(1); ++k) {
        const auto r = rows[i][k];
        const float score = r[4].item<float>();
        if (!(score >= min_score)) continue;
        const auto cls = static_cast<int64_t>(r[5].item<float>());
        all.push_back({cls, name_of(cls), score, r[0].item<float>(), r[1].item<float>(),
                       r[2].item<float>(), r[3].item<float>()});
      }
      result[i] = suppress(std::move(all));
    }
    return result;
  }
  if (meta_.decode == "nanodet") {
    // Per stride: N×A×classes sigmoid scores and N×A×44 box distributions (left, top, right,
    // bottom, 11 bins each over 0..10 strides), for a square grid of A = g² cells.
    const int64_t size = info_.input.width, classes = static_cast<int64_t>(names.size());
    std::vector<torch::Tensor> scores, boxes;
    for (const auto& t : out) (t.size(-1) == classes ? scores : boxes).push_back(t.cpu());
    const auto bins = torch::arange(11, torch::kFloat);
    for (const auto& s : scores) {
      auto match = std::find_if(boxes.begin(), boxes.end(),
                                [&](const torch::Tensor& b) { return b.size(1) == s.size(1); });
      check_input(match != boxes.end() && match->size(2) == 44, info_.name,
                  "a 44-wide box output for each score output", "none matching");
      const int64_t cells = s.size(1), g = std::lround(std::sqrt(double(cells)));
      const double stride = double(size) / g;
      const auto dist =
          (torch::softmax(match->reshape({s.size(0), cells, 4, 11}), 3) * bins).sum(3) *
          stride;  // N×A×4 distances in pixels
      for (int64_t i = 0; i < s.size(0); ++i) {
        const auto [best, cls] = s[i].max(1);
        const auto hits = torch::nonzero(best >= min_score).flatten();
        for (int64_t k = 0; k < hits.size(0); ++k) {
          const int64_t a = hits[k].item<int64_t>(), c = cls[a].item<int64_t>();
          const float cx = float((a % g + 0.5) * stride), cy = float((a / g + 0.5) * stride);
          const auto d = dist[i][a];
          result[i].push_back({c, name_of(c), best[a].item<float>(), cx - d[0].item<float>(),
                               cy - d[1].item<float>(), cx + d[2].item<float>(),
                               cy + d[3].item<float>()});
        }
      }
    }
    for (auto& r : result) r = suppress(std::move(r));
    return result;
  }
  if (meta_.decode == "blazeface") {
    // Per anchor layer: N×A×16 regressors (box centre offset x, y and size w, h in pixels of
    // a 256 input, then 6 landmarks) and N×A×1 score logits. A = g²·k anchors of unit size
    // centred on a g×g grid, k per cell: 16x16x2 at stride 16, 8x8x6 at stride 32 (MediaPipe's
    // SSD anchors for the back-camera model).
    const double size = static_cast<double>(info_.input.width), unit = size / 256.0;
    std::vector<torch::Tensor> scores, boxes;
    for (const auto& t : out) (t.size(-1) == 1 ? scores : boxes).push_back(t.cpu());
    for (const auto& s : scores) {
      auto match = std::find_if(boxes.begin(), boxes.end(),
                                [&](const torch::Tensor& b) { return b.size(1) == s.size(1); });
      const int64_t anchors = s.size(1);
      const int64_t g = anchors == 2 * (int64_t(size) / 16) * (int64_t(size) / 16)
                            ? int64_t(size) / 16
                            : int64_t(size) / 32;
      check_input(match != boxes.end() && match->size(2) >= 4 && g > 0 && anchors % (g * g) == 0,
                  info_.name, "BlazeFace outputs (regressors and scores per anchor layer)",
                  fmt::format("a score output of {} anchors without them", anchors));
      const int64_t per = anchors / (g * g);
      const auto p = torch::sigmoid(s.squeeze(2).to(torch::kFloat).clamp(-100, 100));
      for (int64_t i = 0; i < s.size(0); ++i) {
        const auto hits = torch::nonzero(p[i] >= min_score).flatten();
        for (int64_t k = 0; k < hits.size(0); ++k) {
          const int64_t a = hits[k].item<int64_t>(), cell = a / per;
          const auto r = (*match)[i][a].to(torch::kFloat);
          const float cx = float((cell % g + 0.5) * size / g + r[0].item<float>() * unit);
          const float cy = float((cell / g + 0.5) * size / g + r[1].item<float>() * unit);
          const float w = float(r[2].item<float>() * unit), h = float(r[3].item<float>() * unit);
          result[i].push_back({0, name_of(0), p[i][a].item<float>(), cx - w / 2, cy - h / 2,
                               cx + w / 2, cy + h / 2});
        }
      }
    }
    for (auto& r : result) r = suppress(std::move(r));
    return result;
  }
  throw InputError(info_.name + ": no detection decode for this model (decode '" + meta_.decode +
                   "')");
}

DecodedKeypoints GraphModel::keypoints(const torch::Tensor& pixels) const {
  check_input(meta_.task == "keypoints", info_.name, "a keypoint model",
              "a " + meta_.task + " model");
  torch::NoGradGuard no_grad;
  const auto out = outputs(pixels);
  const int64_t n = pixels.size(0), w = pixels.size(3), h = pixels.size(2);
  const int64_t k = static_cast<int64_t>(meta_.class_names.size());
  auto shape_error = [&](const torch::Tensor& t, const std::string& expected) {
    return InputError(fmt::format("{}: output '{}' is [{}], expected {}", info_.name,
                                  meta_.outputs[0], fmt::join(t.sizes(), ","), expected));
  };
  DecodedKeypoints d;
  // Heatmaps and offsets are decoded in TensorFlow's layout (N×H×W×K); ONNX gives N×K×H×W.
  auto nhwc = [&](const torch::Tensor& t) {
    const torch::Tensor f = t.cpu().to(torch::kFloat);
    return graph_.channels_first() && f.dim() == 4 ? f.permute({0, 2, 3, 1}) : f;
  };
  const bool maps = meta_.decode == "heatmap" || meta_.decode == "posenet";
  const torch::Tensor first = maps ? nhwc(out[0]) : out[0].cpu().to(torch::kFloat);
  if (meta_.decode == "movenet") {
    if (first.dim() != 4 || first.size(3) != 3) throw shape_error(first, "N×1×K×(y, x, score)");
    const auto rows = first.select(1, 0);
    d.xy = torch::stack({rows.select(2, 1) * w, rows.select(2, 0) * h}, 2);
    d.score = rows.select(2, 2);
  } else if (meta_.decode == "blazepose") {
    // Rows of (x, y, z, visibility, presence) in input pixels; scores as human computes them.
    if (first.numel() != n * k * 5) throw shape_error(first, fmt::format("N×{}", k * 5));
    const auto rows = first.reshape({n, k, 5});
    d.xy = rows.narrow(2, 0, 2) * (double(w) / info_.input.width);
    d.z = rows.select(2, 2);
    d.score = torch::sigmoid(rows.select(2, 3)) * torch::sigmoid(rows.select(2, 4));
    const torch::Tensor world = out.size() > 1 ? out[1].cpu().to(torch::kFloat) : torch::Tensor();
    if (world.defined() && world.numel() == n * k * 3) d.world = world.reshape({n, k, 3});
  } else if (meta_.decode == "heatmap" || meta_.decode == "posenet") {
    if (first.dim() != 4 || first.size(3) != k)
      throw shape_error(first, fmt::format("N×H×W×{}", k));
    Peaks p = peaks(first, w, h);
    d.xy = p.xy;
    d.score = p.value;
    if (meta_.decode == "posenet") {
      // Cell (row, col) sits at (col, row) * stride; offsets hold K y then K x corrections.
      const torch::Tensor off = nhwc(out.at(1));
      if (off.dim() != 4 || off.size(3) != 2 * k) throw shape_error(off, "offsets N×H×W×2K");
      const double stride = double(w - 1) / (first.size(2) - 1);
      const auto cell = p.row * first.size(2) + p.col;  // N×K
      const auto flat = off.flatten(1, 2);              // N×HW×2K
      const auto idx = cell.unsqueeze(1);
      const auto oy = flat.narrow(2, 0, k).gather(1, idx).squeeze(1);
      const auto ox = flat.narrow(2, k, k).gather(1, idx).squeeze(1);
      d.xy = torch::stack(
          {p.col.to(torch::kFloat) * stride + ox, p.row.to(torch::kFloat) * stride + oy}, 2);
      d.score = torch::sigmoid(p.value);
    }
  } else {
    throw InputError(info_.name + ": no keypoint decode for this model (decode '" + meta_.decode +
                     "')");
  }
  return d;
}

}  // namespace foil
