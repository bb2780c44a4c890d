#include "foil/report/figures.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "foil/core/error.h"

namespace foil {
namespace {

const cv::Scalar kPalette[] = {{180, 119, 31},  {14, 127, 255}, {44, 160, 44},  {40, 39, 214},
                               {189, 103, 148}, {75, 86, 140},  {194, 119, 227}};

/// Writes `bytes` to `path` through a temporary file, so readers never see half a file.
template <typename Writer>
void write_atomically(const std::string& path, Writer write) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw InputError(path + ": cannot write (check the folder exists and is writable)");
    write(out);
    if (!out) throw InputError(path + ": write failed");
  }
  std::filesystem::rename(tmp, path);
}

void write_png(const std::string& path, const cv::Mat& img) {
  std::vector<uchar> buf;
  cv::imencode(".png", img, buf);
  write_atomically(path, [&](std::ofstream& out) {
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
  });
}

void put_text(cv::Mat& img, const std::string& text, cv::Point at, double scale = 0.45,
              cv::Scalar colour = {30, 30, 30}, int thickness = 1) {
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv::LINE_AA);
}

cv::Mat to_bgr(const torch::Tensor& image, int size) {
  torch::Tensor t = image.detach().cpu().clamp(0, 1).mul(255).round().to(torch::kUInt8);
  if (t.size(0) == 1) t = t.expand({3, t.size(1), t.size(2)});
  t = t.permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3, t.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  cv::resize(bgr, bgr, cv::Size(size, size), 0, 0, cv::INTER_NEAREST);
  return bgr;
}

}  // namespace

void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series, double y_min,
                     double y_max) {
  const int w = 720, h = 480, left = 70, right = 180, top = 60, bottom = 60;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  double x_min = 0, x_max = 0;
  bool first = true;
  for (const auto& s : series)
    for (double v : s.x) {
      x_min = first ? v : std::min(x_min, v);
      x_max = first ? v : std::max(x_max, v);
      first = false;
    }
  if (x_max <= x_min) x_max = x_min + 1;
  const int pw = w - left - right, ph = h - top - bottom;
  auto px = [&](double v) { return left + static_cast<int>((v - x_min) / (x_max - x_min) * pw); };
  auto py = [&](double v) {
    return top + ph - static_cast<int>((v - y_min) / (y_max - y_min) * ph);
  };
  for (int i = 0; i <= 5; ++i) {
    const double yv = y_min + (y_max - y_min) * i / 5.0, xv = x_min + (x_max - x_min) * i / 5.0;
    cv::line(img, {left, py(yv)}, {left + pw, py(yv)}, {225, 225, 225});
    put_text(img, fmt::format("{:.2f}", yv), {left - 45, py(yv) + 4}, 0.4);
    cv::line(img, {px(xv), top + ph}, {px(xv), top + ph + 5}, {0, 0, 0});
    put_text(img, fmt::format("{:.3g}", xv), {px(xv) - 12, top + ph + 20}, 0.4);
  }
  cv::rectangle(img, {left, top}, {left + pw, top + ph}, {0, 0, 0});
  // The title on its own line, the y-axis label above the axis below it.
  put_text(img, title, {left, 24}, 0.55, {0, 0, 0}, 1);
  put_text(img, x_label, {left + pw / 2 - 30, h - 15}, 0.45);
  put_text(img, y_label, {5, top - 12}, 0.4);
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const cv::Scalar colour = kPalette[i % 7];
    for (size_t j = 0; j < s.x.size(); ++j) {
      cv::Point p{px(s.x[j]), py(s.y[j])};
      cv::circle(img, p, 3, colour, cv::FILLED, cv::LINE_AA);
      if (j > 0) cv::line(img, {px(s.x[j - 1]), py(s.y[j - 1])}, p, colour, 2, cv::LINE_AA);
    }
    const int ly = top + 15 + static_cast<int>(i) * 20;
    cv::line(img, {left + pw + 10, ly - 4}, {left + pw + 30, ly - 4}, colour, 2, cv::LINE_AA);
    put_text(img, s.label, {left + pw + 35, ly}, 0.42);
  }
  write_png(path, img);
}

void write_image_grid(const std::string& path, const std::vector<std::vector<GridCell>>& rows,
                      const std::vector<std::string>& row_titles, int cell) {
  size_t cols = 0;
  for (const auto& r : rows) cols = std::max(cols, r.size());
  const int title_w = 90, caption_h = 34, pad = 6;
  const int w = title_w + static_cast<int>(cols) * (cell + pad) + pad;
  const int h = static_cast<int>(rows.size()) * (cell + caption_h + pad) + pad;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  for (size_t r = 0; r < rows.size(); ++r) {
    const int y0 = pad + static_cast<int>(r) * (cell + caption_h + pad);
    if (r < row_titles.size()) put_text(img, row_titles[r], {4, y0 + cell / 2}, 0.45);
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const int x0 = title_w + pad + static_cast<int>(c) * (cell + pad);
      to_bgr(rows[r][c].image, cell).copyTo(img(cv::Rect(x0, y0, cell, cell)));
      const cv::Scalar colour =
          rows[r][c].alert ? cv::Scalar(30, 30, 220) : cv::Scalar(40, 120, 40);
      put_text(img, rows[r][c].caption.substr(0, 18), {x0, y0 + cell + 14}, 0.38, colour);
    }
  }
  write_png(path, img);
}

