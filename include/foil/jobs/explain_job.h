#pragma once
/// @file
/// The explain job: Grad-CAM, Grad-CAM++, saliency or input×gradient maps of a dataset, and
/// how they change when the images are attacked or patched: the share of each map on the
/// object, how far its top-20% region moved, how much of it falls on the patch, and how it
/// correlates with the mean map of real images of the class.
///
/// Example:
///   foil::ExplainJobOptions o;
///   o.attack = foil::make_attack("pgd", foil::AttackOptions().eps(0.1));
///   foil::ExplainJobResult r = foil::run_explain(*model, data, o);
///   r.write("results");   // overlays.png, maps.pt, maps_altered.pt, explain.json

#include <torch/types.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/explain/explain.h"
#include "foil/jobs/job.h"
#include "foil/report/figures.h"

namespace foil {

/// What an explain job maps, and how the images are altered.
struct ExplainJobOptions {
  ExplainMethod method = ExplainMethod::kGradCam;  ///< the map
  std::string layer;       ///< tapped layer for the CAMs; "": the last spatial or token layer
  ExplainOptions explain;  ///< how the sampling and sliding methods work
  /// Class to explain: pred, label, a class index or a class name.
  std::string target_class = "pred";
  int64_t batch = 64;              ///< images per pass (the unit shared out between processes)
  std::shared_ptr<Attack> attack;  ///< also explain the attacked images
  std::string patch;               ///< also explain images with this patch.pt pasted
  double keep_out = 0;             ///< with a patch: central fraction it avoids
  /// With a patch on a detector: on the explained class's detections (PlacementOptions's
  /// on_object; -1: anywhere).
  double on_object = -1;
  int64_t objects = 1;  ///< with on_object: patches per image, one per detection
  /// Real images of the explained class (a data spec): each map's correlation with their mean
  /// map (clean as baseline).
  std::string reference;
  uint64_t seed = 0;  ///< patch placements
};

/// The fields of ExplainJobOptions a user sets (foil/core/option_fields.h): `foil explain`'s
/// map and patch flags (`used_by` "maps": not by the --faithfulness ranking; "--patch": only
/// with a patch).
const std::vector<OptionField<ExplainJobOptions>>& explain_job_option_fields();

/// The maps and what they show; `write` gives the files of `foil explain`.
struct ExplainJobResult {
  nlohmann::json summary;          ///< explain.json
  torch::Tensor maps;              ///< N×H×W, clean
  torch::Tensor altered_maps;      ///< N×H×W, attacked or patched (undefined when neither)
  std::vector<std::string> lines;  ///< the console summary
  std::vector<std::vector<GridCell>> rows;             ///< overlays.png's rows
  std::vector<std::vector<GridCell>> reference_cells;  ///< reference.png (empty: none)
  std::vector<std::string> titles;                     ///< overlays.png's row titles
  /// Writes overlays.png, maps.pt, explain.json and (when altered) maps_altered.pt and (with
  /// a reference) reference.png into `dir`.
  void write(const std::string& dir) const;
};

/// Maps every image of `data` (and its attacked or patched version) for the chosen class.
ExplainJobResult run_explain(Model& model, const Dataset& data, const ExplainJobOptions& options);

}  // namespace foil
