#pragma once
/// @file
/// How faithful an importance map is to the model: the deletion and insertion curves (Petsiuk
/// et al. 2018, RISE), in foil's protocol or RISE's own (`FaithfulnessOptions::protocol`). Deletion
/// replaces the map's most important pixels, a growing share at a time, by a baseline and follows
/// the class probability down (a faithful map makes it fall fast: low area under the curve);
/// insertion starts from the baseline and puts the most important pixels back (a faithful map makes
/// it rise fast: high area). A random order of the pixels is the chance level of both.
///
/// Example:
///   auto maps = foil::explain(*model, x, classes, foil::ExplainMethod::kGradCam, layer);
///   foil::FaithfulnessCurves c = foil::faithfulness(*model, x, classes, maps, {});
///   // c.deletion_auc (lower is better), c.insertion_auc (higher is better)

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <string>
#include <vector>

#include "foil/core/option_fields.h"

namespace foil {

class Model;

/// How the curves are drawn.
struct FaithfulnessOptions {
  /// "foil": `steps` equal shares, removed pixels become `baseline` in pixel space, for
  /// deletion and insertion alike. "rise": RISE's protocol exactly as its authors' evaluation
  /// code (eidedeniz/RISE, CausalMetric): in the model's normalised space, deletion sets pixels
  /// to 0 (the model's mean colour) and insertion starts from the normalised image blurred by
  /// an 11x11 Gaussian of sigma 5 (scipy's, from a delta) with zero padding, one image row of
  /// pixels per step (224 steps of 224 pixels at 224 px); `steps` and `baseline` are unused.
  /// Both take the class given (foil's jobs: the predicted class, as RISE) and order pixels by
  /// a stable descending sort (ties by position; RISE's numpy quicksort leaves them unordered).
  std::string protocol = "foil";
  int64_t steps = 20;  ///< foil: points after the first: shares 0, 1/steps, ..., 1 of the pixels
  /// foil: what a removed pixel becomes: "blur" (the image blurred by a Gaussian of sd a tenth
  /// of its side, reflected at the border: foil's own, not RISE's kernel) or "mean" (the
  /// image's mean colour).
  std::string baseline = "blur";
  int64_t batch = 64;  ///< images per forward pass
};

/// The fields of FaithfulnessOptions a user sets (foil/core/option_fields.h; `used_by`: the
/// protocols that read each): `foil explain --faithfulness`'s flags.
const std::vector<OptionField<FaithfulnessOptions>>& faithfulness_option_fields();

/// Throws InputError naming the flag for steps outside 1..1000, an unknown baseline or
/// protocol, or a batch < 1.
void check_faithfulness_options(const FaithfulnessOptions& options);

/// The baseline each removed pixel of `x` (N×C×H×W) takes: N×C×H×W.
torch::Tensor removal_baseline(const torch::Tensor& x, const std::string& kind);

/// Each pixel's rank in its map's order, 0 the most important: a stable descending sort, so
/// tied pixels rank by position (row-major). `maps` N×H×W; int64 N×H×W.
torch::Tensor importance_rank(const torch::Tensor& maps);

/// RISE's insertion blur of `x` (N×C×H×W): the 11x11 kernel scipy's gaussian_filter (sigma 5)
/// makes of a delta, per channel, zero padding.
torch::Tensor rise_blur(const torch::Tensor& x);

/// The two curves, averaged over the images.
struct FaithfulnessCurves {
  std::vector<double> shares;     ///< the share of pixels removed or inserted at each point
  std::vector<double> deletion;   ///< mean class probability with that share removed
  std::vector<double> insertion;  ///< mean class probability with that share put back
  double deletion_auc = 0;        ///< trapezoid area under `deletion` (lower: more faithful)
  double insertion_auc = 0;       ///< trapezoid area under `insertion` (higher: more faithful)
  /// Average drop (Chattopadhay et al. 2018): the mean of max(0, p - p_e) / p, p the class
  /// probability on the image and p_e on the image masked by its map scaled to [0,1] in the
  /// model's normalised space, as pytorch-grad-cam (masked-out pixels take the model's mean
  /// colour; black for a model without one) (lower: more faithful).
  double average_drop = 0;
  /// Increase in confidence (the same paper): the share of images where p_e > p (higher).
  double increase_in_confidence = 0;
};

/// The curves of `maps` (N×H×W; ties in the order broken by pixel position) for images `x` and
/// classes `classes` (int64 N).
FaithfulnessCurves faithfulness(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                                const torch::Tensor& maps, const FaithfulnessOptions& options);

/// ROAD's noisy linear imputation (Rong et al. 2022): each pixel where `removed` (N×H×W, bool)
/// is set becomes the weighted mean of its 8 neighbours (weight 1/6 beside, 1/12 diagonal,
/// normalised over the neighbours inside the image), removed neighbours included: the sparse
/// linear system the reference solves directly, solved here per image and channel by conjugate
/// gradients (to a residual of 1e-10 per pixel), plus Gaussian noise of sd `noise` (0.01, the
/// reference's) drawn from `gen`. An image with every pixel removed gets its mean colour.
torch::Tensor linear_imputation(const torch::Tensor& x, const torch::Tensor& removed, double noise,
                                at::Generator& gen);

/// ROAD (remove and debias): at each share in `shares`, the mean probability of the class when
/// that share of the pixels is imputed, most important first (MoRF: a faithful map makes it
/// fall, lower is better) or least important first (LeRF: it stays, higher is better).
struct RoadCurves {
  std::vector<double> shares;  ///< shares of the pixels removed
  std::vector<double> morf;    ///< most important removed first
  std::vector<double> lerf;    ///< least important removed first
  double morf_mean = 0;        ///< mean of `morf` over the shares (lower: more faithful)
  double lerf_mean = 0;        ///< mean of `lerf` (higher: more faithful)
};

/// ROAD's curves of `maps` for images `x` and classes `classes`, at shares 0.1, 0.2, ..., 0.9
/// (the paper's percentiles), imputation noise from `seed`.
RoadCurves road(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                const torch::Tensor& maps, int64_t batch, uint64_t seed);

}  // namespace foil
