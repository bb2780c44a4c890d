#pragma once
/// @file
/// Training a universal patch over a dataset against one or more source models, and
/// evaluating a patch against models.

#include <torch/arg.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/patch/objective.h"
#include "foil/patch/patch.h"

namespace foil {

class Model;

/// How `train_patch` optimises.
struct PatchTrainOptions {
  TORCH_ARG(int64_t, epochs) = 5;  ///< passes over the data
  TORCH_ARG(int64_t, batch) = 64;  ///< images per step
  /// "adam" or "sgd" (with momentum). Default "adam".
  TORCH_ARG(std::string, optimizer) = "adam";
  TORCH_ARG(double, lr) = 0.05;       ///< learning rate
  TORCH_ARG(double, momentum) = 0.9;  ///< SGD momentum
  /// Weight of the patch's total variation in the loss. Default 0.
  TORCH_ARG(double, tv) = 0.0;
  TORCH_ARG(uint64_t, seed) = 0;  ///< shuffling and placements
  /// Checkpoint file written every epoch and resumed from when it matches; "" for none.
  TORCH_ARG(std::string, checkpoint) = "";
  /// What else the work depends on that these arguments do not show (the models' files, the
  /// placement and objective flags): a checkpoint is resumed only when it was written with
  /// the same fingerprint, the same options and the same images. The CLI passes its flags.
  TORCH_ARG(std::string, fingerprint) = "";
  TORCH_ARG(std::string, progress) = "patch";  ///< progress label on stderr
};

/// What `train_patch` returns.
struct PatchTrainResult {
  Patch patch;                     ///< the trained patch
  std::vector<double> step_loss;   ///< every step's loss
  std::vector<double> epoch_loss;  ///< mean per epoch
};

/// Each image's object box for on-object placement (PlacementOptions::on_object): the best
/// detection of class `cls` (any class for -1) by `model`'s own decode at its score
/// threshold, in the pixels of `x`; empty where it finds none. Throws InputError when `model`
/// is not an object detector.
std::vector<ObjectBox> object_boxes(const Model& model, const torch::Tensor& x, int64_t cls);
/// Each image's boxes of the `most` best detections of class `cls` (best first; fewer where
/// the detector finds fewer), as object_boxes finds the best.
std::vector<std::vector<ObjectBox>> object_boxes_each(const Model& model, const torch::Tensor& x,
                                                      int64_t cls, int64_t most);

/// One optimisation step of a patch against its source models: placements, pasting (with
/// EOT), the objective, per-model gradient normalisation, the optimiser step and clamping.
/// The trainer's inner loop, exposed so benchmarks can time it.
class PatchStepper {
 public:
  /// Builds one objective per model (feature/ot targets come from `data`).
  PatchStepper(std::vector<std::shared_ptr<Model>> models, const Dataset& data, Patch patch,
               const ObjectiveOptions& objective, const PlacementOptions& placement,
               const PatchTrainOptions& options);
  ~PatchStepper();
  /// One step on images `x` with labels `y`; returns the loss (mean over models).
  double step(const torch::Tensor& x, const torch::Tensor& y, at::Generator& gen);
  /// The patch being optimised.
  Patch& patch() { return patch_; }
  /// The optimiser (its state is checkpointed).
  torch::optim::Optimizer& optimizer() { return *optimizer_; }

