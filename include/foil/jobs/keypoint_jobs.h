#pragma once
/// @file
/// The keypoint jobs: the K-limiting attack (KAA, KAA+ER) over a pose dataset or photos with
/// its figure and JSON, and the table of KAA vs KAA+ER over budgets, non-target and target
/// (the source's Tables 1-2 and Figs. 7c/10c).
///
/// Example:
///   foil::PoseSetup s = foil::open_pose(model, "pose:test:100");
///   foil::KeypointTableOptions o;
///   foil::KeypointTableResult t = foil::run_keypoint_table(s, o);
///   t.write("results");                  // table.csv, table.json, curve.svg, curve-target.svg

#include <torch/types.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/jobs/job.h"
#include "foil/keypoints/kaa.h"
#include "foil/keypoints/pose.h"
#include "foil/models/model.h"
#include "foil/report/figures.h"

namespace foil {

/// How an attack on keypoints is judged.
struct PoseJudging {
  double tau = 4.0;     ///< success threshold, pixels
  double tau_3d = 0.1;  ///< 3-D models (BlazePose): threshold on the world coordinates, metres
  int64_t batch = 64;   ///< images per pass (the unit shared out between processes)
};

/// A keypoint model with its data and clean predictions.
struct PoseSetup {
  std::shared_ptr<Model> model;               ///< the keypoint model
  PoseData data;                              ///< its images (pose figures have ground truth)
  torch::Tensor clean_kp;                     ///< N×K×2 clean keypoints from the heatmaps
  std::string layer;                          ///< the heatmap layer
  std::vector<std::pair<int, int>> skeleton;  ///< limbs to draw
  /// Models that decode their own output (MoveNet: heatmaps + offsets, ArgMax/GatherNd):
  /// the clean keypoints by that decode, to judge attacks by what the model reports too.
  torch::Tensor clean_own;
  /// 3-D models (BlazePose): the clean metric world coordinates (N×K×3), else undefined.
  torch::Tensor clean_world;
};

/// Opens `spec` (pose:test[:N], pose:train[:N], or photos: the clean prediction is the
/// reference) for `model`; `layer` "" = the model's default heatmap layer.
PoseSetup open_pose(std::shared_ptr<Model> model, const std::string& spec,
                    const std::string& layer = "");

/// `model` with `data` (its clean keypoints by the heatmaps, and by the model's own decode
/// where it has one); what open_pose does once it has read the data.
PoseSetup pose_setup(std::shared_ptr<Model> model, PoseData data, const std::string& layer = "");
/// The target pose of each image from `spec` (shift:DX,DY | swap | item:I | file:POSE.json),
/// computed from the clean prediction; undefined for "" (non-target).
torch::Tensor target_pose(const std::string& spec, const PoseSetup& s);
/// The 3-D target of a target attack: the world pose of photo I for item:I; else undefined.
torch::Tensor target_world(const std::string& spec, const PoseSetup& s);

/// Throws InputError unless both thresholds are finite and > 0.
void check_pose_judging(const PoseJudging& judging);

/// One attack over the setup's images and how it went.
struct KeypointOutcome {
  KaaResult result;        ///< adversarial images, masks, Jacobian time (all processes together)
  KaaMetrics metrics;      ///< on the heatmap keypoints
  KaaMetrics own;          ///< by the model's own decode, when it has one
  KaaMetrics world;        ///< 3-D models: on the metric world coordinates, in metres
  bool has_world = false;  ///< `world` is defined (a 3-D model with a 3-D target)
  torch::Tensor adv_kp;    ///< N×K×2 keypoints of the adversarial images
  /// Models of COCO's 17 keypoints (MoveNet, PoseNet): COCO's OKS of the attacked pose (the
  /// model's own decode where it has one) to the clean one, the scale the clean keypoints'
  /// box area, mean over items; 1 = unchanged. -1 for other models.
  double oks = -1;
  /// The same models: share of keypoints within 0.1 of the clean box's longer side of the
  /// clean keypoint (PCK@0.1); -1 for other models.
  double pck = -1;
  /// 3-D metrics as JSON (null when the model has none or the target has no 3-D pose).
  nlohmann::json world_json(double tau_3d) const;
};

/// Whether the model's keypoints are COCO's 17, in COCO's order (MoveNet, PoseNet).
bool has_coco_keypoints(const Model& model);
/// COCO's OKS (COCO's sigmas, the scale the area of the reference keypoints' box) and PCK@0.1
/// (within 0.1 of that box's longer side) of keypoints `kp` to `reference` (N×17×2), means over
/// items and keypoints.
std::pair<double, double> coco_pose_scores(const torch::Tensor& kp, const torch::Tensor& reference);
/// How the poses of `images` (the setup's images changed: attacked, noised, corrupted) compare
/// with the clean ones or `target` (undefined: non-target), as run_keypoint_attack judges its
/// adversarial images (`result` left empty).
KeypointOutcome judge_pose(const PoseSetup& s, const torch::Tensor& images,
                           const torch::Tensor& target, const torch::Tensor& world_target,
                           const PoseJudging& judging);
/// Runs KAA (options.mask none) or KAA+ER (relational) on every image of `s`, in batches
/// (shared out between the processes of a job), towards `target` (undefined: non-target).
KeypointOutcome run_keypoint_attack(const PoseSetup& s, const KaaOptions& options,
                                    const torch::Tensor& target, const torch::Tensor& world_target,
                                    const PoseJudging& judging = {});

/// keypoints attack's console summary: the attack, its success rate and RMSEs, and those by
/// the model's own decode and in 3-D where the model has them. `target_spec` as given.
std::vector<std::string> keypoint_attack_lines(const PoseSetup& s, const KeypointOutcome& r,
                                               const KaaOptions& options,
                                               const std::string& target_spec,
                                               const PoseJudging& judging);

/// keypoints attack's files: keypoints.png (poses, perturbation, mask), keypoints.json,
/// adv.pt. `target_spec` as given ("" = non-target).
void write_keypoint_attack(const std::string& dir, const PoseSetup& s, const KeypointOutcome& r,
                           const KaaOptions& options, const std::string& target_spec,
                           const PoseJudging& judging);

/// The table's budgets, steps, mask and target.
struct KeypointTableOptions {
  std::vector<double> linf_eps{0.01, 0.02, 0.03};  ///< Linf budgets
  std::vector<double> l2_eps{0.5, 1, 2};           ///< L2 budgets
  int64_t steps = 10;                              ///< iterations (step 2.5 eps / steps)
  KaaOptions mask;  ///< the relational mask's settings (outputs, thresholds, rule, seed)
  std::string target = "shift:6,6";  ///< the target rows' target pose
  PoseJudging judging;               ///< thresholds and batch
  Log log;                           ///< progress lines
};

/// The table; `write` gives the files of `foil keypoints table`.
struct KeypointTableResult {
  std::string model;                              ///< the model's name
  std::string data;                               ///< the data's source
  std::string target;                             ///< the target rows' target pose
  double tau = 0;                                 ///< success threshold, pixels
  int64_t steps = 0;                              ///< iterations per attack
  nlohmann::json rows = nlohmann::json::array();  ///< one per mode, norm, eps and attack
  /// The target rows' baseline: the clean images' poses judged against the target
  /// (success_rate: already within tau of it; pose_rmse: their distance to it, pixels).
  nlohmann::json target_baseline;
  std::vector<std::vector<std::string>> csv;  ///< table.csv's rows
  /// Pose RMSE against perturbation RMSE per mode, one line per attack and norm.
  std::map<std::string, std::map<std::string, Series>> curves;
  nlohmann::json to_json() const;  ///< table.json's content
  /// Writes table.csv, table.json, curve.svg and curve-target.svg into `dir`.
  void write(const std::string& dir) const;
};

/// Throws InputError for options that cannot run (checked before anything slow).
void check_keypoint_table_options(const KeypointTableOptions& options);

/// What a user sets for `foil keypoints attack` and `foil keypoints table`, declared once
/// (foil/core/option_fields.h) over the table's options: the relational mask, the attack
/// (`used_by` attack: the KaaOptions of `mask`; table: the budgets and steps), the target
/// pose and the judging.
const std::vector<OptionField<KeypointTableOptions>>& keypoint_option_fields();
/// `foil keypoints attack`'s defaults in those terms: KAA+ER (mask relational), no target.
KeypointTableOptions keypoint_attack_defaults();
/// KAA and KAA+ER at every budget of both norms, non-target and target.
KeypointTableResult run_keypoint_table(const PoseSetup& s, const KeypointTableOptions& options);

}  // namespace foil
