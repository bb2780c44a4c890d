#pragma once
/// @file
/// The defence job: the neutralisation defence's clean cost and robust gain, against attacks
/// crafted on the undefended model (non-adaptive) and through the defence (adaptive, BPDA).
/// The adaptive attack keeps every sample's first successful iterate (a non-smooth defended
/// loss makes the last iterate a poor witness).
///
/// Example:
///   foil::DefendJobOptions o;
///   o.attack = foil::make_attack("pgd", foil::AttackOptions().eps(0.1));
///   o.best_attack = foil::make_attack("pgd", foil::AttackOptions().eps(0.1).early_stop(true));
///   o.adaptive_attack = o.best_attack;
///   foil::DefendJobResult r = foil::run_defense(model, data, o);

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/attacks/attack.h"
#include "foil/jobs/job.h"
#include "foil/regions/neutralize.h"

namespace foil {

/// The defence and the three attacks a defence job runs.
struct DefendJobOptions {
  NeutralizeOptions defense;  ///< the neutralisation's settings
  /// The attack as given (non-adaptive: its last iterate, transferred to the defended model).
  std::shared_ptr<Attack> attack;
  /// The same attack keeping each sample's first success: the undefended robust accuracy,
  /// measured as the adaptive one is.
  std::shared_ptr<Attack> best_attack;
  /// Through the defence (BPDA), best iterate, with its own steps, restarts and EOT.
  std::shared_ptr<Attack> adaptive_attack;
  int64_t batch = 250;  ///< the unit shared out between processes
  Log log;              ///< progress lines
};

/// Accuracy clean and attacked, undefended and defended (non-adaptive and adaptive).
struct DefendJobResult {
  nlohmann::json summary;          ///< defend.json
  std::vector<std::string> lines;  ///< the accuracy table
};

/// Accuracy of `judge` over `data`: clean when `attacker` is null; otherwise the share of
/// items `judge` classifies correctly both clean and on `attack`'s examples crafted on
/// `attacker` (robust accuracy).
double accuracy_under(Model& judge, Model* attacker, const Attack* attack, const Dataset& data,
                      int64_t batch);

/// Runs the defence job: wraps `model` in the defence and measures the five accuracies.
DefendJobResult run_defense(const std::shared_ptr<Model>& model, const Dataset& data,
                            const DefendJobOptions& options);

}  // namespace foil
