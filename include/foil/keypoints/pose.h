#pragma once
/// @file
/// Keypoint (pose) data and heatmaps: synthetic stick figures with ground truth,
/// Gaussian heatmap rendering, argmax decoding with sub-pixel refinement, soft-argmax and PCK.
///
/// Example:
///   PoseData d = make_pose_data(1000, /*seed=*/1);            // 1000 images, 3x64x64
///   auto hm = render_heatmaps(d.keypoints, 64, 16, 1.0);      // N x K x 16 x 16
///   auto kp = decode_heatmaps(hm, 64);                        // back to image pixels

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace foil {

/// Images with keypoints: images N×3×S×S in [0,1], keypoints N×K×2 as (x, y) in pixels.
struct PoseData {
  torch::Tensor images;     ///< N×3×S×S in [0,1]
  torch::Tensor keypoints;  ///< N×K×2, (x, y) in pixels
  std::string source;       ///< the spec it came from
  /// Number of items.
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// The first `n` items (all when n < 0 or n >= size()).
  PoseData head(int64_t n) const;
};

/// The joints of the synthetic figures (K = 11) and the limbs that join them.
const std::vector<std::string>& pose_joint_names();
/// The limbs of the synthetic figures, as pairs of joint indices.
const std::vector<std::pair<int, int>>& pose_skeleton();

/// `n` stick figures (deterministic by `seed`) with varied pose, limb thickness and colour
/// (each limb keeps its own hue so left and right can be told apart), on textured, noisy
/// backgrounds. Every joint lies inside the image.
PoseData make_pose_data(int64_t n, uint64_t seed, int64_t size = 64);

/// Parses `pose:train` (8000 figures, seed 1), `pose:test` (1000, seed 2) with an optional
/// `:N` suffix; throws InputError otherwise.
PoseData load_pose_data(const std::string& spec);

/// Gaussian heatmaps (peak 1, `sigma` in heatmap pixels) at `keypoints` (N×K×2, image
/// pixels) for an image of side `image_size` and heatmaps of side `heatmap_size`.
torch::Tensor render_heatmaps(const torch::Tensor& keypoints, int64_t image_size,
                              int64_t heatmap_size, double sigma = 1.0);

/// Argmax decoding (non-differentiable) with a quarter-pixel shift towards the larger
/// neighbour (sub-pixel refinement): N×K×h×w -> N×K×2 image pixels.
torch::Tensor decode_heatmaps(const torch::Tensor& heatmaps, int64_t image_size,
                              bool refine = true);

/// Differentiable soft-argmax (softmax with `beta` over each map): N×K×2 image pixels.
torch::Tensor soft_argmax(const torch::Tensor& heatmaps, int64_t image_size, double beta = 10.0);

/// Share of keypoints within `threshold` pixels of the ground truth.
double pck(const torch::Tensor& predicted, const torch::Tensor& truth, double threshold);

/// The per-keypoint sigmas COCO's keypoint benchmark uses for its 17 keypoints (nose, eyes,
/// ears, shoulders, elbows, wrists, hips, knees, ankles, left before right).
const std::vector<double>& coco_keypoint_sigmas();

/// COCO's object keypoint similarity of `predicted` to `truth` (N×K×2 pixels, every keypoint
/// visible), per item (N): the mean over keypoints of exp(-d² / (2 · area · (2σ)²)), `area` (N)
/// the object's scale² in pixels² and σ from `sigmas` (K values).
torch::Tensor keypoint_oks(const torch::Tensor& predicted, const torch::Tensor& truth,
                           const torch::Tensor& area, const std::vector<double>& sigmas);

/// Reads a target pose file (`--target file:PATH`): a JSON list of `keypoints` [x, y] pairs
/// inside a `side`×`side` image, as a 1×K×2 tensor. Throws InputError naming the file.
torch::Tensor read_pose_file(const std::string& path, int64_t keypoints, int64_t side);

}  // namespace foil
