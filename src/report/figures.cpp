#include "foil/report/figures.h"

#include <fmt/format.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "foil/core/error.h"
#include "foil/core/files.h"

namespace foil {
namespace {

const cv::Scalar kPalette[] = {{180, 119, 31},  {14, 127, 255}, {44, 160, 44},  {40, 39, 214},
                               {189, 103, 148}, {75, 86, 140},  {194, 119, 227}};

/// Writes `bytes` to `path` through a temporary file of this process's own, so readers never see
/// half a file (nor do processes writing the same file see each other's).
/// Writes what `write` puts into a stream to `path`, whole or not at all (write_file_atomically).
template <typename Writer>
void write_atomically(const std::string& path, Writer write) {
  std::ostringstream out;
  write(out);
  write_file_atomically(path, out.str());
}

void write_png(const std::string& path, const cv::Mat& img) {
  std::vector<uchar> buf;
  cv::imencode(".png", img, buf);
  write_file_atomically(path, std::string(buf.begin(), buf.end()));
}

void put_text(cv::Mat& img, const std::string& text, cv::Point at, double scale = 0.45,
              cv::Scalar colour = {30, 30, 30}, int thickness = 1) {
  cv::putText(img, text, at, cv::FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv::LINE_AA);
}

/// The image as BGR fitted into a size×size square (aspect ratio kept, centred on white)
/// with a grey border around the picture itself.
cv::Mat to_bgr(const torch::Tensor& image, int size) {
  torch::Tensor t = image.detach().cpu().clamp(0, 1).mul(255).round().to(torch::kUInt8);
  if (t.size(0) == 1) t = t.expand({3, t.size(1), t.size(2)});
  t = t.permute({1, 2, 0}).contiguous();
  cv::Mat rgb(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), CV_8UC3, t.data_ptr());
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  const double f = static_cast<double>(size - 2) / std::max(bgr.rows, bgr.cols);
  const int w = std::max(1, static_cast<int>(std::lround(bgr.cols * f)));
  const int h = std::max(1, static_cast<int>(std::lround(bgr.rows * f)));
  // Small images (28x28 digits) stay crisp; photos are shrunk smoothly.
  cv::resize(bgr, bgr, cv::Size(w, h), 0, 0, f >= 1 ? cv::INTER_NEAREST : cv::INTER_AREA);
  cv::Mat out(size, size, CV_8UC3, cv::Scalar(255, 255, 255));
  const cv::Rect at((size - w) / 2, (size - h) / 2, w, h);
  bgr.copyTo(out(at));
  cv::rectangle(out, cv::Rect(at.x - 1, at.y - 1, w + 2, h + 2) & cv::Rect(0, 0, size, size),
                {150, 150, 150});
  return out;
}

int text_width(const std::string& text, double scale) {
  int base = 0;
  return cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base).width;
}

