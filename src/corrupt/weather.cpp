// Weather: snow (a zoomed, thresholded, motion-blurred layer), frost (a procedural ice
// texture: foil ships no photographs), fog (the plasma fractal) and spatter (water or mud).
#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "kernels.h"

namespace foil::corruption {
namespace {

/// The smallest power of two >= n.
int power_of_two(int n) {
  int p = 1;
  while (p < n) p *= 2;
  return p;
}

/// A plasma fractal the size of `x`.
cv::Mat plasma_like(const cv::Mat& x, double decay, Rng& rng) {
  const int n = power_of_two(std::max(x.rows, x.cols));
  return plasma_fractal(n, decay, rng)(cv::Rect(0, 0, x.cols, x.rows)).clone();
}

/// `rgb` (components in 0..255) as `x`'s channels: itself, or its luminance for grey images.
cv::Scalar colour(const cv::Mat& x, double r, double g, double b) {
  if (x.channels() == 1) return cv::Scalar((0.299 * r + 0.587 * g + 0.114 * b) / 255);
  return cv::Scalar(r / 255, g / 255, b / 255);
}

/// numpy's `astype(np.uint8)` of `v` (one channel, float, >= 0): the whole part, at most 255.
cv::Mat truncated_u8(const cv::Mat& v) {
  cv::Mat out(v.size(), CV_8U);
  for (int r = 0; r < v.rows; ++r)
    for (int c = 0; c < v.cols; ++c)
      out.at<uint8_t>(r, c) = static_cast<uint8_t>(std::min(v.at<float>(r, c), 255.0f));
  return out;
}

/// `v` rounded to whole 1/255 steps (the reference's 8-bit layers).
cv::Mat quantise(const cv::Mat& v) {
  cv::Mat u8, f;
  v.convertTo(u8, CV_8U, 255.0);
  u8.convertTo(f, CV_32F, 1 / 255.0);
  return f;
}

}  // namespace

cv::Mat snow(Item& it) {
  struct P {
    double mean, sd, zoom, threshold;
    int radius;
    double sigma, keep;
  };
  static const P kCifar[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
                              {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
                              {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
                              {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
                              {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}};
  static const P kTiny[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.8},
                             {0.1, 0.2, 1, 0.5, 10, 4, 0.8},
                             {0.15, 0.3, 1.75, 0.55, 10, 4, 0.7},
                             {0.25, 0.3, 2.25, 0.6, 12, 6, 0.65},
                             {0.3, 0.3, 1.25, 0.65, 14, 12, 0.6}};
  static const P kImageNet[5] = {{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
                                 {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
                                 {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
                                 {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
                                 {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  const cv::Mat& x = it.x;
  cv::Mat layer = clipped_zoom(normal_map(x.rows, x.cols, c.mean, c.sd, it.rng), c.zoom);
  layer.setTo(0, layer < c.threshold);
  layer = cv::min(cv::max(layer, 0.0), 1.0);
  const double angle = std::uniform_real_distribution<double>(-135, -45)(it.rng);
  layer = quantise(motion_blur_shift(layer, c.radius, c.sigma, angle));
  cv::Mat flipped;
  cv::flip(layer, flipped, -1);  // rotated by 180 degrees
  const cv::Mat bright = like(grey(x) * 1.5 + 0.5, x);
  cv::Mat out = c.keep * x + (1 - c.keep) * cv::max(x, bright);
  return out + like(layer + flipped, x);
}

namespace {

/// One of the reference's frost photographs as foil's texture stands in for it: the mean colour
/// and the spread (standard deviation, per RGB channel, 0..1) of the crops the reference cuts
/// from it, averaged over every place a crop can start (ImageNet: 224-pixel crops of the photo;
/// Tiny-ImageNet: 64-pixel crops of the photo shrunk by 0.3; CIFAR: 32-pixel crops of the photo
/// shrunk by 0.2), and the make-up of its texture, fitted to the crops' autocorrelation at lags
/// of 1 to half the crop: `cloud` of its variance in a plasma fractal, the rest in the ridges
/// of white noise blurred by a Gaussian of `grain` pixels.
struct FrostPhoto {
  double mean[3], sd[3], cloud, grain;
};

/// The reference draws one of its first five photographs (frost1-5; frost6 is never drawn).
const FrostPhoto kFrostCifar[5] = {{{0.301, 0.581, 0.646}, {0.083, 0.051, 0.049}, 0.525, 0},
                                   {{0.778, 0.796, 0.832}, {0.070, 0.071, 0.073}, 0.275, 0.7},
                                   {{0.778, 0.796, 0.832}, {0.070, 0.071, 0.073}, 0.275, 0.7},
                                   {{0.563, 0.621, 0.671}, {0.101, 0.102, 0.106}, 0.225, 0},
                                   {{0.403, 0.447, 0.494}, {0.136, 0.135, 0.132}, 0.225, 0.7}};
const FrostPhoto kFrostTiny[5] = {{{0.302, 0.579, 0.644}, {0.084, 0.051, 0.049}, 0.65, 0.7},
                                  {{0.777, 0.794, 0.830}, {0.070, 0.072, 0.075}, 0.375, 1.5},
                                  {{0.777, 0.794, 0.830}, {0.070, 0.072, 0.075}, 0.375, 1.5},
                                  {{0.567, 0.625, 0.676}, {0.091, 0.092, 0.097}, 0.325, 0.7},
                                  {{0.397, 0.442, 0.488}, {0.128, 0.127, 0.124}, 0.2, 1.5}};
const FrostPhoto kFrostImageNet[5] = {{{0.302, 0.579, 0.644}, {0.092, 0.056, 0.052}, 0.55, 1.25},
                                      {{0.776, 0.793, 0.829}, {0.076, 0.078, 0.081}, 0.425, 2},
                                      {{0.776, 0.793, 0.829}, {0.076, 0.078, 0.081}, 0.4, 2},
                                      {{0.568, 0.626, 0.677}, {0.102, 0.102, 0.108}, 0.275, 1.5},
                                      {{0.395, 0.440, 0.487}, {0.141, 0.139, 0.136}, 0.225, 2.5}};

/// `m` less its mean, over its standard deviation (itself when flat).
cv::Mat standardised(const cv::Mat& m) {
  cv::Scalar mean, sd;
  cv::meanStdDev(m, mean, sd);
  return sd[0] > 0 ? cv::Mat((m - mean[0]) / sd[0]) : cv::Mat(m - mean[0]);
}

}  // namespace

cv::Mat frost(Item& it) {
  struct P {
    double keep, ice;
  };
  static const P kCifar[5] = {{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}};
  static const P kTiny[5] = {{1, 0.3}, {0.9, 0.4}, {0.8, 0.45}, {0.75, 0.5}, {0.7, 0.55}};
  static const P kImageNet[5] = {{1, 0.4}, {0.8, 0.6}, {0.7, 0.7}, {0.65, 0.7}, {0.6, 0.75}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  const int drawn = std::uniform_int_distribution<int>(0, 4)(it.rng);
  const FrostPhoto& photo = it.table == Table::kCifar  ? kFrostCifar[drawn]
                            : it.table == Table::kTiny ? kFrostTiny[drawn]
                                                       : kFrostImageNet[drawn];
  // Ice: bright veins (the ridges of blurred white noise) over a cloudy plasma fractal, in the
  // photograph's proportions, scaled to its mean colour and spread.
  cv::Mat grain = normal_map(it.x.rows, it.x.cols, 0, 1, it.rng), veins;
  grain = cv::abs(standardised(gaussian(grain, photo.grain))) * 0.5;
  cv::pow(1.0 - cv::min(grain, 1.0), 4, veins);
  const cv::Mat cloud = plasma_like(it.x, 1.5, it.rng);
  const cv::Mat texture = standardised(std::sqrt(1 - photo.cloud) * standardised(veins) +
                                       std::sqrt(photo.cloud) * standardised(cloud));
  const double* m = photo.mean;
  const double* sd = photo.sd;
  std::vector<cv::Mat> ice;
  if (it.x.channels() == 1) {
    // imagecorruptions greys the photograph with luma weights on its BGR channels as stored.
    const double grey_mean = 0.2989 * m[2] + 0.587 * m[1] + 0.114 * m[0];
    const double grey_sd = 0.2989 * sd[2] + 0.587 * sd[1] + 0.114 * sd[0];
    ice.push_back(grey_mean + grey_sd * texture);
  } else {
    for (int ch = 0; ch < 3; ++ch) ice.push_back(m[ch] + sd[ch] * texture);
  }
  cv::Mat layer;
  cv::merge(ice, layer);
  layer = cv::min(cv::max(layer, 0.0), 1.0);
  return c.keep * it.x + c.ice * layer;
}

cv::Mat fog(Item& it) {
  struct P {
    double amount, decay;
  };
  static const P kCifar[5] = {{.2, 3}, {.5, 3}, {.75, 2.5}, {1, 2}, {1.5, 1.75}};
  static const P kTiny[5] = {{.4, 3}, {.7, 3}, {1, 2.5}, {1.5, 2}, {2, 1.75}};
  static const P kImageNet[5] = {{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  double lo = 0, max = 0;
  cv::minMaxLoc(it.x.reshape(1), &lo, &max);
  const cv::Mat fogged = it.x + like(plasma_like(it.x, c.decay, it.rng) * c.amount, it.x);
  return fogged * (max / (max + c.amount));
}

cv::Mat spatter(Item& it) {
  struct P {
    double mean, sd, sigma, threshold, strength;
    bool mud;
  };
  static const P kCifar[5] = {{0.62, 0.1, 0.7, 0.7, 0.5, false},
                              {0.65, 0.1, 0.8, 0.7, 0.5, false},
                              {0.65, 0.3, 1, 0.69, 0.5, false},
                              {0.65, 0.1, 0.7, 0.69, 0.6, true},
                              {0.65, 0.1, 0.5, 0.68, 0.6, true}};
  static const P kTiny[5] = {{0.62, 0.1, 0.7, 0.7, 0.6, false},
                             {0.65, 0.1, 0.8, 0.7, 0.6, false},
                             {0.65, 0.3, 1, 0.69, 0.6, false},
                             {0.65, 0.1, 0.7, 0.68, 0.6, true},
                             {0.65, 0.1, 0.5, 0.67, 0.6, true}};
  static const P kImageNet[5] = {{0.65, 0.3, 4, 0.69, 0.6, false},
                                 {0.65, 0.3, 3, 0.68, 0.6, false},
                                 {0.65, 0.3, 2, 0.68, 0.5, false},
                                 {0.65, 0.3, 1, 0.65, 1.5, true},
                                 {0.67, 0.4, 1, 0.65, 1.5, true}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  const cv::Mat& x = it.x;
  cv::Mat liquid = gaussian(normal_map(x.rows, x.cols, c.mean, c.sd, it.rng), c.sigma);
  liquid.setTo(0, liquid < c.threshold);
  if (!c.mud) {
    // Water: drops edged by their distance to the nearest edge, pale turquoise. The 8-bit
    // steps are the reference's: numpy's uint8 casts truncate, OpenCV's box blur of an 8-bit
    // image rounds and stays 8-bit.
    cv::Mat drops = truncated_u8(liquid * 255), edges, dist, d8;
    cv::Canny(drops, edges, 50, 150);
    cv::distanceTransform(255 - edges, dist, cv::DIST_L2, 5);
    cv::threshold(dist, dist, 20, 20, cv::THRESH_TRUNC);
    cv::blur(dist, dist, cv::Size(3, 3));
    d8 = truncated_u8(dist);
    cv::equalizeHist(d8, d8);
    const cv::Mat ker = (cv::Mat_<float>(3, 3) << -2, -1, 0, -1, 1, 1, 0, 1, 2);
    cv::filter2D(d8, d8, CV_8U, ker);
    cv::blur(d8, d8, cv::Size(3, 3));
    cv::Mat m, depth;
    drops.convertTo(m, CV_32F);
    d8.convertTo(depth, CV_32F);
    m = m.mul(depth);
    double lo = 0, hi = 0;
    cv::minMaxLoc(m, &lo, &hi);
    if (hi > 0) m *= c.strength / hi;
    cv::Mat tint(x.size(), x.type(), colour(x, 175, 238, 238));
    return x + like(m, x).mul(tint);
  }
  // Mud: smoothed blobs where the layer passed the threshold, mud brown.
  cv::Mat blobs;
  cv::Mat(liquid > c.threshold).convertTo(blobs, CV_32F, 1 / 255.0);
  blobs = gaussian(blobs, c.strength);
  blobs.setTo(0, blobs < 0.8);
  const cv::Mat m = like(blobs, x);
  const cv::Mat mud(x.size(), x.type(), colour(x, 63, 42, 20));
  // x (1 - m) + mud m, written without `1.0 - m`: on a 3-channel matrix OpenCV reads 1.0 as
  // Scalar(1, 0, 0, 0) and would negate the blend in green and blue.
  return x - x.mul(m) + mud.mul(m);
}

}  // namespace foil::corruption
