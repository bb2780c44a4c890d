#pragma once
/// @file
/// The checks that stop an evaluation from overstating robustness: the reference AutoAttack's
/// (Croce & Hein, `checks.py`: randomised model, probability outputs, zero gradients, Square
/// beating the gradient attacks) and two of Carlini et al. 2019, "On evaluating adversarial
/// robustness" (the loss must rise under attack; an unbounded budget must break every point).
/// Each is a named flag with the number behind it and one sentence on what it means and what
/// to do. Example: `for (const Flag& f : check_model(model, data)) if (f.fired) ...`.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil {

class Model;
struct Dataset;
struct Evaluation;

/// One check of an evaluation.
struct Flag {
  std::string name;      ///< e.g. "randomised model"
  bool fired = false;    ///< the check found what it looks for
  std::string measured;  ///< what was measured, in words with its number
  std::string meaning;   ///< what a firing flag means and what to do
  /// {"name", "fired", "measured", "meaning"}.
  nlohmann::json to_json() const;
};

/// The checks on the model itself, on the first `items` of `data` (labels < 0: the clean
/// prediction): randomised model (five forward passes of the same inputs differ by more than
/// 1e-4 in their L2-normalised outputs, or in how many are right), probability outputs (every
/// output in [0, 1] and every row summing to 1 within 1e-5) and zero gradients (the share of
/// points whose cross-entropy input gradient is exactly zero or not finite; fires above 0).
/// `gradients` false (a gradient-free attack): the zero-gradients check is left out.
std::vector<Flag> check_model(Model& model, const Dataset& data, int64_t items = 250,
                              bool gradients = true);

/// The checks on a finished evaluation: Square beats the gradient attacks (an ensemble with a
/// Square stage whose robust accuracy after Square is more than 0.2 points below that after
/// the gradient stages: the reference's check_square_sr) and no rise in loss (APGD's loss rose
/// above its starting value on fewer than half of the points it attacked). Only the checks
/// the evaluation has the numbers for are returned.
std::vector<Flag> check_evaluation(const Evaluation& ev);

/// Robust accuracy under APGD-CE at a budget no model survives (Linf 0.5; L2 the norm of a
/// whole image, sqrt(C*H*W)), on the first `items` of `data` with `steps` steps: fires when it
/// is not 0 (the attack is not working on this model).
Flag check_unbounded(Model& model, const Dataset& data, const std::string& norm, uint64_t seed,
                     int64_t items = 100, int64_t steps = 20);

}  // namespace foil