/// `text` broken at spaces into lines no wider than `width` pixels (long words are cut).
std::vector<std::string> wrap(const std::string& text, int width, double scale) {
  std::vector<std::string> lines;
  std::string line, word;
  std::istringstream words(text);
  while (words >> word) {
    while (text_width(word, scale) > width && word.size() > 1) {  // a word wider than a line
      size_t n = word.size();
      while (n > 1 && text_width(word.substr(0, n), scale) > width) --n;
      if (!line.empty()) lines.push_back(line), line.clear();
      lines.push_back(word.substr(0, n));
      word = word.substr(n);
    }
    const std::string longer = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_width(longer, scale) > width) {
      lines.push_back(line);
      line = word;
    } else {
      line = longer;
    }
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

/// Draws a row's key (colour bar or swatches) in the box at `x`, `y` of height `h`.
void draw_key(cv::Mat& img, const RowKey& key, int x, int y, int h) {
  if (key.kind == RowKey::Kind::swatches) {
    int yy = y + 4;
    for (const auto& [rgb, name] : key.swatches) {
      const cv::Scalar colour(rgb[2] * 255, rgb[1] * 255, rgb[0] * 255);
      cv::rectangle(img, {x, yy}, {x + 14, yy + 14}, colour, cv::FILLED);
      cv::rectangle(img, {x, yy}, {x + 14, yy + 14}, {120, 120, 120});
      put_text(img, name, {x + 20, yy + 12}, 0.42);
      yy += 22;
    }
    return;
  }
  if (key.kind == RowKey::Kind::none) return;
  const int bar_h = h - 24, bar_w = 16;
  cv::Mat ramp(bar_h, 1, CV_8UC1);
  for (int i = 0; i < bar_h; ++i)
    ramp.at<uchar>(i, 0) = static_cast<uchar>(255 - 255 * i / (bar_h - 1));
  cv::Mat bar;
  if (key.kind == RowKey::Kind::jet)
    cv::applyColorMap(ramp, bar, cv::COLORMAP_JET);
  else
    cv::cvtColor(ramp, bar, cv::COLOR_GRAY2BGR);
  cv::resize(bar, bar, cv::Size(bar_w, bar_h), 0, 0, cv::INTER_NEAREST);
  bar.copyTo(img(cv::Rect(x, y + 12, bar_w, bar_h)));
  cv::rectangle(img, cv::Rect(x, y + 12, bar_w, bar_h), {120, 120, 120});
  put_text(img, key.high, {x + bar_w + 4, y + 20}, 0.4);
  put_text(img, key.low, {x + bar_w + 4, y + 12 + bar_h}, 0.4);
}

}  // namespace

