// Weather: snow (a zoomed, thresholded, motion-blurred layer), frost (a procedural ice
// texture: foil ships no photographs), fog (the plasma fractal) and spatter (water or mud).
#include <cmath>
#include <opencv2/imgproc.hpp>

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
  static const P kSmall[5] = {{0.1, 0.2, 1, 0.6, 8, 3, 0.95},
                              {0.1, 0.2, 1, 0.5, 10, 4, 0.9},
                              {0.15, 0.3, 1.75, 0.55, 10, 4, 0.9},
                              {0.25, 0.3, 2.25, 0.6, 12, 6, 0.85},
                              {0.3, 0.3, 1.25, 0.65, 14, 12, 0.8}};
  static const P kLarge[5] = {{0.1, 0.3, 3, 0.5, 10, 4, 0.8},
                              {0.2, 0.3, 2, 0.5, 12, 4, 0.7},
                              {0.55, 0.3, 4, 0.9, 12, 8, 0.7},
                              {0.55, 0.3, 4.5, 0.85, 12, 8, 0.65},
                              {0.55, 0.3, 2.5, 0.85, 12, 12, 0.55}};
  const P c = it.pick(kSmall, kLarge);
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

cv::Mat frost(Item& it) {
  struct P {
    double keep, ice;
  };
  static const P kSmall[5] = {{1, 0.2}, {1, 0.3}, {0.9, 0.4}, {0.85, 0.4}, {0.75, 0.45}};
  static const P kLarge[5] = {{1, 0.4}, {0.8, 0.6}, {0.7, 0.7}, {0.65, 0.7}, {0.6, 0.75}};
  const P c = it.pick(kSmall, kLarge);
  // Ice: thin bright veins (the ridges of a fine fractal) over a cloudy one, bluish white,
  // scaled to a mean of 0.5 like the reference's frost photographs.
  const cv::Mat fine = plasma_like(it.x, 1.5, it.rng), cloud = plasma_like(it.x, 2, it.rng);
  cv::Mat ridges = 1.0 - cv::abs(fine * 2.0 - 1.0), veins;
  cv::pow(ridges, 4, veins);
  cv::Mat ice = 0.7 * veins + 0.3 * cloud;
  const double mean = cv::mean(ice)[0];
  if (mean > 0) ice *= 0.5 / mean;
  ice = cv::min(ice, 1.0);
  cv::Mat tinted;
  if (it.x.channels() == 1) {
    tinted = ice;
  } else {
    cv::merge(std::vector<cv::Mat>{ice * 0.85, ice * 0.93, ice}, tinted);
  }
  return c.keep * it.x + c.ice * tinted;
}

cv::Mat fog(Item& it) {
  struct P {
    double amount, decay;
  };
  static const P kSmall[5] = {{.2, 3}, {.5, 3}, {.75, 2.5}, {1, 2}, {1.5, 1.75}};
  static const P kLarge[5] = {{1.5, 2}, {2, 2}, {2.5, 1.7}, {2.5, 1.5}, {3, 1.4}};
  const P c = it.pick(kSmall, kLarge);
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
  static const P kSmall[5] = {{0.62, 0.1, 0.7, 0.7, 0.5, false},
                              {0.65, 0.1, 0.8, 0.7, 0.5, false},
                              {0.65, 0.3, 1, 0.69, 0.5, false},
                              {0.65, 0.1, 0.7, 0.69, 0.6, true},
                              {0.65, 0.1, 0.5, 0.68, 0.6, true}};
  static const P kLarge[5] = {{0.65, 0.3, 4, 0.69, 0.6, false},
                              {0.65, 0.3, 3, 0.68, 0.6, false},
                              {0.65, 0.3, 2, 0.68, 0.5, false},
                              {0.65, 0.3, 1, 0.65, 1.5, true},
                              {0.67, 0.4, 1, 0.65, 1.5, true}};
  const P c = it.pick(kSmall, kLarge);
  const cv::Mat& x = it.x;
  cv::Mat liquid = gaussian(normal_map(x.rows, x.cols, c.mean, c.sd, it.rng), c.sigma);
  liquid.setTo(0, liquid < c.threshold);
  if (!c.mud) {
    // Water: drops edged by their distance to the nearest edge, pale turquoise.
    cv::Mat u8, edges, dist, d8;
    liquid.convertTo(u8, CV_8U, 255.0);
    cv::Canny(u8, edges, 50, 150);
    cv::distanceTransform(255 - edges, dist, cv::DIST_L2, 5);
    cv::threshold(dist, dist, 20, 20, cv::THRESH_TRUNC);
    cv::blur(dist, dist, cv::Size(3, 3));
    dist.convertTo(d8, CV_8U);
    cv::equalizeHist(d8, d8);
    const cv::Mat ker = (cv::Mat_<float>(3, 3) << -2, -1, 0, -1, 1, 1, 0, 1, 2);
    cv::filter2D(d8, d8, CV_8U, ker);
    d8.convertTo(dist, CV_32F);
    cv::blur(dist, dist, cv::Size(3, 3));
    cv::Mat m = liquid.mul(dist);
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
  cv::Mat mud(x.size(), x.type(), colour(x, 63, 42, 20));
  return x.mul(1.0 - m) + mud.mul(m);
}

}  // namespace foil::corruption
