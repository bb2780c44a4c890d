#pragma once
/// @file
/// Every setting of a patch job a user gives, declared once (foil/core/option_fields.h): the
/// patch's form, its placement, the objective and the training. `foil patch train|eval|
/// transfer`'s flags and foil.patch's keywords are generated from this table; `used_by` names
/// the jobs that read a field ("train", "eval", "transfer", and Python's "apply"), and a job's
/// --help lists only its own.
///
/// Example:
///   foil::PatchSettings s;
///   const auto* f = foil::find_option(foil::patch_option_fields(), "--cells");
///   foil::set_option(s, *f, int64_t{8}, "--cells");  // s.patch.cells() == 8

#include <string>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/patch/objective.h"
#include "foil/patch/patch.h"
#include "foil/patch/trainer.h"

namespace foil {

/// What a user sets for a patch job. The objective's loss starts empty: the task's default
/// (ce for classify, vanish for detect).
struct PatchSettings {
  PatchSettings() { objective.loss(""); }
  PatchOptions patch;          ///< form, size, initialisation
  PlacementOptions placement;  ///< where and how the patch is pasted (EOT)
  ObjectiveOptions objective;  ///< loss, taps, OT directions (target: the job's)
  PatchTrainOptions train;     ///< epochs, batch, optimizer, lr, tv
  std::string target_spec;     ///< data spec of the clean target-class images (feature/ot)
};

/// The table, in --help order.
const std::vector<OptionField<PatchSettings>>& patch_option_fields();

}  // namespace foil
