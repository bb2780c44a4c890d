#pragma once
/// @file
/// Keypoint models: training the heatmap model, and the K-limiting relational attack
/// ("Explainable K-limiting Relational Adversarial Attack on Coordinate Regression Learning",
/// `003_...`). The attack works on layer k (the heatmaps, before the non-differentiable argmax
/// decode): non-target pushes F^k(x') away from the clean heatmaps, target pulls it towards
/// Gaussian heatmaps at a target pose, both with MSE. The relational mask C keeps only pixels
/// whose Jacobian rows have both signs over the chosen outputs ("KAA+ER"); C = 1 is "KAA".
///
/// Example:
///   KaaResult r = kaa_attack(*model, x, {}, KaaOptions().eps(8.0 / 255).mask("relational"));

#include <torch/arg.h>
#include <torch/types.h>

#include <functional>
#include <memory>
#include <string>

#include "foil/keypoints/pose.h"

namespace foil {

class Model;
class ZooModel;

/// How `train_pose_model` trains.
struct PoseTrainOptions {
  TORCH_ARG(int64_t, epochs) = 6;                ///< passes over the training set
  TORCH_ARG(int64_t, batch) = 64;                ///< items per step
  TORCH_ARG(double, lr) = 2e-3;                  ///< Adam learning rate
  TORCH_ARG(double, sigma) = 1.0;                ///< target heatmap sigma, heatmap pixels
  TORCH_ARG(uint64_t, seed) = 0;                 ///< initialisation and shuffling
  TORCH_ARG(std::string, checkpoint) = "";       ///< resumed from and written every epoch; "": none
  TORCH_ARG(std::string, progress) = "posenet";  ///< progress label on stderr
  TORCH_ARG(c10::Device, device) = c10::kCPU;    ///< where the network and its batches live
};

/// Trains the zoo's `posenet` on `train` (MSE to Gaussian heatmaps); `on_epoch(epoch, loss,
/// pck)` sees PCK@4px on `test` after each epoch. The model records that PCK as its
/// test_accuracy.
std::shared_ptr<ZooModel> train_pose_model(
    const PoseTrainOptions& options, const PoseData& train, const PoseData& test,
    const std::function<void(int64_t, double, double)>& on_epoch = {});

/// Options of the K-limiting keypoint attack (`kaa_attack`, `relational_mask`).
struct KaaOptions {
  TORCH_ARG(double, eps) = 8.0 / 255;    ///< perturbation budget, pixels in [0,1]
  TORCH_ARG(double, alpha) = 1.0 / 255;  ///< step size
  TORCH_ARG(int64_t, steps) = 10;        ///< iterations
  /// "linf" (sign steps) or "l2" (normalised steps).
  TORCH_ARG(std::string, norm) = "linf";
  /// "none" (KAA) or "relational" (KAA+ER).
  TORCH_ARG(std::string, mask) = "none";
  /// Jacobian threshold, relative to each output's largest |J|. Default 0.1.
  TORCH_ARG(double, jacobian_threshold) = 0.1;
  /// Absolute Jacobian threshold alpha (the source's Step 2); < 0: use the relative one.
  /// Default -1.
  TORCH_ARG(double, jacobian_threshold_abs) = -1;
  /// Jacobian outputs: any of "peak", "x", "y" per keypoint (comma-separated; foil's cheap
  /// summaries, 3K rows), or "heatmap": all l elements of layer k's output (the source's
  /// Step 1).
  TORCH_ARG(std::string, outputs) = "peak,x,y";
  /// "both": C = 1 where a row contains both +1 and -1 (foil's variant); "strict": where the
  /// row's set of values is exactly {+1, -1}, no zeros (the source's Step 3). Default "both".
  TORCH_ARG(std::string, mask_rule) = "both";
  /// One mask value per pixel, shared by its channels (a row is all outputs x channels of the
  /// pixel, as the source indexes pixels x_1..x_mn); false: one per input element. Default
  /// false.
  TORCH_ARG(bool, per_pixel) = false;
  /// The heatmap layer k (a tap name); empty: the model output.
  TORCH_ARG(std::string, layer) = "";
  /// Non-target attacks start from a uniform random point of the eps-ball (the MSE to the
  /// clean heatmaps has zero gradient at x itself). Default true.
  TORCH_ARG(bool, random_start) = true;
  /// Random starts: each image draws from its own stream, keyed by this seed and the image's
  /// position in the batch.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// What `kaa_attack` returns.
struct KaaResult {
  torch::Tensor adv;            ///< N×C×H×W in [0,1]
  torch::Tensor mask;           ///< C, N×C×H×W in {0,1} (all ones for KAA)
  double jacobian_seconds = 0;  ///< time spent on the relational mask
};

/// Throws InputError naming the first bad option.
void check_kaa_options(const KaaOptions& options);

/// Attacks `x`. With `target_keypoints` (N×K×2 image pixels) defined, the target attack;
/// otherwise non-target. `ids` (int64 per image, default 0..N-1) key the per-image random
/// starts: pass the images' positions in the dataset to make them independent of batching.
/// Throws InputError for bad options or a missing layer (listed).
KaaResult kaa_attack(Model& model, const torch::Tensor& x, const torch::Tensor& target_keypoints,
                     const KaaOptions& options, const torch::Tensor& ids = {});

/// The relational mask (N×C×H×W in {0,1}) of `003_...` Steps 1-3: the Jacobian J of the
/// chosen outputs of layer k, thresholded to signs I in {+1, 0, -1}, and C = 1 where a row
/// (an input element, or a pixel with `per_pixel`) passes `mask_rule`. J is never held
/// whole: batched vector-Jacobian products (one backward pass for a chunk of outputs, the
/// image replicated once per output) stream into per-element sign flags, so "heatmap"
/// (K·h·w outputs) runs in the memory of one chunk. The source's definition is
/// `outputs("heatmap").jacobian_threshold_abs(alpha).mask_rule("strict").per_pixel(true)`.
torch::Tensor relational_mask(Model& model, const torch::Tensor& x, const KaaOptions& options);

/// The Jacobian rows themselves: N×L×C×H×W for the L chosen outputs (small L only: the
/// summaries; "heatmap" may need gigabytes).
torch::Tensor keypoint_jacobian(Model& model, const torch::Tensor& x, const KaaOptions& options);

/// foil's keypoint attack metrics (documented definitions):
/// success (non-target): mean decoded keypoint displacement from the clean prediction > tau;
/// success (target): at least 80% of keypoints within tau of the target;
/// perturbation RMSE: sqrt(mean delta^2) over all pixels and channels (pixel scale [0,1]);
/// pose RMSE: sqrt(mean squared keypoint displacement) in pixels, against the clean
/// prediction (non-target) or the target (target).
struct KaaMetrics {
  double success_rate = 0;       ///< share of items attacked successfully
  double perturbation_rmse = 0;  ///< mean over items, pixel scale [0,1]
  double pose_rmse = 0;          ///< mean over items, pixels
  torch::Tensor success;         ///< bool N
};
/// The metrics above for adversarial examples `adv` of `x`; `target_keypoints` undefined for
/// the non-target attack.
KaaMetrics kaa_metrics(const torch::Tensor& x, const torch::Tensor& adv,
                       const torch::Tensor& clean_keypoints, const torch::Tensor& adv_keypoints,
                       const torch::Tensor& target_keypoints, double tau);

/// Decoded keypoints (argmax with refinement) of `model` on `x`, at layer `layer` (empty:
/// the output).
torch::Tensor predict_keypoints(Model& model, const torch::Tensor& x,
                                const std::string& layer = "");

/// What a keypoint model reports: positions (N×K×2, x and y in pixels of its input), scores
/// (N×K) and the names and limbs of its keypoints.
struct KeypointPrediction {
  torch::Tensor xy;                ///< N×K×2 in input pixels
  torch::Tensor score;             ///< N×K
  torch::Tensor z;                 ///< 3-D models (BlazePose): N×K depth; else undefined
  torch::Tensor world;             ///< 3-D models: N×K×3 metres; else undefined
  std::vector<std::string> names;  ///< one per keypoint
  std::vector<std::pair<int, int>> skeleton;  ///< limbs as pairs of keypoint indices
};

/// True for models whose output is keypoints: foil's posenet (heatmaps) and TensorFlow.js
/// models whose metadata says so (MoveNet).
bool is_keypoint_model(const Model& model);

/// The model's own keypoint decode: MoveNet's (y, x, score) output as is; heatmap models by
/// argmax with refinement, the score being each heatmap's peak.
KeypointPrediction model_keypoints(Model& model, const torch::Tensor& x);

/// The heatmap layer the keypoint attack works on by default: the metadata's heatmap node
/// for TensorFlow.js models, else "" (the output).
std::string default_heatmap_layer(const Model& model);

}  // namespace foil
