#pragma once
/// @file
/// Results a person can look at: line plots (SVG), captioned image grids (PNG, OpenCV),
/// and the JSON/CSV writers every command uses.

#include <torch/types.h>

#include <array>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

namespace foil {

/// One line of a plot.
struct Series {
  std::string label;      ///< legend text
  std::vector<double> x;  ///< x values
  std::vector<double> y;  ///< y values, one per x
  bool dashed = false;    ///< draw the line dashed
};

/// A line plot as an SVG document: axes with 1-2-5 ticks, grid, a legend beside the plot,
/// title and axis labels; y runs over [y_min, y_max]; non-finite points break the line.
std::string line_plot_svg(const std::string& title, const std::string& x_label,
                          const std::string& y_label, const std::vector<Series>& series,
                          double y_min = 0.0, double y_max = 1.0);

/// Writes line_plot_svg(...) to `path` (an .svg file). Throws InputError when the file cannot
/// be written.
void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series,
                     double y_min = 0.0, double y_max = 1.0);

/// One captioned image of a grid; `alert` draws its caption in red.
struct GridCell {
  torch::Tensor image;  ///< C×H×W in [0,1]
  std::string caption;  ///< text under the image
  bool alert = false;   ///< caption in red
};

/// A key drawn at the right end of a grid row: a colour bar for a continuous colour map
/// (from `low` to `high`), or swatches naming categorical colours.
struct RowKey {
  /// No key, a JET colour bar, a grey bar, or swatches.
  enum class Kind { none, jet, grey, swatches };
  Kind kind = Kind::none;  ///< what to draw
  std::string low;         ///< the bar's low end label
  std::string high;        ///< the bar's high end label
  std::vector<std::pair<std::array<double, 3>, std::string>> swatches;  ///< RGB in [0,1], name
};

/// Writes rows of captioned images as PNG. Each image keeps its aspect ratio inside a
/// `cell`-pixel square (at least 224 when any image is larger than 96 pixels: photos) with
/// a grey border; captions and row titles wrap instead of being cut; `keys[r]` draws row r's
/// colour bar or swatches beside it.
void write_image_grid(const std::string& path, const std::vector<std::vector<GridCell>>& rows,
                      const std::vector<std::string>& row_titles, int cell = 112,
                      const std::vector<RowKey>& keys = {});

/// Writes a matrix as a heat map with its values printed in the cells (values in [0,1]).
void write_heatmap(const std::string& path, const std::string& title,
                   const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                   const std::vector<std::vector<double>>& values);

/// The image (C×H×W in [0,1]) `scale` times larger with keypoints (K×2, image pixels)
/// joined along `edges` in `rgb` (components in [0,1]): 3×(H·scale)×(W·scale). `labels`, when
/// given (one per keypoint), are written beside the points.
torch::Tensor draw_skeleton(const torch::Tensor& image, const torch::Tensor& keypoints,
                            const std::vector<std::pair<int, int>>& edges,
                            const std::array<double, 3>& rgb, int scale = 4,
                            const std::vector<std::string>& labels = {});

/// A labelled box in image pixels, for draw_boxes.
struct LabelledBox {
  float x1;           ///< left
  float y1;           ///< top
  float x2;           ///< right
  float y2;           ///< bottom
  std::string label;  ///< text on the tag
  int colour = 0;     ///< index into the palette
};

/// The image (C×H×W in [0,1]) at its own resolution with each box outlined and its label
/// on a filled tag above it (inside the image when the box touches the top): 3×H×W.
torch::Tensor draw_boxes(const torch::Tensor& image, const std::vector<LabelledBox>& boxes);

/// The image (C×H×W in [0,1]) with each pixel of a class above 0 (the background) tinted in
/// its class's palette colour: 3×H×W. `labels` (H'×W' class indices) is resized to the image
/// by nearest neighbour.
torch::Tensor draw_mask(const torch::Tensor& image, const torch::Tensor& labels);

/// `text` with &, <, >, " and ' escaped for XML and HTML.
std::string xml_escape(const std::string& text);

/// Writes `bytes` to `path`; the file appears whole or not at all. Throws InputError when it
/// cannot be written.
void write_file(const std::string& path, const std::string& bytes);

/// Writes pretty-printed JSON; the file appears whole or not at all.
void write_json(const std::string& path, const nlohmann::json& value);

/// Writes a CSV with a header row; cells are quoted when needed.
void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

/// Saves a tensor with torch::pickle_save so that PyTorch's `torch.load` reads it.
void save_tensor(const std::string& path, const torch::Tensor& tensor);

}  // namespace foil
