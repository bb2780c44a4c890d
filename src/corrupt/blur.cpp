// Blur: defocus (an anti-aliased disk), glass (blur, local pixel shuffles, blur), motion
// (shift-and-add along a random direction), zoom (the mean of centre zooms) and gaussian.
#include <cmath>
#include <opencv2/imgproc.hpp>

#include "kernels.h"

namespace foil::corruption {

cv::Mat defocus_blur(Item& it) {
  struct P {
    double radius, alias;
  };
  static const P kCifar[5] = {{0.3, 0.4}, {0.4, 0.5}, {0.5, 0.6}, {1, 0.2}, {1.5, 0.1}};
  static const P kTiny[5] = {{0.5, 0.6}, {1, 0.1}, {1.5, 0.1}, {2.5, 0.01}, {3, 0.1}};
  static const P kImageNet[5] = {{3, 0.1}, {4, 0.5}, {6, 0.5}, {8, 0.5}, {10, 0.5}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  // The reference's disk: a 17x17 grid (radius <= 8) or one of the radius, smoothed by a 3x3
  // (5x5) Gaussian to anti-alias it.
  const int half = c.radius <= 8 ? 8 : static_cast<int>(c.radius);
  cv::Mat disk(2 * half + 1, 2 * half + 1, CV_32F);
  for (int y = -half; y <= half; ++y)
    for (int x = -half; x <= half; ++x)
      disk.at<float>(y + half, x + half) = x * x + y * y <= c.radius * c.radius ? 1.f : 0.f;
  disk /= cv::sum(disk)[0];
  const int k = c.radius <= 8 ? 3 : 5;
  cv::GaussianBlur(disk, disk, cv::Size(k, k), c.alias);
  cv::Mat out;
  cv::filter2D(it.x, out, -1, disk);
  return out;
}

cv::Mat glass_blur(Item& it) {
  struct P {
    double sigma;
    int delta, iterations;
  };
  static const P kCifar[5] = {{0.05, 1, 1}, {0.25, 1, 1}, {0.4, 1, 1}, {0.25, 1, 2}, {0.4, 1, 2}};
  static const P kTiny[5] = {{0.1, 1, 1}, {0.5, 1, 1}, {0.6, 1, 2}, {0.7, 2, 1}, {0.9, 2, 2}};
  static const P kImageNet[5] = {{0.7, 1, 2}, {0.9, 2, 1}, {1, 2, 3}, {1.1, 3, 2}, {1.5, 4, 2}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  // The blurred image in whole 1/255 steps, truncated as the reference's uint8 cast.
  cv::Mat q = gaussian(it.x, c.sigma) * 255.0;
  const int ch = q.channels();
  for (int r = 0; r < q.rows; ++r)
    for (int i = 0; i < q.cols * ch; ++i) {
      float& v = q.ptr<float>(r)[i];
      v = std::floor(std::min(255.f, std::max(0.f, v)));
    }
  // "Locally shuffle pixels" as the reference's code runs: its swap of two numpy views of
  // an RGB image copies one way, so each pixel (bottom-right first) takes the value of one
  // within `delta` of it, which keeps its own.
  std::uniform_int_distribution<int> d(-c.delta, c.delta - 1);
  for (int n = 0; n < c.iterations; ++n)
    for (int h = q.rows - c.delta; h > c.delta; --h)
      for (int w = q.cols - c.delta; w > c.delta; --w) {
        const int dx = d(it.rng), dy = d(it.rng);
        for (int k = 0; k < ch; ++k)
          q.ptr<float>(h)[w * ch + k] = q.ptr<float>(h + dy)[(w + dx) * ch + k];
      }
  cv::Mat f = q / 255.0;
  return gaussian(f, c.sigma);
}

cv::Mat motion_blur(Item& it) {
  struct P {
    int radius;
    double sigma;
  };
  static const P kCifar[5] = {{6, 1}, {6, 1.5}, {6, 2}, {8, 2}, {9, 2.5}};
  static const P kTiny[5] = {{10, 1}, {10, 1.5}, {10, 2}, {10, 2.5}, {12, 3}};
  static const P kImageNet[5] = {{10, 3}, {15, 5}, {15, 8}, {15, 12}, {20, 15}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  const double angle = std::uniform_real_distribution<double>(-45, 45)(it.rng);
  return motion_blur_shift(it.x, c.radius, c.sigma, angle);
}

cv::Mat zoom_blur(Item& it) {
  struct P {
    int count;
    double step;
  };
  // numpy's arange(1, stop, step) lengths in the reference (its float steps included).
  static const P kCifar[5] = {{7, .01}, {12, .01}, {16, .01}, {21, .01}, {26, .01}};
  static const P kTiny[5] = {{7, .01}, {12, .01}, {16, .01}, {21, .01}, {26, .01}};
  static const P kImageNet[5] = {{12, .01}, {16, .01}, {11, .02}, {13, .02}, {11, .03}};
  const P c = it.pick(kCifar, kTiny, kImageNet);
  // numpy's arange(1, stop, step) fills in 1 + k * ((1 + step) - 1), not 1 + k * step: the
  // factors differ in the last bits, and so do some crop sizes (ceil(side / z)).
  const double delta = (1 + c.step) - 1;
  cv::Mat sum = it.x.clone();
  for (int k = 0; k < c.count; ++k) sum += clipped_zoom(it.x, 1 + k * delta);
  return sum / (c.count + 1);
}

cv::Mat gaussian_blur(Item& it) {
  static const double kCifar[5] = {.4, .6, .7, .8, 1}, kTiny[5] = {.5, .75, 1, 1.25, 1.5},
                      kImageNet[5] = {1, 2, 3, 4, 6};
  return gaussian(it.x, it.pick(kCifar, kTiny, kImageNet));
}

}  // namespace foil::corruption
