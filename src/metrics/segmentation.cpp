// Semantic segmentation metrics (foil/metrics/segmentation.h).
#include "foil/metrics/segmentation.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>

#include "foil/core/error.h"

namespace foil {

torch::Tensor confusion_matrix(const torch::Tensor& reference, const torch::Tensor& prediction,
                               int64_t classes, int64_t ignore_index) {
  check_input(reference.sizes() == prediction.sizes(), "segmentation prediction",
              fmt::format("the reference's shape {}", reference.sizes()),
              fmt::format("{}", prediction.sizes()));
  const torch::Tensor ref = reference.to(torch::kCPU, torch::kLong).flatten();
  const torch::Tensor pred = prediction.to(torch::kCPU, torch::kLong).flatten();
  const torch::Tensor keep = ref.ne(ignore_index);
  const torch::Tensor r = ref.masked_select(keep), p = pred.masked_select(keep);
  const auto inside = [&](const torch::Tensor& t) {
    return t.numel() == 0 || (t.min().item<int64_t>() >= 0 && t.max().item<int64_t>() < classes);
  };
  check_input(inside(r), "segmentation reference",
              fmt::format("labels 0..{} or {}", classes - 1, ignore_index), "others");
  check_input(inside(p), "segmentation prediction", fmt::format("labels 0..{}", classes - 1),
              "others");
  return torch::bincount(r * classes + p, {}, classes * classes).view({classes, classes});
}

SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion,
                                         const std::vector<std::string>& class_names) {
  SegmentationMetrics m;
  m.class_names = class_names;
  const torch::Tensor cm = confusion.to(torch::kCPU, torch::kDouble);
  const int64_t k = cm.size(0);
  const torch::Tensor tp = cm.diagonal(), ref = cm.sum(1), pred = cm.sum(0);
  const torch::Tensor uni = ref + pred - tp;
  m.pixels = static_cast<int64_t>(cm.sum().item<double>());
  if (m.pixels > 0) m.pixel_accuracy = tp.sum().item<double>() / static_cast<double>(m.pixels);
  double sum = 0;
  int64_t counted = 0;
  for (int64_t c = 0; c < k; ++c) {
    const double u = uni[c].item<double>();
    m.iou.push_back(u > 0 ? tp[c].item<double>() / u : -1);
    m.reference_pixels.push_back(static_cast<int64_t>(ref[c].item<double>()));
    if (u > 0) {
      sum += m.iou.back();
      ++counted;
    }
  }
  if (counted > 0) m.miou = sum / static_cast<double>(counted);
  return m;
}

nlohmann::json SegmentationMetrics::to_json() const {
  const auto value = [](double v) { return v > -1 ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json per_class = nlohmann::json::array();
  for (size_t c = 0; c < iou.size(); ++c)
    per_class.push_back({{"name", c < class_names.size() ? class_names[c] : std::to_string(c)},
                         {"iou", value(iou[c])},
                         {"reference_pixels", reference_pixels[c]}});
  return {{"miou", value(miou)},
          {"pixel_accuracy", value(pixel_accuracy)},
          {"pixels", pixels},
          {"per_class", per_class}};
}

torch::Tensor read_label_mask(const std::string& path, int64_t classes) {
  std::error_code ec;
  check_input(std::filesystem::is_regular_file(path, ec), path, "a label PNG", "no such file");
  const cv::Mat img = cv::imread(path, cv::IMREAD_UNCHANGED);
  check_input(!img.empty(), path, "a readable label PNG", "not an image OpenCV decodes");
  check_input(
      img.channels() == 1 && img.depth() == CV_8U, path,
      "one 8-bit channel of class indices (255: not scored)",
      fmt::format("{} channels of {}-bit values{}", img.channels(), img.depth() == CV_8U ? 8 : 16,
                  img.channels() == 3 ? " (a palette PNG is read as colours)" : ""));
  const torch::Tensor t = torch::from_blob(img.data, {img.rows, img.cols},
                                           {static_cast<int64_t>(img.step[0]), 1}, torch::kUInt8)
                              .to(torch::kLong);
  const torch::Tensor bad = t.ge(classes).logical_and(t.ne(255));
  if (bad.any().item<bool>()) {
    const torch::Tensor where = bad.nonzero()[0];
    throw InputError(fmt::format("{}: pixel (x {}, y {}) has label {}: expected 0..{} or 255", path,
                                 where[1].item<int64_t>(), where[0].item<int64_t>(),
                                 t.index({where[0], where[1]}).item<int64_t>(), classes - 1));
  }
  return t;
}

}  // namespace foil
