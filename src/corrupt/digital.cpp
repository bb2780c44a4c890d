// Digital: brightness and saturate (in HSV), contrast, elastic transform, pixelate (PIL's box
// resize down and up) and JPEG compression.
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "kernels.h"

namespace foil::corruption {
namespace {

/// Applies f(pixel, channels) to each pixel of `x` (a copy).
template <typename F>
cv::Mat per_pixel(const cv::Mat& x, F f) {
  cv::Mat out = x.clone();
  const int ch = out.channels();
  for (int r = 0; r < out.rows; ++r)
    for (int c = 0; c < out.cols; ++c) f(out.ptr<float>(r) + c * ch, ch);
  return out;
}

/// PIL's BOX resampling weights from `in` to `out` pixels along one axis (out x in).
cv::Mat box_weights(int in, int out) {
  const double scale = static_cast<double>(in) / out, filterscale = std::max(scale, 1.0);
  const double support = 0.5 * filterscale;
  cv::Mat w = cv::Mat::zeros(out, in, CV_32F);
  for (int i = 0; i < out; ++i) {
    const double center = (i + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in);
    double sum = 0;
    for (int j = lo; j < hi; ++j) {
      const double t = (j - center + 0.5) / filterscale;
      if (t >= -0.5 && t < 0.5) w.at<float>(i, j) = 1.f, sum += 1;
    }
    if (sum > 0) w.row(i) /= sum;
  }
  return w;
}

/// PIL's Image.resize(..., BOX) to `cols` x `rows`, in whole 1/255 steps as its 8-bit images.
cv::Mat box_resize(const cv::Mat& x, int cols, int rows) {
  const cv::Mat wy = box_weights(x.rows, rows), wx = box_weights(x.cols, cols).t();
  std::vector<cv::Mat> planes;
  cv::split(x, planes);
  for (auto& p : planes) {
    cv::Mat q = wy * p * wx, u8;
    q.convertTo(u8, CV_8U, 255.0);
    u8.convertTo(p, CV_32F, 1 / 255.0);
  }
  cv::Mat out;
  cv::merge(planes, out);
  return out;
}

}  // namespace

cv::Mat brightness(Item& it) {
  static const double kCifar[5] = {.05, .1, .15, .2, .3}, kTiny[5] = {.1, .2, .3, .4, .5},
                      kImageNet[5] = {.1, .2, .3, .4, .5};
  const double c = it.pick(kCifar, kTiny, kImageNet);
  // V (the largest channel) + c, hue and saturation kept: every channel scales with V.
  return per_pixel(it.x, [c](float* p, int ch) {
    float v = 0;
    for (int k = 0; k < ch; ++k) v = std::max(v, p[k]);
    const float v2 = std::min(1.f, v + static_cast<float>(c));
    for (int k = 0; k < ch; ++k) p[k] = v > 0 ? p[k] * v2 / v : v2;
  });
}

cv::Mat contrast(Item& it) {
  static const double kCifar[5] = {.75, .5, .4, .3, 0.15}, kTiny[5] = {.4, .3, .2, .1, .05},
                      kImageNet[5] = {.4, .3, .2, .1, .05};
  const double c = it.pick(kCifar, kTiny, kImageNet);
  const cv::Scalar mean = cv::mean(it.x);
  cv::Mat means(it.x.size(), it.x.type(), mean);
  return (it.x - means) * c + means;
}

cv::Mat saturate(Item& it) {
  struct P {
    double scale, add;
  };
  static const P kCifar[5] = {{0.3, 0}, {0.1, 0}, {1.5, 0}, {2, 0.1}, {2.5, 0.2}};
  static const P kTiny[5] = {{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {30, 0.2}};
  static const P kImageNet[5] = {{0.3, 0}, {0.1, 0}, {2, 0}, {5, 0.1}, {20, 0.2}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  // S = (V - min) / V scaled and shifted, hue and V kept. A grey pixel has hue 0 (red), as in
  // skimage, so a shift makes it reddish.
  return per_pixel(it.x, [c](float* p, int) {
    const float v = std::max({p[0], p[1], p[2]}), lo = std::min({p[0], p[1], p[2]});
    const double s = v > 0 ? (v - lo) / v : 0;
    const double s2 = std::min(1.0, std::max(0.0, s * c.scale + c.add));
    if (v - lo > 0) {
      for (int k = 0; k < 3; ++k) p[k] = static_cast<float>(v - s2 * v * (v - p[k]) / (v - lo));
    } else {
      p[1] = p[2] = static_cast<float>(v * (1 - s2));
    }
  });
}

cv::Mat elastic_transform(Item& it) {
  struct P {
    double alpha, sigma, affine;
  };
  static const P kCifar[5] = {
      {0, 0, .08}, {.05, .2, .07}, {.08, .06, .06}, {.1, .04, .05}, {.1, .03, .03}};
  static const P kTiny[5] = {
      {0, 0, .08}, {.05, .3, .06}, {.1, .08, .06}, {.1, .03, .03}, {.16, .03, .02}};
  static const P kImageNet[5] = {
      {2, .7, .1}, {2, .08, .2}, {.05, .01, .02}, {.07, .01, .02}, {.12, .01, .02}};
  const cv::Mat& x = it.x;
  // The tables are fractions of the image side: 32 for CIFAR-10-C, 64 for Tiny-ImageNet-C,
  // 244 (for 224) for ImageNet-C.
  const double side =
      std::max(x.rows, x.cols) * (it.table == Table::kImageNet ? 244.0 / 224.0 : 1.0);
  const P f = it.pick(kCifar, kTiny, kImageNet);
  const P c{f.alpha * side, f.sigma * side, f.affine * side};
  // A random affine map of three points around the centre.
  const float cy = static_cast<float>(x.rows / 2), cx = static_cast<float>(x.cols / 2);
  const float sq = static_cast<float>(std::min(x.rows, x.cols) / 3);
  const cv::Point2f from[3] = {{cy + sq, cx + sq}, {cy + sq, cx - sq}, {cy - sq, cx - sq}};
  cv::Point2f to[3];
  std::uniform_real_distribution<double> u(-c.affine, c.affine);
  for (int i = 0; i < 3; ++i) {
    const double a = u(it.rng), b = u(it.rng);
    to[i] = {from[i].x + static_cast<float>(a), from[i].y + static_cast<float>(b)};
  }
  cv::Mat warped;
  cv::warpAffine(x, warped, cv::getAffineTransform(from, to), x.size(), cv::INTER_LINEAR,
                 cv::BORDER_REFLECT_101);
  // Then a smooth random displacement field.
  const cv::Mat dx =
      gaussian(uniform_map(x.rows, x.cols, -1, 1, it.rng), c.sigma, 3, cv::BORDER_REFLECT) *
      c.alpha;
  const cv::Mat dy =
      gaussian(uniform_map(x.rows, x.cols, -1, 1, it.rng), c.sigma, 3, cv::BORDER_REFLECT) *
      c.alpha;
  cv::Mat map_x(x.size(), CV_32F), map_y(x.size(), CV_32F);
  for (int r = 0; r < x.rows; ++r)
    for (int k = 0; k < x.cols; ++k) {
      map_x.at<float>(r, k) = k + dx.at<float>(r, k);
      map_y.at<float>(r, k) = r + dy.at<float>(r, k);
    }
  cv::Mat out;
  cv::remap(warped, out, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REFLECT);
  return out;
}

cv::Mat pixelate(Item& it) {
  static const double kCifar[5] = {0.95, 0.9, 0.85, 0.75, 0.65};
  static const double kTiny[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
  static const double kImageNet[5] = {0.6, 0.5, 0.4, 0.3, 0.25};
  const double c = it.pick(kCifar, kTiny, kImageNet);
  const int w = std::max(1, static_cast<int>(it.x.cols * c));
  const int h = std::max(1, static_cast<int>(it.x.rows * c));
  return box_resize(box_resize(it.x, w, h), it.x.cols, it.x.rows);
}

cv::Mat jpeg_compression(Item& it) {
  static const int kCifar[5] = {80, 65, 58, 50, 40}, kTiny[5] = {65, 58, 50, 40, 25},
                   kImageNet[5] = {25, 18, 15, 10, 7};
  cv::Mat u8, out;
  it.x.convertTo(u8, CV_8U, 255.0);
  jpeg_8bit(u8, it.pick(kCifar, kTiny, kImageNet)).convertTo(out, CV_32F, 1 / 255.0);
  return out;
}

}  // namespace foil::corruption
