#pragma once
/// @file
/// The certification job: randomized smoothing's CERTIFY over a dataset, as `foil certify`
/// reports it: per item the certified class (or an abstention) and L2 radius, certified
/// accuracy against radius, the abstention rate and the time per item.
///
/// Example:
///   foil::CertifyOptions o;
///   o.smoothing = foil::SmoothingOptions().sigma(0.25).n(10000);
///   foil::CertifyResult r = foil::run_certify(*model, data, o);
///   r.write("results");  // certify.json, certify.csv, certified_accuracy.svg

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "foil/certify/smoothing.h"
#include "foil/jobs/job.h"

namespace foil {

/// What `run_certify` runs.
struct CertifyOptions {
  SmoothingOptions smoothing;  ///< sigma, n0, n, alpha, batch, seed
  /// The empirical attack on the smoothed model (SmoothAdv: PGD-L2 on the smoothed soft
  /// classifier), one run per budget; empty: none.
  std::vector<double> attack_eps{0.25, 0.5};
  int64_t attack_steps = 20;   ///< its PGD steps (step 2 eps / steps)
  int64_t attack_samples = 8;  ///< noise copies per gradient (EOT)
  Log log;                     ///< progress lines
};

/// What `run_certify` found; `write` gives the files of `foil certify`.
struct CertifyResult {
  std::string model;                       ///< the model's name
  std::string data;                        ///< the data's source
  int64_t n = 0;                           ///< items
  SmoothingOptions smoothing;              ///< as run
  std::vector<SmoothedCertificate> items;  ///< per item, in data order
  std::vector<int64_t> labels;             ///< per item (the clean prediction where unlabelled)
  double base_accuracy = 0;                ///< the model itself, without noise
  double abstain_rate = 0;                 ///< share of items where CERTIFY abstained
  double max_radius = 0;                   ///< the largest radius n and alpha allow
  std::vector<double> radii;               ///< where certified accuracy is read (0 first)
  /// Per radius r: the share of all items certified correct with radius >= r.
  std::vector<double> certified_accuracy;
  std::vector<double> attack_eps;  ///< the attack's budgets, as run
  /// Per attack budget: the share of all items the smoothed model (PREDICT) still classifies
  /// correctly on SmoothAdv's examples; never below the certified accuracy at that radius.
  std::vector<double> empirical_accuracy;
  /// Certified accuracy at each attack budget, for the comparison.
  std::vector<double> certified_at_attack;
  double seconds = 0;              ///< the whole run
  double seconds_per_item = 0;     ///< seconds / n
  std::vector<std::string> lines;  ///< the printed table
  /// Certified accuracy at `r` (read off the items).
  double certified_at(double r) const;
  /// The attack rows of certify.json.
  nlohmann::json empirical_json() const;
  /// certify.json's content.
  nlohmann::json to_json() const;
  /// Writes certify.json, certify.csv (per item) and certified_accuracy.svg into `dir`.
  void write(const std::string& dir) const;
};

/// Certifies every item of `data` against L2 perturbations of the model smoothed with
/// Gaussian noise (items shared out over the ranks of a `foil launch` job), and attacks the
/// smoothed model at each of options.attack_eps.
CertifyResult run_certify(std::shared_ptr<Model> model, const Dataset& data,
                          const CertifyOptions& options);

}  // namespace foil
