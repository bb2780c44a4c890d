#pragma once
/// @file
/// The predict job: what a model sees in each image — top classes of a classifier, the objects
/// a detector finds, the 2-D/3-D keypoints a pose model decodes (in the photo's own pixels
/// where there is a photo), or its raw outputs — with skeleton/box drawings and detection crops.
///
/// Example:
///   foil::Dataset photos = foil::open_predict_data("photos/", *model);
///   foil::PredictResult r = foil::run_predict(*model, photos, foil::PredictOptions());
///   foil::write_json("predictions.json", r.results);

#include <torch/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"

namespace foil {

/// What predict shows and draws.
struct PredictOptions {
  int64_t top = 3;        ///< classes per image
  int64_t show = 10;      ///< images whose predictions go into `lines`
  double min_score = -1;  ///< detectors: the score a detection needs (-1: the model's own)
  bool labels = false;    ///< drawings: each keypoint's name and score beside it
  /// Keypoint models and detectors: write skeleton / labelled-box PNGs of each photo at its own
  /// resolution into this folder ("" = none).
  std::string draw_dir;
  /// Detectors: write each detection as a PNG here (the square around its box, a fifth
  /// larger, from the photo at its own resolution; "" = none).
  std::string crops_dir;
};

/// The fields of PredictOptions a user sets (foil/core/option_fields.h): `foil predict`'s
/// flags (the folders are the CLI's results folders).
const std::vector<OptionField<PredictOptions>>& predict_option_fields();

/// What the model saw; predictions.json's content and the console lines.
struct PredictResult {
  /// predictions.json: model, backend, data, coordinates, task, items.
  nlohmann::json results;
  nlohmann::json outputs;          ///< the raw output tensors by name ({"shape", "data"})
  std::vector<std::string> lines;  ///< what the CLI prints
  std::string kind;                ///< "keypoints", "detector", "classifier" or "generic"
  int64_t crops = 0;               ///< detection crops written
};

/// `spec` for predict: pose:test[:N] (the synthetic figures) or any data spec, at the model's
/// input size; checks the model takes it.
Dataset open_predict_data(const std::string& spec, Model& model);
/// Throws InputError when `options` ask the model for what it cannot do (drawings of a
/// classifier, crops or a score threshold of a non-detector).
void check_predict_options(const Model& model, const PredictOptions& options);
/// Runs the model on every image of `data` and decodes what it outputs.
PredictResult run_predict(Model& model, const Dataset& data, const PredictOptions& options);

}  // namespace foil
