#pragma once
/// @file
/// Region of Importance vs Region of Attack (Chattopadhyay et al., "Spatially Correlated
/// Patterns in Adversarial Images"): where the model looks against where an attack acts.
///
/// RoI: the top q% pixels of an explanation map (Grad-CAM by default). RoA: the top q% pixels
/// of a continuous attack score, the attack's |loss gradient| summed over channels and
/// accumulated over its steps (AttackResult::grad_score), ties broken by |delta| summed over
/// channels. |delta| alone (pass no score) suits L2 attacks only: for sign attacks |delta| is
/// eps on most pixels and its top q% would be decided by tie order. Per image: IoU(RoI, RoA)
/// beside the IoU of two random q% regions (q/(2-q)), the share of pixels tied at the RoA cut,
/// the four-way split (both, RoI only, RoA only, neither) with each part's share of pixels
/// and of perturbation mass, and whether the adversarial example still fools the model with
/// delta kept only in each part.

#include <torch/types.h>

#include <array>
#include <string>
#include <vector>

namespace foil {

class Model;

/// The four parts of the split, in the order used by every tensor below.
const std::array<std::string, 4>& region_parts();

/// Where an attack works against where the model looks, per image: the Region of Interest
/// (top Grad-CAM pixels), the Region of Attack (top attack-score pixels), their overlap and
/// what the perturbation does when kept inside each part.
struct RegionAnalysis {
  torch::Tensor roi;  ///< bool N×H×W: Region of Interest
  torch::Tensor roa;  ///< bool N×H×W: Region of Attack
  torch::Tensor iou;  ///< N
  /// N: share of the image's pixels whose RoA key (score, |delta|) equals that of the RoA's
  /// last pixel while some of them fall outside it (the cut went through a tie); 0 when the
  /// key decides the RoA alone.
  torch::Tensor roa_tied_share;
  torch::Tensor pixel_share;      ///< N×4, rows sum to 1
  torch::Tensor mass_share;       ///< N×4, rows sum to 1 (0 where delta = 0)
  torch::Tensor correct_clean;    ///< bool N: clean prediction = label
  torch::Tensor correct_full;     ///< bool N: prediction on x + delta = label
  torch::Tensor correct_in_part;  ///< bool N×4: prediction on x + delta·1[part] = label
  torch::Tensor correct_in_roi;   ///< bool N: correct with delta kept inside the RoI
  torch::Tensor correct_in_roa;   ///< bool N: correct with delta kept inside the RoA
};

/// The IoU of two independent uniformly random regions of q percent of the pixels (in
/// expectation, for large images): q/(2-q) with q as a fraction.
double iou_chance(double q);

/// The top `q` percent of pixels by `score` (N×H×W), ties broken by `tie_break` (N×H×W),
/// remaining ties by index. Writes the per-image share of pixels tied at the cut (see
/// RegionAnalysis::roa_tied_share) into `tied_share` when given.
torch::Tensor top_percent_ranked(const torch::Tensor& score, const torch::Tensor& tie_break,
                                 double q, torch::Tensor* tied_share = nullptr);

/// Splits `x_adv - x` against `importance` (N×H×W, higher = more important) at `q` percent,
/// and evaluates `model` on the confined perturbations against `labels`. `attack_score`
/// (N×H×W, e.g. AttackResult::grad_score) ranks the RoA; undefined: |delta| alone.
RegionAnalysis analyze_regions(Model& model, const torch::Tensor& x, const torch::Tensor& x_adv,
                               const torch::Tensor& labels, const torch::Tensor& importance,
                               double q, const torch::Tensor& attack_score = {});

}  // namespace foil
