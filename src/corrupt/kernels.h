#pragma once
// What the corruption files share: one image as an OpenCV float matrix (H×W, 1 or 3 channels,
// RGB, values in [0,1]), the item's random stream, the constant table in use, and the helpers
// several corruptions are built from (the reference's gaussian, clipped zoom, shift-and-add
// motion blur, plasma fractal).

#include <cstdint>
#include <opencv2/core.hpp>
#include <random>

namespace foil::corruption {

/// One item's randomness.
using Rng = std::mt19937_64;

/// The benchmark's three constant tables, each made for one image size: CIFAR-10-C (32
/// pixels), Tiny-ImageNet-C (64) and ImageNet-C (224).
enum class Table { kCifar, kTiny, kImageNet };

/// One image and what a corruption needs to know about it.
struct Item {
  cv::Mat x;     ///< CV_32FC1 or CV_32FC3, RGB, in [0,1]
  int severity;  ///< 1..5
  Table table;   ///< the constants for the image's size (corruption_table)
  Rng& rng;      ///< this item's stream
  /// The table entry of this severity: `cifar[s-1]`, `tiny[s-1]` or `imagenet[s-1]`.
  template <typename T>
  const T& pick(const T (&cifar)[5], const T (&tiny)[5], const T (&imagenet)[5]) const {
    const T(&t)[5] = table == Table::kCifar ? cifar : table == Table::kTiny ? tiny : imagenet;
    return t[severity - 1];
  }
};

/// A corruption: the corrupted image (same size and type), not yet clipped.
using Fn = cv::Mat (*)(Item&);

// Helpers (kernels.cpp).
/// skimage.filters.gaussian: a Gaussian of `sigma` truncated at `truncate` sigmas, with the
/// border mode `border` (skimage's default "nearest" is BORDER_REPLICATE).
cv::Mat gaussian(const cv::Mat& x, double sigma, double truncate = 4.0,
                 int border = cv::BORDER_REPLICATE);
/// Zooms the centre of `x` by `z` >= 1 (linear, scipy.ndimage.zoom's corner-aligned grid)
/// back to `x`'s size.
cv::Mat clipped_zoom(const cv::Mat& x, double z);
/// imagecorruptions' motion blur: `2*radius+1` copies of `x` shifted along `angle` degrees
/// (edges repeated), weighted by a half Gaussian of `sigma`.
cv::Mat motion_blur_shift(const cv::Mat& x, int radius, double sigma, double angle);
/// `u8` (CV_8UC1, or CV_8UC3 RGB) encoded as JPEG of `quality` by OpenCV's libjpeg (4:2:0
/// chroma for colour, PIL's default too) and decoded, as 8 bits.
cv::Mat jpeg_8bit(const cv::Mat& u8, int quality);
/// The diamond-square height map of the reference (side `mapsize`, a power of two), in [0,1].
cv::Mat plasma_fractal(int mapsize, double decay, Rng& rng);
/// Luminance (OpenCV's RGB2GRAY weights) as one channel; a copy of a 1-channel image.
cv::Mat grey(const cv::Mat& x);
/// A 1-channel map as `x`'s channel count (repeated).
cv::Mat like(const cv::Mat& map, const cv::Mat& x);
/// Uniform [lo, hi), normal (mean, sd) fills of an H×W single-channel float matrix.
cv::Mat uniform_map(int rows, int cols, double lo, double hi, Rng& rng);
cv::Mat normal_map(int rows, int cols, double mean, double sd, Rng& rng);

// The corruptions (noise.cpp, blur.cpp, weather.cpp, digital.cpp).
cv::Mat gaussian_noise(Item& it);
cv::Mat shot_noise(Item& it);
cv::Mat impulse_noise(Item& it);
cv::Mat speckle_noise(Item& it);
cv::Mat defocus_blur(Item& it);
cv::Mat glass_blur(Item& it);
cv::Mat motion_blur(Item& it);
cv::Mat zoom_blur(Item& it);
cv::Mat gaussian_blur(Item& it);
cv::Mat snow(Item& it);
cv::Mat frost(Item& it);
cv::Mat fog(Item& it);
cv::Mat spatter(Item& it);
cv::Mat brightness(Item& it);
cv::Mat contrast(Item& it);
cv::Mat saturate(Item& it);
cv::Mat elastic_transform(Item& it);
cv::Mat pixelate(Item& it);
cv::Mat jpeg_compression(Item& it);

}  // namespace foil::corruption
