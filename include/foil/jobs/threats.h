#pragma once
/// @file
/// The audit by threat model: beside the white-box attacker, the attacker who crafts on a
/// surrogate and transfers (transfer), who queries the model's scores (scores: Square) or only
/// its top label (labels: HopSkipJump), each at one budget, as one table.
///
/// Example:
///   foil::ThreatOptions t;
///   t.threats = {"white-box", "scores", "labels"};
///   auto rows = foil::run_threats(*model, data, t, "linf", 0.05, 250, 0, {});

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/jobs/job.h"

namespace foil {

/// Which threats the audit measures, and how.
struct ThreatOptions {
  /// From white-box, transfer, scores, labels (white-box: the audit's own attack).
  std::vector<std::string> threats{"white-box"};
  /// transfer: the surrogates, attacked as one ensemble fused by logits.
  std::vector<std::shared_ptr<Model>> surrogates;
  std::string transfer_attack = "vmi-fgsm";  ///< transfer: crafted with this attack
  int64_t transfer_steps = 10;               ///< its iterations (step eps / steps, as MI-FGSM)
  int64_t max_queries = 1000;                ///< scores and labels: queries per item
};

/// One threat model's row.
struct ThreatRow {
  std::string threat;          ///< white-box, transfer, scores or labels
  std::string needs;           ///< what the attacker needs
  std::string attack;          ///< the attack, described
  std::string norm;            ///< the budget's norm
  double eps = 0;              ///< the budget
  int64_t max_queries = 0;     ///< the query budget per item (0: none)
  double clean_accuracy = 0;   ///< on the data
  double robust_accuracy = 0;  ///< correct clean and under this attacker
  /// Calls on the attacked model per item: forward+backward passes (white box, mean), the
  /// one final example (transfer) or queries (median over the clean-correct items).
  double queries = 0;
  double seconds = 0;  ///< the row's run
};

/// white-box, transfer, scores, labels.
const std::vector<std::string>& threat_names();
/// Parses "white-box,transfer,..." (each once); throws InputError naming --threats.
std::vector<std::string> parse_threats(const std::string& text);
/// Throws InputError for options that cannot run (a transfer threat without surrogates, a
/// query budget < 1, surrogates that do not fit `model`).
void check_threat_options(const ThreatOptions& options, const Model& model);

/// The rows of the threats other than white-box at (`norm`, `eps`), in `threat_names` order.
std::vector<ThreatRow> run_threats(Model& model, const Dataset& data, const ThreatOptions& options,
                                   const std::string& norm, double eps, int64_t batch,
                                   uint64_t seed, const Log& log);

/// The white-box row, from the audit's own evaluation `ev` of `attack` at (`norm`, `eps`).
ThreatRow white_box_row(const Evaluation& ev, const std::string& attack, const std::string& norm,
                        double eps);

/// The table as printed lines.
std::vector<std::string> threat_lines(const std::vector<ThreatRow>& rows);
/// The table as JSON (an array of rows).
nlohmann::json threats_json(const std::vector<ThreatRow>& rows);

}  // namespace foil
