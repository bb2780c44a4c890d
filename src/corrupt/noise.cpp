// Noise: gaussian, shot (Poisson), impulse (salt and pepper) and speckle, per pixel value.
#include <cmath>

#include "kernels.h"

namespace foil::corruption {
namespace {

/// `x` with each value v replaced by f(v).
template <typename F>
cv::Mat per_value(const cv::Mat& x, F f) {
  cv::Mat out = x.clone();
  auto* p = out.ptr<float>();
  const size_t n = out.total() * out.channels();
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<float>(f(static_cast<double>(p[i])));
  return out;
}

}  // namespace

cv::Mat gaussian_noise(Item& it) {
  static const double kCifar[5] = {.04, .06, .08, .09, .10}, kTiny[5] = {.04, .08, .12, .15, .18},
                      kImageNet[5] = {.08, .12, .18, .26, .38};
  std::normal_distribution<double> n(0, it.pick(kCifar, kTiny, kImageNet));
  return per_value(it.x, [&](double v) { return v + n(it.rng); });
}

cv::Mat shot_noise(Item& it) {
  static const double kCifar[5] = {500, 250, 100, 75, 50}, kTiny[5] = {250, 100, 50, 30, 15},
                      kImageNet[5] = {60, 25, 12, 5, 3};
  const double c = it.pick(kCifar, kTiny, kImageNet);
  return per_value(it.x, [&](double v) {
    if (v <= 0) return 0.0;  // Poisson of mean 0
    std::poisson_distribution<int64_t> p(v * c);
    return p(it.rng) / c;
  });
}

cv::Mat impulse_noise(Item& it) {
  static const double kCifar[5] = {.01, .02, .03, .05, .07}, kTiny[5] = {.01, .02, .05, .08, .14},
                      kImageNet[5] = {.03, .06, .09, .17, .27};
  std::bernoulli_distribution flip(it.pick(kCifar, kTiny, kImageNet)), salt(0.5);
  return per_value(it.x, [&](double v) {
    const bool f = flip(it.rng), s = salt(it.rng);
    return f ? (s ? 1.0 : 0.0) : v;
  });
}

cv::Mat speckle_noise(Item& it) {
  static const double kCifar[5] = {.06, .1, .12, .16, .2}, kTiny[5] = {.15, .2, .25, .3, .35},
                      kImageNet[5] = {.15, .2, .35, .45, .6};
  std::normal_distribution<double> n(0, it.pick(kCifar, kTiny, kImageNet));
  return per_value(it.x, [&](double v) { return v + v * n(it.rng); });
}

}  // namespace foil::corruption