void write_heatmap(const std::string& path, const std::string& title,
                   const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                   const std::vector<std::vector<double>>& values) {
  const int cell = 90, left = 150, top = 70;
  const int w = left + cell * static_cast<int>(cols.size()) + 20;
  const int h = top + cell * static_cast<int>(rows.size()) + 20;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  put_text(img, title, {10, 22}, 0.55, {0, 0, 0});
  for (size_t c = 0; c < cols.size(); ++c)
    put_text(img, cols[c].substr(0, 12), {left + static_cast<int>(c) * cell + 6, top - 10}, 0.42);
  for (size_t r = 0; r < rows.size(); ++r) {
    const int y = top + static_cast<int>(r) * cell;
    put_text(img, rows[r].substr(0, 18), {8, y + cell / 2 + 5}, 0.42);
    for (size_t c = 0; c < cols.size(); ++c) {
      const double v = std::clamp(values[r][c], 0.0, 1.0);
      cv::Mat px(1, 1, CV_8UC1, cv::Scalar(static_cast<int>(v * 255)));
      cv::Mat colour;
      cv::applyColorMap(px, colour, cv::COLORMAP_VIRIDIS);
      const cv::Vec3b bgr = colour.at<cv::Vec3b>(0, 0);
      const int x = left + static_cast<int>(c) * cell;
      cv::rectangle(img, {x, y}, {x + cell - 2, y + cell - 2}, cv::Scalar(bgr[0], bgr[1], bgr[2]),
                    cv::FILLED);
      put_text(img, fmt::format("{:.2f}", values[r][c]), {x + 22, y + cell / 2 + 5}, 0.5,
               v > 0.6 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255));
    }
  }
  write_png(path, img);
}

torch::Tensor draw_skeleton(const torch::Tensor& image, const torch::Tensor& kp,
                            const std::vector<std::pair<int, int>>& edges,
                            const std::array<double, 3>& rgb, int scale) {
  const int64_t h = image.size(1), w = image.size(2);
  torch::Tensor img = image.detach().cpu().to(torch::kFloat32);
  if (img.size(0) == 1) img = img.expand({3, h, w});
  torch::Tensor big =
      img.repeat_interleave(scale, 1).repeat_interleave(scale, 2).permute({1, 2, 0}).contiguous();
  cv::Mat m(static_cast<int>(h * scale), static_cast<int>(w * scale), CV_32FC3, big.data_ptr());
  const cv::Scalar colour(rgb[0], rgb[1], rgb[2]);
  const torch::Tensor p = kp.detach().cpu().to(torch::kFloat32);
  auto pt = [&](int64_t k) {
    return cv::Point(static_cast<int>((p[k][0].item<float>() + 0.5f) * scale),
                     static_cast<int>((p[k][1].item<float>() + 0.5f) * scale));
  };
  for (const auto& [a, b] : edges)
    if (a < p.size(0) && b < p.size(0)) cv::line(m, pt(a), pt(b), colour, 2, cv::LINE_AA);
  for (int64_t k = 0; k < p.size(0); ++k) cv::circle(m, pt(k), 3, colour, cv::FILLED, cv::LINE_AA);
  return big.permute({2, 0, 1}).clone();
}

torch::Tensor draw_boxes(const torch::Tensor& image, const std::vector<LabelledBox>& boxes) {
  const int64_t h = image.size(1), w = image.size(2);
  torch::Tensor img = image.detach().cpu().to(torch::kFloat32);
  if (img.size(0) == 1) img = img.expand({3, h, w});
  torch::Tensor hwc =
      img.permute({1, 2, 0}).mul(255).round().clamp(0, 255).to(torch::kUInt8).contiguous();
  cv::Mat m(static_cast<int>(h), static_cast<int>(w), CV_8UC3, hwc.data_ptr());
  const int thick = std::max<int>(2, static_cast<int>(std::min(h, w) / 250));
  const double font = std::max(0.5, std::min(h, w) / 800.0);
  for (const auto& b : boxes) {
    const cv::Scalar bgr = kPalette[b.colour % 7];
    const cv::Scalar colour(bgr[2], bgr[1], bgr[0]);  // the image here is RGB
    const cv::Point p1(static_cast<int>(b.x1), static_cast<int>(b.y1));
    cv::rectangle(m, p1, {static_cast<int>(b.x2), static_cast<int>(b.y2)}, colour, thick,
                  cv::LINE_AA);
    int base = 0;
    const cv::Size text = cv::getTextSize(b.label, cv::FONT_HERSHEY_SIMPLEX, font, 1, &base);
    const int top = p1.y - text.height - base - 4 >= 0 ? p1.y - text.height - base - 4 : p1.y;
    const int left = std::clamp(p1.x, 0, std::max(0, static_cast<int>(w) - text.width - 4));
    cv::rectangle(m, {left, top}, {left + text.width + 4, top + text.height + base + 4}, colour,
                  cv::FILLED);
    put_text(m, b.label, {left + 2, top + text.height + 2}, font, {255, 255, 255}, 1);
  }
  return hwc.to(torch::kFloat32).div(255).permute({2, 0, 1}).contiguous();
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_atomically(path, [&](std::ofstream& out) { out << value.dump(2) << "\n"; });
}

void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  auto line = [](std::ofstream& out, const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      const std::string& c = cells[i];
      const bool quote = c.find_first_of(",\"\n") != std::string::npos;
      std::string esc = c;
      if (quote) {
        esc.clear();
        for (char ch : c) esc += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        esc = "\"" + esc + "\"";
      }
      out << (i ? "," : "") << esc;
    }
    out << "\n";
  };
  write_atomically(path, [&](std::ofstream& out) {
    line(out, header);
    for (const auto& r : rows) line(out, r);
  });
}

void save_tensor(const std::string& path, const torch::Tensor& tensor) {
  const std::vector<char> bytes = torch::pickle_save(tensor.detach().cpu().contiguous());
  write_atomically(path, [&](std::ofstream& out) {
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  });
}

}  // namespace foil