 private:
  std::vector<std::shared_ptr<Model>> models_;
  std::vector<std::unique_ptr<PatchObjective>> objectives_;
  Patch patch_;
  torch::Tensor mask_;
  PlacementOptions placement_;
  int64_t object_class_ = -1;  ///< on-object placement: the class whose box the patch goes on
  PatchTrainOptions options_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

/// Optimises `patch` over `data` against every model in `models` (ensemble: each model's
/// gradient is normalised to unit L2 before averaging); params are clamped to [0,1] after
/// every step. `on_epoch(epoch, mean_loss)` runs after each epoch's checkpoint.
PatchTrainResult train_patch(const std::vector<std::shared_ptr<Model>>& models, const Dataset& data,
                             Patch patch, const ObjectiveOptions& objective,
                             const PlacementOptions& placement, const PatchTrainOptions& options,
                             const std::function<void(int64_t, double)>& on_epoch = {});

/// Results of a patch on one model. fooling_rate: share of (image, placement) pairs correct
/// when clean and wrong when patched, among those correct when clean; target_success (tSuc):
/// share predicted as the target among items whose label is not the target (-1 untargeted);
/// clean_target_rate: the same share on the clean images, tSuc's baseline (what the model
/// already predicts as the target without a patch).
struct PatchEvaluation {
  int64_t n = 0;                  ///< images
  int64_t repeats = 0;            ///< placements per image
  double clean_accuracy = 0;      ///< share of images correct clean
  double patched_accuracy = 0;    ///< share of (image, placement) pairs correct patched
  double fooling_rate = 0;        ///< see above
  double target_success = -1;     ///< tSuc, see above
  double clean_target_rate = -1;  ///< tSuc's baseline, see above
};

/// Evaluates with `repeats` random placements per image drawn from `seed`.
PatchEvaluation evaluate_patch(Model& model, const Dataset& data, const Patch& patch,
                               const PlacementOptions& placement, int64_t target, int64_t repeats,
                               uint64_t seed, int64_t batch = 250);

/// Results of a patch on a detector for one class (every class with cls -1). A class counts as
/// detected in an image when its best score, sigmoid of the Model output's class logit, is at
/// least `threshold`: when the model's decode finds a box of that class at that score before
/// its class-agnostic non-maximum suppression (which may still drop the box for a better
/// overlapping one of another class). Pairs are (image, placement).
struct DetectionPatchEvaluation {
  int64_t n = 0;                      ///< images
  int64_t repeats = 0;                ///< placements per image
  double threshold = 0;               ///< the score a detection needs
  double clean_detection_rate = 0;    ///< images with the class detected, clean
  double patched_detection_rate = 0;  ///< pairs with the class detected, patched
  double hidden_rate = -1;    ///< among pairs detected clean: not detected patched (-1: none)
  double appeared_rate = -1;  ///< among pairs not detected clean: detected patched (-1: none)
  /// Boxes of the class the detector finds on the clean images (its decode, threshold and
  /// non-maximum suppression), summed over the images.
  int64_t clean_boxes = 0;
  /// Among (clean box, placement) pairs: a patched detection of the same class overlaps the
  /// box with IoU >= 0.5 (the person is still found). -1: no clean boxes.
  double box_recall = -1;
  /// (clean box, placement) pairs where the pasted patch overlaps the box.
  int64_t boxes_under_patch = 0;
  /// box_recall among those pairs (the object the patch sits on). -1: none.
  double under_patch_recall = -1;
};

struct Detection;  // foil/models/graph_model.h

/// Intersection over union of two boxes (0 when they do not overlap).
double box_iou(const Detection& a, const Detection& b);

/// Of one image's clean detections of class `cls` (-1: every class), how many a patched image
/// keeps and how many the patch overlaps.
struct KeptBoxes {
  int64_t clean = 0;       ///< clean boxes of the class
  int64_t kept = 0;        ///< of them: a patched box of the same class has IoU >= 0.5 with it
  int64_t under = 0;       ///< of them: a pasted patch's square overlaps the box
  int64_t under_kept = 0;  ///< of those: kept
};

/// Counts `clean`'s boxes `patched` keeps, and those under one of `patch_areas` (the pasted
/// squares).
KeptBoxes count_kept_boxes(const std::vector<Detection>& clean,
                           const std::vector<Detection>& patched,
                           const std::vector<Detection>& patch_areas, int64_t cls);

/// Evaluates a patch on a detector with `repeats` random placements per image from `seed`.
DetectionPatchEvaluation evaluate_detection_patch(Model& model, const Dataset& data,
                                                  const Patch& patch,
                                                  const PlacementOptions& placement, int64_t cls,
                                                  double threshold, int64_t repeats, uint64_t seed,
                                                  int64_t batch = 250);

}  // namespace foil
