// The helpers several corruptions are built from, after the benchmark's reference code.
#include "kernels.h"

#include <cmath>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace foil::corruption {

cv::Mat gaussian(const cv::Mat& x, double sigma, double truncate, int border) {
  if (sigma <= 0) return x.clone();
  const int k = 2 * static_cast<int>(truncate * sigma + 0.5) + 1;
  cv::Mat out;
  cv::GaussianBlur(x, out, cv::Size(k, k), sigma, sigma, border);
  return out;
}

namespace {

/// scipy.ndimage.zoom's source coordinate of each of `n` pixels of the centre crop of a side
/// of `side` pixels zoomed by `z` and trimmed back to `side`. As the reference: the crop is
/// ceil(side / z) pixels, and scipy sizes the zoomed crop with Python's round(), which rounds
/// halves to even (26 pixels zoomed by 1.25 make 32, not 33).
cv::Mat zoom_axis(int side, double z) {
  const int crop = static_cast<int>(std::ceil(side / z));
  const int top = (side - crop) / 2;
  const double exact = crop * z, whole = std::floor(exact);
  const bool half = exact - whole == 0.5;
  const int zoomed = static_cast<int>(half ? whole + std::fmod(whole, 2.0) : std::round(exact));
  const int trim = (zoomed - side) / 2;
  cv::Mat at(1, side, CV_32F);
  for (int i = 0; i < side; ++i) {
    const double r = i + trim;
    const double in = zoomed > 1 ? r * (crop - 1) / (zoomed - 1.0) : 0.0;
    at.at<float>(0, i) = static_cast<float>(top + in);
  }
  return at;
}

}  // namespace

cv::Mat clipped_zoom(const cv::Mat& x, double z) {
  const cv::Mat ax = zoom_axis(x.cols, z), ay = zoom_axis(x.rows, z);
  cv::Mat map_x(x.rows, x.cols, CV_32F), map_y(x.rows, x.cols, CV_32F);
  for (int r = 0; r < x.rows; ++r)
    for (int c = 0; c < x.cols; ++c) {
      map_x.at<float>(r, c) = ax.at<float>(0, c);
      map_y.at<float>(r, c) = ay.at<float>(0, r);
    }
  cv::Mat out;
  cv::remap(x, out, map_x, map_y, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat motion_blur_shift(const cv::Mat& x, int radius, double sigma, double angle) {
  const int width = 2 * radius + 1;
  std::vector<double> k(width);
  double sum = 0;
  for (int i = 0; i < width; ++i) sum += k[i] = std::exp(-i * i / (2 * sigma * sigma));
  const double a = angle * M_PI / 180, py = width * std::sin(a), px = width * std::cos(a);
  const double hyp = std::hypot(py, px);
  cv::Mat padded, out = cv::Mat::zeros(x.size(), x.type());
  cv::copyMakeBorder(x, padded, width, width, width, width, cv::BORDER_REPLICATE);
  for (int i = 0; i < width; ++i) {
    const int dy = -static_cast<int>(std::ceil(i * py / hyp - 0.5));
    const int dx = -static_cast<int>(std::ceil(i * px / hyp - 0.5));
    if (std::abs(dy) >= x.rows || std::abs(dx) >= x.cols) break;  // past the image
    out += padded(cv::Rect(width - dx, width - dy, x.cols, x.rows)) * (k[i] / sum);
  }
  return out;
}

cv::Mat jpeg_8bit(const cv::Mat& u8, int quality) {
  const bool colour = u8.channels() == 3;
  cv::Mat bgr = u8, out;
  if (colour) cv::cvtColor(u8, bgr, cv::COLOR_RGB2BGR);
  std::vector<uchar> bytes;
  cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, quality});
  out = cv::imdecode(bytes, colour ? cv::IMREAD_COLOR : cv::IMREAD_GRAYSCALE);
  if (colour) cv::cvtColor(out, out, cv::COLOR_BGR2RGB);
  return out;
}

cv::Mat plasma_fractal(int n, double decay, Rng& rng) {
  std::vector<double> m(static_cast<size_t>(n) * n, 0.0);
  auto at = [&](int r, int c) -> double& { return m[static_cast<size_t>(r) * n + c]; };
  double wibble = 100;
  std::uniform_real_distribution<double> u(-1, 1);
  auto wibbled = [&](double v) { return v / 4 + wibble * (wibble * u(rng)); };
  for (int s = n; s >= 2; s /= 2, wibble /= decay) {
    const int g = n / s, h = s / 2;
    // Squares: each centre from its four corners.
    std::vector<double> sq(static_cast<size_t>(g) * g);
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) {
        const int i1 = (i + 1) % g, j1 = (j + 1) % g;
        sq[i * g + j] =
            at(i * s, j * s) + at(i1 * s, j * s) + at(i * s, j1 * s) + at(i1 * s, j1 * s);
      }
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) at(h + i * s, h + j * s) = wibbled(sq[i * g + j]);
    // Diamonds: the edge midpoints from the two centres and two corners beside them.
    std::vector<double> lt(static_cast<size_t>(g) * g), tt(static_cast<size_t>(g) * g);
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) {
        const int ip = (i - 1 + g) % g, jp = (j - 1 + g) % g, i1 = (i + 1) % g, j1 = (j + 1) % g;
        lt[i * g + j] = at(h + i * s, h + j * s) + at(h + ip * s, h + j * s) + at(i * s, j * s) +
                        at(i * s, j1 * s);
        tt[i * g + j] = at(h + i * s, h + j * s) + at(h + i * s, h + jp * s) + at(i * s, j * s) +
                        at(i1 * s, j * s);
      }
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) at(i * s, h + j * s) = wibbled(lt[i * g + j]);
    for (int i = 0; i < g; ++i)
      for (int j = 0; j < g; ++j) at(h + i * s, j * s) = wibbled(tt[i * g + j]);
  }
  cv::Mat out(n, n, CV_64F, m.data());
  double lo = 0, hi = 0;
  cv::minMaxLoc(out, &lo, &hi);
  cv::Mat f;
  out.convertTo(f, CV_32F, hi > lo ? 1 / (hi - lo) : 0, hi > lo ? -lo / (hi - lo) : 0);
  return f;
}

cv::Mat grey(const cv::Mat& x) {
  if (x.channels() == 1) return x.clone();
  cv::Mat g;
  cv::cvtColor(x, g, cv::COLOR_RGB2GRAY);
  return g;
}

cv::Mat like(const cv::Mat& map, const cv::Mat& x) {
  if (x.channels() == 1) return map;
  cv::Mat out;
  cv::merge(std::vector<cv::Mat>(x.channels(), map), out);
  return out;
}

namespace {

/// An H×W single-channel float matrix of draws from `d`, row by row.
template <typename Distribution>
cv::Mat draws(int rows, int cols, Distribution d, Rng& rng) {
  cv::Mat m(rows, cols, CV_32F);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) m.at<float>(r, c) = static_cast<float>(d(rng));
  return m;
}

}  // namespace

cv::Mat uniform_map(int rows, int cols, double lo, double hi, Rng& rng) {
  return draws(rows, cols, std::uniform_real_distribution<double>(lo, hi), rng);
}

cv::Mat normal_map(int rows, int cols, double mean, double sd, Rng& rng) {
  return draws(rows, cols, std::normal_distribution<double>(mean, sd), rng);
}

}  // namespace foil::corruption
