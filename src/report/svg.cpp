// Line plots as SVG: axes with 1-2-5 ticks, grid, a legend beside the plot (never over it),
// a title and axis labels. SVG keeps text and lines sharp in the browser and in a printed
// report, and needs no rasteriser.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "foil/report/figures.h"

namespace foil {
namespace {

/// Colour-blind-safe palette (Okabe-Ito), in series order.
const char* const kColours[] = {"#0072B2", "#E69F00", "#009E73", "#D55E00",
                                "#CC79A7", "#56B4E9", "#000000", "#F0E442"};

/// About how wide `text` is at font size 12 (SVG has no text metrics before rendering).
double svg_text_width(const std::string& text, double size = 12) {
  return 0.58 * size * static_cast<double>(text.size());
}

/// Tick positions covering [lo, hi] at a 1, 2 or 5 x 10^k step, about `want` of them.
std::vector<double> nice_ticks(double lo, double hi, int want = 6) {
  const double span = hi - lo;
  const double raw = span / want, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string line_plot_svg(const std::string& title, const std::string& x_label,
                          const std::string& y_label, const std::vector<Series>& series,
                          double y_min, double y_max) {
  double x_min = HUGE_VAL, x_max = -HUGE_VAL;
  for (const auto& s : series)
    for (double v : s.x)
      if (std::isfinite(v)) x_min = std::min(x_min, v), x_max = std::max(x_max, v);
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1;
  if (x_max <= x_min) x_max = x_min + 1;
  if (!(y_max > y_min)) y_max = y_min + 1;
  double legend_w = 0;
  for (const auto& s : series) legend_w = std::max(legend_w, svg_text_width(s.label) + 40);
  const double left = 64, top = 40, bottom = 52, plot_w = 460, plot_h = 280;
  const double right = series.empty() ? 20 : legend_w + 24;
  const double width = std::max(left + plot_w + right, svg_text_width(title, 14) + 20);
  const double height = top + plot_h + bottom;
  auto px = [&](double v) { return left + (v - x_min) / (x_max - x_min) * plot_w; };
  auto py = [&](double v) { return top + plot_h - (v - y_min) / (y_max - y_min) * plot_h; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" "
      "viewBox=\"0 0 {0:.0f} {1:.0f}\" font-family=\"sans-serif\" font-size=\"12\" role=\"img\">\n"
      "<title>{2}</title>\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{3}\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{2}</text>\n",
      width, height, xml_escape(title), left);
  // Grid and ticks.
  auto label = [](double v) { return fmt::format("{:.4g}", v); };
  for (double t : nice_ticks(y_min, y_max))
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<text x=\"{3:.1f}\" y=\"{4:.1f}\" text-anchor=\"end\">{5}</text>\n",
        left, left + plot_w, py(t), left - 6, py(t) + 4, label(t));
  for (double t : nice_ticks(x_min, x_max))
    svg += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#ddd\"/>"
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{2:.1f}\" y2=\"{3:.1f}\" stroke=\"#000\"/>"
        "<text x=\"{0:.1f}\" y=\"{4:.1f}\" text-anchor=\"middle\">{5}</text>\n",
        px(t), top, top + plot_h, top + plot_h + 5, top + plot_h + 19, label(t));
  svg += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#000\"/>\n"
      "<text x=\"{:.1f}\" y=\"{:.1f}\" text-anchor=\"middle\">{}</text>\n"
      "<text transform=\"translate(16 {:.1f}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
      left, top, plot_w, plot_h, left + plot_w / 2, height - 12, xml_escape(x_label),
      top + plot_h / 2, xml_escape(y_label));
  // Lines (broken at non-finite points), points, and the legend beside the plot.
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    const char* colour = kColours[i % 8];
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    std::string path;
    bool pen = false;
    for (size_t j = 0; j < std::min(s.x.size(), s.y.size()); ++j) {
      if (!std::isfinite(s.x[j]) || !std::isfinite(s.y[j])) {
        pen = false;
        continue;
      }
      path += fmt::format("{}{:.1f},{:.1f} ", pen ? "L" : "M", px(s.x[j]), py(s.y[j]));
      pen = true;
    }
    svg += fmt::format(
        "<g class=\"series\"><path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>",
        path, colour, dash);
    if (s.x.size() <= 40)
      for (size_t j = 0; j < std::min(s.x.size(), s.y.size()); ++j)
        if (std::isfinite(s.x[j]) && std::isfinite(s.y[j]))
          svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>",
                             px(s.x[j]), py(s.y[j]), colour);
    const double ly = top + 12 + 20 * static_cast<double>(i), lx = left + plot_w + 14;
    svg += fmt::format(
        "<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"{}\" "
        "stroke-width=\"2\"{}/><text x=\"{:.1f}\" y=\"{:.1f}\">{}</text></g>\n",
        lx, lx + 24, ly - 4, ly - 4, colour, dash, lx + 30, ly, xml_escape(s.label));
  }
  return svg + "</svg>\n";
}

void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series, double y_min,
                     double y_max) {
  write_file(path, line_plot_svg(title, x_label, y_label, series, y_min, y_max));
}

}  // namespace foil
