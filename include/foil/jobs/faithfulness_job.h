#pragma once
/// @file
/// The faithfulness job, as `foil explain --faithfulness` runs it: every importance method on
/// the same images, each map's deletion and insertion curves and their areas and ROAD's
/// debiased curves, beside a random order of the pixels (the chance level), ranked.
///
/// Example:
///   foil::FaithfulnessJobOptions o;
///   foil::FaithfulnessJobResult r = foil::run_faithfulness(*model, data, o);
///   r.write("results");  // faithfulness.json/.csv, deletion.svg, insertion.svg, methods.png

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/explain/explain.h"
#include "foil/explain/faithfulness.h"
#include "foil/jobs/job.h"

namespace foil {

/// What `run_faithfulness` compares.
struct FaithfulnessJobOptions {
  std::vector<ExplainMethod> methods;  ///< empty: every method
  std::string layer;                   ///< the CAMs' layer; "": the last spatial or token layer
  ExplainOptions explain;              ///< the sampling and sliding methods' settings
  FaithfulnessOptions faithfulness;    ///< the curves
  uint64_t seed = 0;                   ///< the random order
  Log log;                             ///< progress lines
};

/// One method's curves.
struct FaithfulnessRow {
  std::string method;         ///< its name, or "random" (the chance level)
  FaithfulnessCurves curves;  ///< deletion and insertion
  RoadCurves road;            ///< ROAD, most and least important first
  double seconds = 0;         ///< computing the maps
  torch::Tensor examples;     ///< the maps of the first `FaithfulnessJobResult::examples` images
};

/// What `run_faithfulness` found; `write` gives the files of `foil explain --faithfulness`.
struct FaithfulnessJobResult {
  std::string model;                          ///< the model's name
  std::string data;                           ///< the images' source
  int64_t n = 0;                              ///< images
  std::string layer;                          ///< the CAMs' layer
  FaithfulnessOptions curves;                 ///< how the curves were drawn
  std::vector<FaithfulnessRow> rows;          ///< ranked, most faithful first; "random" among them
  std::vector<std::string> lines;             ///< the printed table
  torch::Tensor examples;                     ///< the first images (up to 6), shown with each map
  std::vector<std::string> example_captions;  ///< their predicted classes
  /// faithfulness.json's content.
  nlohmann::json to_json() const;
  /// Writes faithfulness.json, faithfulness.csv (the curves), deletion.svg, insertion.svg and
  /// methods.png (each method's maps of the first images, ranked, with a colour bar).
  void write(const std::string& dir) const;
};

/// One method's deletion and insertion areas on `x` (its predicted classes) beside a random
/// order's, as the regions and defence jobs report the trustworthiness of their importance
/// map: {method, deletion_auc, insertion_auc, random_deletion_auc, random_insertion_auc, n}.
nlohmann::json method_faithfulness(Model& model, const torch::Tensor& x, ExplainMethod method,
                                   const std::string& layer, const ExplainOptions& explain,
                                   int64_t batch);

/// One console line of `method_faithfulness`'s result.
std::string faithfulness_line(const nlohmann::json& row);

/// Which deletion/insertion protocol `options` is, in words, for tables and JSON.
std::string protocol_words(const FaithfulnessOptions& options);

/// Maps every image of `data` for its predicted class with each method and scores the maps.
FaithfulnessJobResult run_faithfulness(Model& model, const Dataset& data,
                                       const FaithfulnessJobOptions& options);

}  // namespace foil
