#pragma once
/// @file
/// The patch certification job, as `foil certify --patch` runs it: per patch area, the
/// clean accuracy of the model defended by PatchCleanser, its certified accuracy against any
/// square patch of that area anywhere on the image, and beside them foil's patch attacks on
/// the defended model (per-image and universal patches, each optimised on the plain model and
/// adaptively through the defence's random mask pairs), so the gap between what is
/// guaranteed and what an attack reaches is in one table.
///
/// Example:
///   foil::PatchCertifyOptions o;
///   o.areas = {0.02, 0.05};
///   foil::PatchCertifyResult r = foil::run_patch_certify(model, test, train, o);
///   r.write("results");  // patch_certify.json, patch_certify.csv, patch_certified.svg

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/certify/patchcleanser.h"
#include "foil/jobs/job.h"

namespace foil {

/// What `run_patch_certify` runs.
struct PatchCertifyOptions {
  std::vector<double> areas{0.02, 0.05, 0.10};  ///< patch areas, shares of the image in (0, 1)
  int64_t masks_per_axis = 6;                   ///< mask positions per axis (the reference's 6)
  int64_t batch = 500;                          ///< masked images per forward pass
  /// Ascent steps of the per-image patch attacks (foil/patch/per_image.h); 0: none.
  int64_t per_image_steps = 40;
  int64_t positions = 4;  ///< per-image attacks: patch positions per axis
  /// Epochs of each universal attack patch over the attack data; 0: none.
  int64_t attack_epochs = 5;
  double attack_lr = 0.05;  ///< the attack patches' Adam learning rate
  int64_t repeats = 3;      ///< random placements per item when a patch is evaluated
  uint64_t seed = 0;        ///< patch training and placements
  Log log;                  ///< progress lines
};

/// One patch attack on the defended model at one area.
struct PatchAttackRow {
  std::string attack;              ///< what was trained, and through what
  std::string measure;             ///< what the accuracies count
  double undefended_accuracy = 0;  ///< the plain model's accuracy under the patch
  double defended_accuracy = 0;    ///< the defended model's accuracy under the patch
  double seconds = 0;              ///< training and both evaluations
};

/// The certificate and the attacks at one patch area.
struct PatchCertifyRow {
  double area = 0;                      ///< as asked
  PatchMaskSet set;                     ///< the masks (its `patch`: the certified side)
  double certified_area = 0;            ///< the side's square as a share of the image (>= area)
  double defended_accuracy = 0;         ///< double masking's clean accuracy
  double certified_accuracy = 0;        ///< share of items with every two-mask prediction right
  std::vector<int64_t> cases{0, 0, 0};  ///< items decided by double masking's case I, II, III
  std::vector<bool> certified;          ///< per item
  std::vector<int64_t> predictions;     ///< per item: the defended prediction
  std::vector<PatchAttackRow> attacks;  ///< foil's patch attacks on the defended model
  /// The lowest defended accuracy an attack reached (-1: no attacks); never below the
  /// certified accuracy (each certified item is right under every patch).
  double best_attack_accuracy = -1;
  /// The plain (undefended) model's lowest accuracy under the same patches (-1: no attacks).
  double best_attack_undefended_accuracy = -1;
  /// Certified items a per-image patch fooled on the defended model (a bug if any).
  int64_t broken_certified = 0;
  double seconds = 0;  ///< certification and attacks
};

/// What `run_patch_certify` found; `write` gives the files of `foil certify --patch`.
struct PatchCertifyResult {
  std::string model;                  ///< the model's name
  std::string data;                   ///< the certified items' source
  std::string attack_data;            ///< where the attack patches trained ("" without attacks)
  int64_t n = 0;                      ///< items
  std::vector<int64_t> labels;        ///< per item (the clean prediction where unlabelled)
  double base_accuracy = 0;           ///< the undefended model's clean accuracy
  int64_t masks_per_axis = 0;         ///< as run
  int64_t repeats = 0;                ///< placements per item in the attacks' evaluation
  std::vector<PatchCertifyRow> rows;  ///< per area
  double seconds = 0;                 ///< the whole run
  std::vector<std::string> lines;     ///< the printed table
  /// patch_certify.json's content.
  nlohmann::json to_json() const;
  /// Writes patch_certify.json, patch_certify.csv (per item) and patch_certified.svg.
  void write(const std::string& dir) const;
};

/// The data spec the universal attack patches train on for certified items from `data_spec`:
/// `given` when set ("none": no universal patches, returns ""), refused when it comes from the
/// certified items' own source; else, for Fashion-MNIST, 1000 items of the other split; else ""
/// (none).
std::string patch_attack_data_spec(const std::string& data_spec, const std::string& given);

/// Throws InputError naming the flag for an area outside (0, 1), masks per axis outside
/// 1..64, batch outside 1..100000, attack epochs outside 0..1000, repeats outside 1..100,
/// positions outside 1..64 or per-image steps outside 0..100000.
void check_patch_certify_options(const PatchCertifyOptions& options);

/// Certifies every item of `data` against a patch of each area with PatchCleanser on `model`
/// (items shared out over the ranks of a `foil launch` job) and attacks the defended model with
/// per-image patches and with universal patches trained on `attack_data` (held out from
/// `data`; empty: no universal patches).
PatchCertifyResult run_patch_certify(std::shared_ptr<Model> model, const Dataset& data,
                                     const Dataset& attack_data,
                                     const PatchCertifyOptions& options);

}  // namespace foil
