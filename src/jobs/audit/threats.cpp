// The audit by threat model: transfer, scores and labels beside the white-box row.
#include "foil/jobs/threats.h"

#include <fmt/format.h>

#include <algorithm>

#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/models/access.h"

namespace foil {
namespace {

std::string needs_of(const std::string& threat) {
  if (threat == "white-box") return "weights and gradients";
  if (threat == "transfer") return "a surrogate trained on similar data; one query";
  if (threat == "scores") return "the output scores of each query";
  return "the top label of each query";
}

}  // namespace

const std::vector<std::string>& threat_names() {
  static const std::vector<std::string> names = {"white-box", "transfer", "scores", "labels"};
  return names;
}

std::vector<std::string> parse_threats(const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& t : split_list(text, "--threats")) {
    const auto& known = threat_names();
    check_input(std::find(known.begin(), known.end(), t) != known.end(), "--threats",
                "a list of white-box, transfer, scores, labels", "'" + t + "'");
    check_input(std::find(out.begin(), out.end(), t) == out.end(), "--threats", "each threat once",
                "'" + t + "' twice");
    out.push_back(t);
  }
  return out;
}

void check_threat_options(const ThreatOptions& o, const Model& model) {
  const auto has = [&](const char* t) {
    return std::find(o.threats.begin(), o.threats.end(), t) != o.threats.end();
  };
  check_input(!has("transfer") || !o.surrogates.empty(), "--threats transfer",
              "surrogate models (--surrogate MODEL[,MODEL...])", "none");
  for (const auto& s : o.surrogates) {
    check_input(s.get() != &model, "--surrogate " + s->info().name,
                "a model other than the audited one (that is the white-box threat)",
                "the audited model");
    check_same_task(model, *s, "--surrogate");
  }
  check_input(o.max_queries >= 1 && o.max_queries <= 1000000, "--max-queries",
              "an integer in 1..1000000", std::to_string(o.max_queries));
  check_input(o.transfer_steps >= 1 && o.transfer_steps <= 100000, "--transfer-steps",
              "an integer in 1..100000", std::to_string(o.transfer_steps));
  make_attack(o.transfer_attack, AttackOptions());
}

std::vector<ThreatRow> run_threats(Model& model, const Dataset& data, const ThreatOptions& o,
                                   const std::string& norm, double eps, int64_t batch,
                                   uint64_t seed, const Log& log) {
  check_threat_options(o, model);
  std::vector<ThreatRow> rows;
  // The attacked model as the attacker sees it (not owned: the caller keeps it).
  const std::shared_ptr<Model> shared(&model, [](Model*) {});
  for (const std::string& threat : threat_names()) {
    if (threat == "white-box" ||
        std::find(o.threats.begin(), o.threats.end(), threat) == o.threats.end())
      continue;
    ThreatRow row;
    row.threat = threat;
    row.needs = needs_of(threat);
    row.norm = norm;
    row.eps = eps;
    EvaluationOptions eo = EvaluationOptions().batch(batch).seed(seed).progress(threat);
    std::unique_ptr<Attack> attack;
    std::unique_ptr<Model> seen;
    const AttackOptions base = AttackOptions().norm(norm).eps(eps).seed(seed);
    if (threat == "transfer") {
      attack =
          make_attack(o.transfer_attack, AttackOptions(base)
                                             .steps(o.transfer_steps)
                                             .alpha(eps / static_cast<double>(o.transfer_steps)));
      seen = std::make_unique<EnsembleModel>(o.surrogates, Fusion::kLogits);
      eo.craft_on(seen.get());
    } else {
      row.max_queries = o.max_queries;
      const std::string name = threat == "scores" ? "square" : "hopskipjump";
      attack =
          make_attack(name, AttackOptions(base).queries(o.max_queries).steps(default_steps(name)));
      seen = std::make_unique<QueryModel>(shared,
                                          threat == "scores" ? Access::kScores : Access::kLabels);
    }
    row.attack = attack->describe();
    Model& judged = threat == "transfer" ? model : *seen;
    const Evaluation ev = evaluate_attack(judged, data, *attack, eo);
    row.clean_accuracy = ev.clean_accuracy;
    row.robust_accuracy = ev.robust_accuracy;
    row.queries = threat == "transfer" ? 1.0 : ev.queries_median;
    row.seconds = ev.seconds;
    if (threat == "transfer") row.attack += " on " + seen->info().name;
    if (log)
      log(fmt::format("{:<10} {:<5} eps {:<6g} robust accuracy {:6.2f}%  ({:.1f}s)  {}", threat,
                      norm, eps, 100 * row.robust_accuracy, row.seconds, row.attack));
    rows.push_back(std::move(row));
  }
  return rows;
}

ThreatRow white_box_row(const Evaluation& ev, const std::string& attack, const std::string& norm,
                        double eps) {
  ThreatRow row;
  row.threat = "white-box";
  row.needs = needs_of(row.threat);
  row.attack = attack;
  row.norm = norm;
  row.eps = eps;
  row.clean_accuracy = ev.clean_accuracy;
  row.robust_accuracy = ev.robust_accuracy;
  row.queries = static_cast<double>(ev.gradient_evaluations) / std::max<int64_t>(ev.n, 1);
  row.seconds = ev.seconds;
  return row;
}

std::vector<std::string> threat_lines(const std::vector<ThreatRow>& rows) {
  std::vector<std::string> out = {fmt::format("{:<11}{:<48}{:<18}{:>10}{:>10}{:>10}", "threat",
                                              "the attacker needs", "budget", "robust", "queries",
                                              "seconds")};
  for (const ThreatRow& r : rows) {
    std::string budget = fmt::format("{} {:g}", r.norm, r.eps);
    if (r.max_queries > 0) budget += fmt::format(", {}q", r.max_queries);
    out.push_back(fmt::format("{:<11}{:<48}{:<18}{:>9.2f}%{:>10g}{:>10.1f}", r.threat, r.needs,
                              budget, 100 * r.robust_accuracy, r.queries, r.seconds));
  }
  out.push_back(
      "(robust: share of all items correct clean and under that attacker; queries: calls on the "
      "attacked model per item: forward+backward passes for white-box (mean), the one final "
      "example for transfer, queries for scores and labels (median over the clean-correct "
      "items))");
  return out;
}

nlohmann::json threats_json(const std::vector<ThreatRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const ThreatRow& r : rows)
    out.push_back({{"threat", r.threat},
                   {"attacker_needs", r.needs},
                   {"attack", r.attack},
                   {"norm", r.norm},
                   {"eps", r.eps},
                   {"max_queries",
                    r.max_queries > 0 ? nlohmann::json(r.max_queries) : nlohmann::json(nullptr)},
                   {"clean_accuracy", r.clean_accuracy},
                   {"robust_accuracy", r.robust_accuracy},
                   {"queries_per_item", r.queries},
                   {"seconds", r.seconds}});
  return out;
}

}  // namespace foil
