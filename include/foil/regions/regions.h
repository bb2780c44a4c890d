#pragma once
/// @file Region of Importance vs Region of Attack (Chattopadhyay et al., "Spatially Correlated
/// Patterns in Adversarial Images"): where the model looks against where an attack acts.
///
/// RoI: the top q% pixels of an explanation map (Grad-CAM by default). RoA: the top q% pixels
/// of |delta| summed over channels. Per image: IoU(RoI, RoA), the four-way split (both, RoI
/// only, RoA only, neither) with each part's share of pixels and of perturbation mass, and
/// whether the adversarial example still fools the model with delta kept only in each part.

#include <torch/types.h>

#include <array>
#include <string>
#include <vector>

namespace foil {

class Model;

/// The four parts of the split, in the order used by every tensor below.
const std::array<std::string, 4>& region_parts();

struct RegionAnalysis {
  torch::Tensor roi, roa;         ///< bool N×H×W
  torch::Tensor iou;              ///< N
  torch::Tensor pixel_share;      ///< N×4, rows sum to 1
  torch::Tensor mass_share;       ///< N×4, rows sum to 1 (0 where delta = 0)
  torch::Tensor correct_clean;    ///< bool N: clean prediction = label
  torch::Tensor correct_full;     ///< bool N: prediction on x + delta = label
  torch::Tensor correct_in_part;  ///< bool N×4: prediction on x + delta·1[part] = label
  torch::Tensor correct_in_roi, correct_in_roa;  ///< bool N: delta kept inside RoI / RoA
};

/// Splits `x_adv - x` against `importance` (N×H×W, higher = more important) at `q` percent,
/// and evaluates `model` on the confined perturbations against `labels`.
RegionAnalysis analyze_regions(Model& model, const torch::Tensor& x, const torch::Tensor& x_adv,
                               const torch::Tensor& labels, const torch::Tensor& importance,
                               double q);

}  // namespace foil
