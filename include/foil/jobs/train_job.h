#pragma once
/// @file
/// The training jobs behind `foil train` and `foil keypoints train`: data opened and checked,
/// a checkpoint beside the model file (resumed unless told not to), progress per epoch, the
/// model file written, and the history as JSON.
///
/// Example:
///   foil::TrainJobOptions o;
///   o.out = "cnn.foil";
///   o.train.epochs(2);
///   foil::TrainJobResult r = foil::run_train_job(o);   // writes cnn.foil

#include <nlohmann/json.hpp>
#include <string>

#include "foil/jobs/job.h"
#include "foil/keypoints/kaa.h"
#include "foil/train/trainer.h"

namespace foil {

/// What `run_train_job` trains and where it writes.
struct TrainJobOptions {
  std::string data = "fashion-mnist:train";  ///< training data spec
  std::string test = "fashion-mnist:test";   ///< test data spec, evaluated each epoch; "": none
  std::string out;                           ///< model file to write (checkpoint: OUT.ckpt)
  TrainOptions train;                        ///< architecture and schedule (checkpoint: set here)
  bool resume = true;                        ///< start from OUT.ckpt when it exists
  Log log;                                   ///< progress lines: the start and each epoch
};

/// A finished training: the history and the model's test accuracy.
struct TrainJobResult {
  std::string arch;           ///< the architecture trained
  std::string data;           ///< the training data's source
  std::string adv_train;      ///< none or pgd
  double test_accuracy = -1;  ///< on the test data after the last epoch; -1: no test data
  /// One object per epoch: epoch, loss, train_accuracy, test_accuracy (null without test
  /// data), seconds.
  nlohmann::json epochs = nlohmann::json::array();
  /// {"arch", "data", "adv_train", "test_accuracy", "epochs"}.
  nlohmann::json to_json() const;
};

/// Trains a zoo model on `options.data` and writes it to `options.out` (InputError for bad
/// data, an unwritable output or a job of several processes: training is not shared out).
TrainJobResult run_train_job(const TrainJobOptions& options);

/// What `run_pose_train_job` trains and where it writes.
struct PoseTrainJobOptions {
  std::string data = "pose:train";     ///< pose:train[:N]
  std::string test = "pose:test:500";  ///< pose:test[:N], PCK@4px each epoch
  std::string out;                     ///< model file to write (checkpoint: OUT.ckpt)
  PoseTrainOptions train;              ///< schedule (checkpoint: set here)
  bool resume = true;                  ///< start from OUT.ckpt when it exists
  Log log;                             ///< progress lines: the start and each epoch
};

/// The fields of PoseTrainOptions a user sets (foil/core/option_fields.h): `foil keypoints
/// train`'s flags.
const std::vector<OptionField<PoseTrainOptions>>& pose_train_option_fields();

/// A finished keypoint model training.
struct PoseTrainJobResult {
  std::string data;  ///< the source trained on
  std::string test;  ///< the source tested on
  double pck4 = 0;   ///< PCK@4px on the test figures after the last epoch
  /// One object per epoch: epoch, loss, pck4.
  nlohmann::json epochs = nlohmann::json::array();
  /// {"data", "test", "epochs"}.
  nlohmann::json to_json() const;
};

/// Trains the heatmap keypoint model (`posenet`) and writes it to `options.out`.
PoseTrainJobResult run_pose_train_job(const PoseTrainJobOptions& options);

}  // namespace foil
