#pragma once
/// @file Results a person can look at: line plots and captioned image grids (PNG, OpenCV),
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
  std::string label;
  std::vector<double> x, y;
};

/// Writes a line plot with axes, ticks, a legend and a title as PNG; y runs over
/// [y_min, y_max]. Throws InputError when the file cannot be written.
void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                     const std::string& y_label, const std::vector<Series>& series,
                     double y_min = 0.0, double y_max = 1.0);

/// One captioned image of a grid; `alert` draws its caption in red.
struct GridCell {
  torch::Tensor image;  ///< C×H×W in [0,1]
  std::string caption;
  bool alert = false;
};

/// Writes rows of captioned images, each scaled to `cell` pixels, as PNG.
void write_image_grid(const std::string& path, const std::vector<std::vector<GridCell>>& rows,
                      const std::vector<std::string>& row_titles, int cell = 112);

/// Writes a matrix as a heat map with its values printed in the cells (values in [0,1]).
void write_heatmap(const std::string& path, const std::string& title,
                   const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                   const std::vector<std::vector<double>>& values);

/// The image (C×H×W in [0,1]) `scale` times larger with keypoints (K×2, image pixels)
/// joined along `edges` in `rgb` (components in [0,1]): 3×(H·scale)×(W·scale).
torch::Tensor draw_skeleton(const torch::Tensor& image, const torch::Tensor& keypoints,
                            const std::vector<std::pair<int, int>>& edges,
                            const std::array<double, 3>& rgb, int scale = 4);

/// A labelled box in image pixels, for draw_boxes.
struct LabelledBox {
  float x1, y1, x2, y2;
  std::string label;
  int colour = 0;  ///< index into the palette
};

/// The image (C×H×W in [0,1]) at its own resolution with each box outlined and its label
/// on a filled tag above it (inside the image when the box touches the top): 3×H×W.
torch::Tensor draw_boxes(const torch::Tensor& image, const std::vector<LabelledBox>& boxes);

/// Writes pretty-printed JSON; the file appears whole or not at all.
void write_json(const std::string& path, const nlohmann::json& value);

/// Writes a CSV with a header row; cells are quoted when needed.
void write_csv(const std::string& path, const std::vector<std::string>& header,
               const std::vector<std::vector<std::string>>& rows);

/// Saves a tensor with torch::pickle_save so that PyTorch's `torch.load` reads it.
void save_tensor(const std::string& path, const torch::Tensor& tensor);

}  // namespace foil
