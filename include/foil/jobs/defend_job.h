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

/// What a user sets of a defence job besides the attack: the defence, the adaptive attack's
/// own steps, restarts and EOT samples, and the batch.
struct DefendSettings {
  NeutralizeOptions defense;      ///< the neutralisation's settings
  int64_t adaptive_steps = 0;     ///< the adaptive attack's steps (0: the attack's)
  int64_t adaptive_restarts = 0;  ///< its random restarts (0: the attack's)
  int64_t adaptive_eot = 1;       ///< its gradients averaged over this many passes (EOT)
  int64_t batch = 250;            ///< the unit shared out between processes
};
/// The settable fields of DefendSettings (the neutralisation's table among them): the
/// CLI's `foil defend` flags.
const std::vector<OptionField<DefendSettings>>& defend_option_fields();
/// The job's options: attack `name` with `attack` options as given, the same keeping each
/// sample's first success, and the adaptive one with the settings' steps, restarts and EOT.
/// Throws InputError for options the attack refuses.
DefendJobOptions defend_job_options(const DefendSettings& settings, const std::string& name,
                                    const AttackOptions& attack);

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
