#pragma once
/// @file
/// The patch jobs: the data a patch trains and is evaluated on (held out), the task a patch
/// attacks (a target class of classifiers, or a class of detectors), the transfer matrix
/// (a patch per objective and source model, evaluated on every model), and the pictures and
/// JSON rows the patch commands write.
///
/// Example:
///   foil::PatchTransferOptions o;
///   o.target = 8;
///   auto data = foil::open_patch_data("fashion-mnist:train:2000", models, o.target);
///   foil::PatchTransferResult r = foil::run_patch_transfer(models, data, o);
///   r.write("results");          // transfer-LOSS.csv/.png, transfer.json

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/data/dataset.h"
#include "foil/jobs/job.h"
#include "foil/models/model.h"
#include "foil/patch/objective.h"
#include "foil/patch/patch.h"
#include "foil/patch/trainer.h"

namespace foil {

/// The items of `spec` at each model's input size, labelled as the first model labels the
/// unlabelled ones; `target` (>= 0) must be one of its classes.
std::vector<Dataset> open_patch_data(const std::string& spec,
                                     const std::vector<std::shared_ptr<Model>>& models,
                                     int64_t target = -1, const Log& log = {});

/// What a patch attacks: "classify" (a `target` class, -1 untargeted) or "detect" (the
/// detections of class `cls`: a name, an index or "all"). Checks them, `loss` ("" = none) and
/// the placement (on the object: detect only) against the models; returns the class index the
/// objectives and evaluations take (-1: all or untargeted).
int64_t resolve_patch_task(const std::string& task, const std::string& cls, int64_t target,
                           const std::string& loss, const PlacementOptions& placement,
                           const std::vector<std::shared_ptr<Model>>& models);
/// The objective a task trains by default: ce (classify) or vanish (detect).
std::string default_patch_loss(const std::string& task);

/// Training and evaluation data of a patch, and where each came from.
struct PatchSplit {
  Dataset train;               ///< what the patch trains on
  Dataset eval;                ///< what it is evaluated on
  std::string train_source;    ///< where `train` came from
  std::string eval_source;     ///< where `eval` came from
  bool eval_on_train = false;  ///< evaluated on the training items (not held out)
  /// The data spec the evaluation items come from ("": a caller's own items).
  std::string eval_spec;
};

/// Evaluation data for a patch trained on `data` (from `spec`): `eval_spec` when given
/// (refused when it comes from the training source, unless `eval_on_train`); else, for
/// Fashion-MNIST, the first 1000 items of the other split; else a fixed 80/20 split of the
/// items (seed 0), training on the 80%. `eval_on_train` evaluates on the training items
/// themselves, labelled so.
PatchSplit split_patch_data(const Dataset& data, const std::string& spec,
                            const std::string& eval_spec, bool eval_on_train, Model& model,
                            const Log& log = {});

/// Clean images of class `target` for the feature and ot objectives (their target
/// distribution) from the data spec `spec`, at `model`'s input size: its images labelled as
/// the class, or for unlabelled data (video frames, photos) those `model` predicts as it.
/// Refused (InputError naming --target-data) when `spec` is the evaluation data's source
/// `eval_spec` (the target distribution would include held-out images) or holds none.
torch::Tensor target_class_images(const std::string& spec, const std::string& eval_spec,
                                  Model& model, int64_t target, const Log& log = {});

/// Where evaluations put a patch trained with `training`: the same place (keep-out, on the
/// object, how many objects), without EOT.
PlacementOptions evaluation_placement(const PlacementOptions& training);

/// The patch for images of `data`'s size (a grid patch keeps its cells; its side follows the
/// image) and channels (grey to colour: every channel; colour to grey: its luma).
Patch patch_at_size(const Patch& p, const Dataset& data);

/// A patch of `p`'s form and size for `data`'s images with random colours (parameters uniform
/// in [0,1] from `seed`): the baseline every patch evaluation reports beside the patch
/// ("random_patch").
Patch random_patch_like(const Patch& p, const Dataset& data, uint64_t seed);

/// The detection threshold of a detector (the score a detection needs).
double detection_threshold(const Model& detector);

// ---- rows and pictures of the patch commands -------------------------------------------

/// An evaluation as JSON (rates undefined for the data are null).
nlohmann::json to_json(const PatchEvaluation& e);
/// A detector's evaluation as JSON (rates undefined for the data are null).
nlohmann::json to_json(const DetectionPatchEvaluation& e);
/// One console line of a detection evaluation.
std::string detection_line(const DetectionPatchEvaluation& e);
/// tSuc with its baseline, the clean images already predicted as the target.
std::string tsuc_text(const PatchEvaluation& e);
/// Where evaluations placed the patch: "anywhere", or the central fraction of the object box.
nlohmann::json placement_json(const PlacementOptions& placement);
/// The photo files of a photo dataset (with their crop); null for Fashion-MNIST.
nlohmann::json item_list(const Dataset& d);
/// Class `k`'s name in `d`, or its index.
std::string class_name(const Dataset& d, int64_t k);

/// The patch scaled up so its cells are visible.
void write_patch_png(const std::string& path, const Patch& p);
/// The first 8 items clean and patched, with the model's predictions.
void write_patched_grid(const std::string& path, Model& model, const Dataset& data, const Patch& p,
                        const PlacementOptions& placement, uint64_t seed);
/// The first 4 items clean and patched with the detector's boxes drawn.
void write_detections(const std::string& path, Model& model, const Dataset& data, const Patch& p,
                      const PlacementOptions& placement, int64_t cls, uint64_t seed);

// ---- train and evaluate one patch ---------------------------------------------------------

/// What a patch train job trains, on what, and how.
struct PatchTrainJobOptions {
  PatchOptions patch;             ///< form, size, initialisation
  PlacementOptions placement;     ///< training placement; evaluation: the same without EOT
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (a name, an index or all)
  int64_t target = -1;            ///< classify: the target class (-1: untargeted)
  /// The objective (loss "": ce for classify, vanish for detect); its target is the task's.
  ObjectiveOptions objective;
  /// epochs, batch, optimizer, lr, tv, checkpoint, fingerprint (seed: `seed`).
  PatchTrainOptions train;
  std::string data_spec;  ///< the training data's spec (for the held-out split)
  std::string eval_spec;  ///< held-out evaluation data ("": split_patch_data's default)
  /// feature/ot: where their target-class images come from ("": the training data's);
  /// see target_class_images.
  std::string target_spec;
  /// Held-out evaluation items given directly (a library or Python caller's own images);
  /// when not empty they are the evaluation data and `data_spec`/`eval_spec` are not read.
  Dataset eval_items;
  bool eval_on_train = false;  ///< evaluate on the training items, labelled so
  uint64_t seed = 0;           ///< initialisation, shuffling, placements
  Log log;                     ///< progress lines
};

/// The trained patch and its evaluation; `write` gives the files of `foil patch train`.
struct PatchTrainJobResult {
  PatchTrainResult trained;      ///< the patch and its losses
  PatchSplit split;              ///< the data it trained and was evaluated on
  std::string loss;              ///< the objective, as run
  int64_t target = -1;           ///< the resolved class (-1: untargeted or all)
  bool detect = false;           ///< the models are detectors
  PlacementOptions at;           ///< where evaluations placed the patch
  std::shared_ptr<Model> shown;  ///< the model of patched.png (the first)
  nlohmann::json summary;        ///< summary.json
  uint64_t seed = 0;             ///< the pictures' placements
  /// Writes patch.pt, patch.json, patch.png, loss.csv, loss.svg, patched.png and summary.json.
  void write(const std::string& dir) const;
};

/// Trains one patch on the models (an ensemble) with `data` (the first model's, from
/// open_patch_data) and evaluates it on held-out data on every model.
PatchTrainJobResult run_patch_train(const std::vector<std::shared_ptr<Model>>& models,
                                    const Dataset& data, PatchTrainJobOptions options);

/// Where a patch eval job places the patch and what it measures.
struct PatchEvalJobOptions {
  PlacementOptions placement;     ///< where the patch goes on each image
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (a name, an index or all)
  int64_t target = -1;            ///< classify: the target class of tSuc (-1: none)
  int64_t repeats = 5;            ///< random placements per image
  std::string patch_file;         ///< for the results' "patch"
  uint64_t seed = 0;              ///< placements
  Log log;                        ///< progress lines
};

/// A patch on every model (`per_model[k]`: the data at model k's input size): clean vs
/// patched accuracy, fooling rate and tSuc, or a detector's detection rates of the class.
/// Returns eval.json's content.
nlohmann::json run_patch_eval(const std::vector<std::shared_ptr<Model>>& models,
                              const std::vector<Dataset>& per_model, const Patch& patch,
                              const PatchEvalJobOptions& options);

// ---- the transfer matrix -----------------------------------------------------------------

/// What a transfer job trains, on what, and how it evaluates.
struct PatchTransferOptions {
  PatchOptions patch;             ///< form, size, initialisation
  PlacementOptions placement;     ///< training placement; evaluation: the same without EOT
  std::string task = "classify";  ///< classify or detect
  std::string cls;                ///< detect: the class (a name, an index or all)
  int64_t target = -1;            ///< classify: required (transfer is measured as tSuc)
  /// Objectives to compare; empty: ce, feature, ot (classify) or vanish (detect).
  std::vector<std::string> losses;
  ObjectiveOptions objective;  ///< layers, projections, ...; loss and target set per matrix
  PatchTrainOptions train;     ///< epochs, batch, optimizer, lr, tv (seed: `seed`)
  int64_t repeats = 3;         ///< random placements per image in evaluation
  std::string data_spec;       ///< the training data's spec (for the held-out split)
  std::string eval_spec;       ///< held-out evaluation data ("": split_patch_data's default)
  bool eval_on_train = false;  ///< evaluate on the training items, labelled so
  /// feature/ot: where their target-class images come from ("": the training data's);
  /// see target_class_images. Each source model takes the images it predicts as the target.
  std::string target_spec;
  /// Where finished patches are kept (patch-LOSS-SOURCE.pt with a .fingerprint): a patch
  /// there made from the same work is reused. Empty: nothing is kept.
  std::string patch_folder;
  /// What the work is made of (the caller's flags, data, seed); with the loss and the digest
  /// of `model_files[source]` it decides whether a kept patch is reused.
  nlohmann::json work = nlohmann::json::object();
  std::vector<std::string> model_files;  ///< the models' files, for their digests
  uint64_t seed = 0;                     ///< initialisation, shuffling, placements
  Log log;                               ///< progress lines
};

/// The matrices; `write` gives the files of `foil patch transfer`.
struct PatchTransferResult {
  std::vector<std::string> models;  ///< the models' names (sources and evaluated)
  std::vector<std::string> losses;  ///< one matrix each
  /// Per loss, source x evaluated model: tSuc (classify) or the class's patched detection
  /// rate (detect).
  std::vector<std::vector<std::vector<double>>> matrices;
  std::string metric;      ///< "tSuc" or "patched detection rate"
  std::string class_text;  ///< the target (or detected) class, for titles
  nlohmann::json summary;  ///< transfer.json
  nlohmann::json to_json() const { return summary; }  ///< transfer.json's content
  /// Writes transfer-LOSS.csv and .png per loss and transfer.json into `dir`.
  void write(const std::string& dir) const;
};

/// Checks the options against nothing but themselves (before anything slow).
void check_patch_transfer_options(const PatchTransferOptions& options);
/// A patch per loss and source model (`per_model[s]`: the data at model s's input size), each
/// evaluated on every model's held-out data.
PatchTransferResult run_patch_transfer(const std::vector<std::shared_ptr<Model>>& models,
                                       const std::vector<Dataset>& per_model,
                                       PatchTransferOptions options);

}  // namespace foil
