#pragma once
/// @file
/// The transfer job: examples crafted on each model of a list, judged by every model of it, as
/// one matrix per attack (rows: the surrogate it was crafted on, columns: the target), with
/// each target's clean accuracy and the success of random noise of the same norm beside it.
///
/// Example:
///   foil::TransferOptions o;
///   o.attacks = {"mifgsm", "vmi-fgsm"};
///   o.attack = foil::AttackOptions().eps(0.1).alpha(0.01).steps(10);
///   foil::TransferResult r = foil::run_transfer({a.get(), b.get()}, data, o);
///   r.write("results");  // transfer.json, transfer.csv, transfer-ATTACK.png

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/jobs/job.h"

namespace foil {

/// What the transfer job runs.
struct TransferOptions {
  /// One matrix per attack (make_attack names; each with `attack`'s options).
  std::vector<std::string> attacks{"mifgsm"};
  AttackOptions attack;  ///< eps, norm, alpha, steps, decay, ... shared by the attacks
  int64_t batch = 250;   ///< batch size
  uint64_t seed = 0;     ///< random draws of the attacks and of the noise baseline
  Log log;               ///< progress lines
};

/// One attack's matrix.
struct TransferMatrix {
  std::string attack;    ///< its name
  std::string describe;  ///< the attack with every option it used
  /// [surrogate][target]: of the items the target classifies correctly, the share whose
  /// example crafted on the surrogate it gets wrong. The diagonal is the white-box run.
  std::vector<std::vector<double>> success;
  double seconds = 0;  ///< crafting and judging
};

/// What the transfer job found; `write` gives the files of `foil transfer`.
struct TransferResult {
  std::vector<std::string> models;     ///< names, in order (rows and columns)
  std::string data;                    ///< the data's source
  int64_t n = 0;                       ///< items
  std::string norm;                    ///< linf or l2
  double eps = 0;                      ///< the budget
  std::vector<double> clean_accuracy;  ///< per target
  /// Per target: the share of its clean-correct items that random noise of norm eps (Linf:
  /// +-eps per pixel; L2: a Gaussian direction scaled to eps) turns wrong: the baseline a
  /// transfer attack must beat.
  std::vector<double> noise_success;
  std::vector<TransferMatrix> matrices;  ///< one per attack
  std::vector<std::string> lines;        ///< the printed tables
  /// transfer.json's content.
  nlohmann::json to_json() const;
  /// Writes transfer.json, transfer.csv and a heat map per attack (transfer-ATTACK.png).
  void write(const std::string& dir) const;
};

/// Crafts every attack on each of `models` over `data` (labelled; every model takes its images
/// and gives the same classes) and judges the examples on all of them. Throws InputError
/// naming both models when they do not fit together.
TransferResult run_transfer(const std::vector<Model*>& models, const Dataset& data,
                            const TransferOptions& options);

}  // namespace foil
