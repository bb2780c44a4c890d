#pragma once
/// @file
/// Semantic segmentation scored as the field scores it (mmsegmentation's and torchvision's
/// reference evaluation): one confusion matrix over every pixel of every image (pixels whose
/// reference label is the ignore index, 255, left out); the IoU of a class is its true
/// positives over the union of its reference and predicted pixels, mean IoU averages the
/// classes whose union is not empty, pixel accuracy is the share of scored pixels predicted
/// right.
///
/// Example:
///   torch::Tensor cm = foil::confusion_matrix(reference, prediction, 2);
///   foil::SegmentationMetrics m = foil::segmentation_metrics(cm, {"background", "person"});
///   std::printf("mIoU %.3f pixel accuracy %.3f\n", m.miou, m.pixel_accuracy);

#include <torch/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil {

/// Scores read off a confusion matrix.
struct SegmentationMetrics {
  double miou = -1;            ///< mean IoU over classes with a non-empty union (-1: none)
  double pixel_accuracy = -1;  ///< share of scored pixels predicted right (-1: none scored)
  int64_t pixels = 0;          ///< scored pixels
  std::vector<std::string> class_names;   ///< per class
  std::vector<double> iou;                ///< per class (-1: empty union, not averaged)
  std::vector<int64_t> reference_pixels;  ///< per class, in the reference
  /// {miou, pixel_accuracy, pixels, per_class: [{name, iou, reference_pixels}]}.
  nlohmann::json to_json() const;
};

/// The K×K confusion matrix (int64; row: reference class, column: predicted class) of integer
/// label maps of one shape; reference pixels equal to `ignore_index` are left out. Throws
/// InputError for shapes that differ or labels outside 0..K-1 (other than the ignore index).
torch::Tensor confusion_matrix(const torch::Tensor& reference, const torch::Tensor& prediction,
                               int64_t classes, int64_t ignore_index = 255);

/// Mean IoU, pixel accuracy and per-class IoU of a confusion matrix.
SegmentationMetrics segmentation_metrics(const torch::Tensor& confusion,
                                         const std::vector<std::string>& class_names);

/// A label PNG (one 8-bit channel, a class index per pixel; 255: not scored) as int64 H×W.
/// Throws InputError naming the file for anything else, or for a label neither below
/// `classes` nor 255.
torch::Tensor read_label_mask(const std::string& path, int64_t classes);

}  // namespace foil
