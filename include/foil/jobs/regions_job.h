#pragma once
/// @file
/// The regions job: Region of Importance (an explanation map's top q%) against Region of
/// Attack (the attack's accumulated |gradient|, or |delta|) over a dataset: their IoU beside
/// chance, how pixels and the perturbation split over both, only one or neither, and accuracy
/// when the perturbation is confined to each part.
///
/// Example:
///   foil::RegionsJobOptions o;
///   o.attack = foil::make_attack("pgd", foil::AttackOptions().eps(0.1));
///   foil::RegionsJobResult r = foil::run_regions(*model, data, o);
///   r.write("results");  // regions.json, regions.csv, panels.png

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/explain/explain.h"
#include "foil/jobs/job.h"
#include "foil/report/figures.h"

namespace foil {

/// The attack, the importance map and the regions' size.
struct RegionsJobOptions {
  std::shared_ptr<Attack> attack;                  ///< required
  ExplainMethod method = ExplainMethod::kGradCam;  ///< the importance map
  ExplainOptions explain;                          ///< how the sampling and sliding methods work
  std::string layer;                               ///< Grad-CAM layer; "": the last spatial layer
  double q = 10;                 ///< percent of pixels in RoI and in RoA, in (0, 100)
  std::string roa = "gradient";  ///< RoA score: gradient or delta
  int64_t batch = 250;           ///< batch size (the unit shared out between processes)
  int64_t panels = 6;            ///< images in panels.png
  Log log;                       ///< progress lines
};

/// The fields of RegionsJobOptions a user sets (foil/core/option_fields.h): `foil regions`'
/// region flags (the attack's and the method's come from their own tables).
const std::vector<OptionField<RegionsJobOptions>>& regions_option_fields();

/// The regions' statistics; `write` gives the files of `foil regions`.
struct RegionsJobResult {
  nlohmann::json summary;                     ///< regions.json
  std::vector<std::string> csv_header;        ///< regions.csv's columns
  std::vector<std::vector<std::string>> csv;  ///< per item
  std::vector<std::vector<GridCell>> panels;  ///< image, importance, attack, regions
  std::vector<std::string> lines;             ///< the console summary
  /// Writes regions.json, regions.csv and panels.png into `dir`.
  void write(const std::string& dir) const;
};

/// Throws InputError for options that cannot run.
void check_regions_options(const RegionsJobOptions& options);
/// Attacks and maps every image of `data`, and compares the regions.
RegionsJobResult run_regions(Model& model, const Dataset& data, const RegionsJobOptions& options);

}  // namespace foil