void write_image_grid(const std::string& path, const std::vector<std::vector<GridCell>>& rows,
                      const std::vector<std::string>& row_titles, int cell,
                      const std::vector<RowKey>& keys) {
  size_t cols = 0;
  bool photos = false;
  for (const auto& r : rows) {
    cols = std::max(cols, r.size());
    for (const auto& c : r) photos = photos || c.image.size(1) > 96 || c.image.size(2) > 96;
  }
  if (photos) cell = std::max(cell, 224);
  const double caption_scale = 0.4, title_scale = 0.45;
  const int pad = 8, line_h = 15;
  // Column widths from the text: titles on the left, keys on the right.
  int title_w = 40;
  for (const auto& t : row_titles)
    title_w = std::max(title_w, std::min(150, text_width(t, title_scale) + 8));
  int key_w = 0;
  for (const auto& k : keys) {
    if (k.kind == RowKey::Kind::swatches)
      for (const auto& sw : k.swatches) key_w = std::max(key_w, 28 + text_width(sw.second, 0.42));
    else if (k.kind != RowKey::Kind::none)
      key_w = std::max(key_w, 24 + std::max(text_width(k.low, 0.4), text_width(k.high, 0.4)));
  }
  std::vector<int> caption_lines(rows.size(), 1);
  for (size_t r = 0; r < rows.size(); ++r)
    for (const auto& c : rows[r])
      caption_lines[r] = std::max<int>(
          caption_lines[r], std::min<int>(3, wrap(c.caption, cell, caption_scale).size()));
  const int w = title_w + static_cast<int>(cols) * (cell + pad) + pad + (key_w ? key_w + pad : 0);
  int h = pad;
  for (size_t r = 0; r < rows.size(); ++r) h += cell + caption_lines[r] * line_h + 6 + pad;
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(255, 255, 255));
  int y0 = pad;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r < row_titles.size()) {
      const auto lines = wrap(row_titles[r], title_w - 6, title_scale);
      int ty = y0 + cell / 2 - static_cast<int>(lines.size()) * 8 + 12;
      for (const auto& l : lines) put_text(img, l, {4, ty}, title_scale), ty += 17;
    }
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const int x0 = title_w + pad + static_cast<int>(c) * (cell + pad);
      to_bgr(rows[r][c].image, cell).copyTo(img(cv::Rect(x0, y0, cell, cell)));
      const cv::Scalar colour =
          rows[r][c].alert ? cv::Scalar(30, 30, 220) : cv::Scalar(40, 120, 40);
      auto lines = wrap(rows[r][c].caption, cell, caption_scale);
      if (lines.size() > 3) lines.resize(3);
      for (size_t l = 0; l < lines.size(); ++l)
        put_text(img, lines[l], {x0, y0 + cell + 13 + static_cast<int>(l) * line_h}, caption_scale,
                 colour);
    }
    if (r < keys.size())
      draw_key(img, keys[r], title_w + static_cast<int>(cols) * (cell + pad) + pad, y0, cell);
    y0 += cell + caption_lines[r] * line_h + 6 + pad;
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
                            const std::array<double, 3>& rgb, int scale,
                            const std::vector<std::string>& labels) {
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
  const int thick = std::max(2, static_cast<int>(std::min(h, w) * scale / 300));
  for (const auto& [a, b] : edges)
    if (a < p.size(0) && b < p.size(0)) cv::line(m, pt(a), pt(b), colour, thick, cv::LINE_AA);
  for (int64_t k = 0; k < p.size(0); ++k)
    cv::circle(m, pt(k), thick + 1, colour, cv::FILLED, cv::LINE_AA);
  // Labels in white on a dark outline so they read on any photo.
  const double font = std::max(0.35, std::min(h, w) * scale / 900.0);
  for (int64_t k = 0; k < p.size(0) && k < static_cast<int64_t>(labels.size()); ++k) {
    const cv::Point at = pt(k) + cv::Point(thick + 3, -thick - 2);
    cv::putText(m, labels[k], at, cv::FONT_HERSHEY_SIMPLEX, font, {0, 0, 0}, 3, cv::LINE_AA);
    cv::putText(m, labels[k], at, cv::FONT_HERSHEY_SIMPLEX, font, {1, 1, 1}, 1, cv::LINE_AA);
  }
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

torch::Tensor draw_mask(const torch::Tensor& image, const torch::Tensor& labels) {
  const int64_t h = image.size(1), w = image.size(2);
  torch::Tensor img = image.detach().cpu().to(torch::kFloat32);
  if (img.size(0) == 1) img = img.expand({3, h, w});
  torch::Tensor lab = labels.detach().cpu().to(torch::kLong);
  if (lab.size(0) != h || lab.size(1) != w)  // the logits' resolution to the image's
    lab = torch::nn::functional::interpolate(
              lab.view({1, 1, lab.size(0), lab.size(1)}).to(torch::kFloat32),
              torch::nn::functional::InterpolateFuncOptions()
                  .size(std::vector<int64_t>{h, w})
                  .mode(torch::kNearest))
              .view({h, w})
              .to(torch::kLong);
  std::vector<float> rgb;  // class k >= 1: palette colour k-1; background 0 stays as it is
  for (const cv::Scalar& c : kPalette)
    for (int i : {2, 1, 0}) rgb.push_back(static_cast<float>(c[i] / 255.0));
  const torch::Tensor colours = torch::tensor(rgb).view({-1, 3});
  const torch::Tensor k = (lab - 1).remainder(colours.size(0));
  const torch::Tensor tint =
      colours.index_select(0, k.flatten()).view({h, w, 3}).permute({2, 0, 1});
  const torch::Tensor on = lab.gt(0).unsqueeze(0).to(torch::kFloat32) * 0.55;
  return (img * (1 - on) + tint * on).contiguous();
}

void write_file(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, bytes);
}

void write_json(const std::string& path, const nlohmann::json& value) {
  write_atomically(path, [&](std::ostream& out) { out << value.dump(2) << "\n"; });
}

void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows) {
  auto line = [](std::ostream& out, const std::vector<std::string>& cells) {
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
  write_atomically(path, [&](std::ostream& out) {
    line(out, header);
    for (const auto& r : rows) line(out, r);
  });
}

void save_tensor(const std::string& path, const torch::Tensor& tensor) {
  const std::vector<char> bytes = torch::pickle_save(tensor.detach().cpu().contiguous());
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace foil
