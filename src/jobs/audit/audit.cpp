// The audit: the norm x eps grid of one attack, the minimal-norm curves, the checks, and the
// results files.
#include "foil/jobs/audit.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "foil/attacks/attack.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

const char* const kNorms[] = {"linf", "l2"};

int64_t audit_steps(const AuditOptions& o) {
  return o.steps == 0 ? default_steps(o.attack) : o.steps;
}

AttackOptions audit_attack_options(const AuditOptions& o, const std::string& norm, double eps) {
  const int64_t steps = audit_steps(o);
  auto a = AttackOptions().eps(eps).steps(steps).norm(norm).seed(o.seed);
  a.alpha(2.5 * eps / std::max<int64_t>(steps, 1)).random_start(true).early_stop(o.early_stop);
  return a.version(o.thorough ? "standard" : "fast");
}

const std::vector<double>& grid_of(const AuditOptions& o, const std::string& norm) {
  return norm == "linf" ? o.linf_eps : o.l2_eps;
}

}  // namespace

void check_audit_options(const AuditOptions& o) {
  for (const auto& [grid, flag] : {std::pair{&o.linf_eps, "--linf-eps"}, {&o.l2_eps, "--l2-eps"}}) {
    check_input(!grid->empty(), flag, "a list of budgets > 0", "an empty list");
    for (double e : *grid)
      check_input(e > 0 && std::isfinite(e), flag, "a list of budgets > 0", fmt::format("{}", e));
    check_input(std::is_sorted(grid->begin(), grid->end()), flag, "budgets in increasing order",
                "an unsorted list");
  }
  for (const std::string norm : kNorms) make_attack(o.attack, audit_attack_options(o, norm, 1.0));
  check_input(o.curve == "deepfool" || o.curve == "cw" || o.curve == "none", "--curve",
              "deepfool, cw or none", "'" + o.curve + "'");
  check_input(o.batch >= 1, "--batch", "a batch size >= 1", std::to_string(o.batch));
  check_input(o.examples >= 0, "--examples", "a count >= 0", std::to_string(o.examples));
}

namespace {

/// The threat table: the white-box row from the audit's run at the middle Linf budget, then
/// the other threats there.
std::vector<ThreatRow> threat_table(Model& model, const Dataset& data, const AuditOptions& o,
                                    const AuditResult& r) {
  const double eps = o.linf_eps[o.linf_eps.size() / 2];
  const auto wb = std::find_if(r.rows.begin(), r.rows.end(), [&](const AuditRow& row) {
    return row.norm == "linf" && row.eps == eps;
  });
  std::vector<ThreatRow> rows = {
      white_box_row(wb->ev, make_attack(o.attack, audit_attack_options(o, "linf", eps))->describe(),
                    "linf", eps)};
  for (ThreatRow& row : run_threats(model, data, o.threats, "linf", eps, o.batch, o.seed, o.log))
    rows.push_back(std::move(row));
  return rows;
}

}  // namespace

AuditResult run_audit(Model& model, const Dataset& data, const AuditOptions& o) {
  check_audit_options(o);
  const double start = now_seconds();
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  AuditResult r;
  r.model = model.info();
  r.data = data.source;
  r.n = data.size();
  r.class_names = data.class_names;
  r.steps = audit_steps(o);
  r.options = o;
  r.options.log = nullptr;
  r.attack = make_attack(o.attack, audit_attack_options(o, "linf", o.linf_eps.front()))->describe();
  log(fmt::format("auditing {} ({}) on {} ({} items)", model.info().name, model.info().backend,
                  data.source, data.size()));
  log("attack  " + r.attack);
  if (!o.thorough && o.attack == "autoattack")
    log("(the fast version has no gradient-free stage: its robust accuracy is an upper bound "
        "from gradient attacks only; --thorough runs the standard version)");
  check_threat_options(o.threats, model);
  r.checks = check_model(model, data);

  for (const std::string norm : kNorms) {
    for (double eps : grid_of(o, norm)) {
      auto attack = make_attack(o.attack, audit_attack_options(o, norm, eps));
      Evaluation ev =
          evaluate_attack(model, data, *attack,
                          EvaluationOptions()
                              .batch(o.batch)
                              .seed(o.seed)
                              .keep_examples(o.examples)
                              .progress(fmt::format("{} {} eps {:g}", attack->name(), norm, eps)));
      r.clean_accuracy = ev.clean_accuracy;
      std::string stages;
      for (size_t s = 0; s < ev.stage_names.size(); ++s)
        stages += fmt::format("  {} {:.2f}%", ev.stage_names[s], 100 * ev.stage_robust_accuracy[s]);
      log(fmt::format("{:<10} {:<5} eps {:<6g} robust accuracy {:6.2f}%  ({:.1f}s){}",
                      attack->name(), norm, eps, 100 * ev.robust_accuracy, ev.seconds,
                      stages.empty() ? "" : "  after:" + stages));
      r.rows.push_back({attack->name(), norm, eps, std::move(ev)});
    }
    // The minimal-norm curve: one run per norm gives accuracy at every eps (C&W is L2 only).
    const std::string curve = o.curve == "cw" && norm == "linf" ? "deepfool" : o.curve;
    if (curve == "none") continue;
    const auto& grid = grid_of(o, norm);
    auto a = AttackOptions().norm(norm).eps(grid.back()).steps(default_steps(curve));
    auto attack = make_attack(curve, a.seed(o.seed));
    AuditCurve cv{curve,
                  norm,
                  evaluate_attack(model, data, *attack,
                                  EvaluationOptions().batch(o.batch).progress(
                                      fmt::format("{} {}", curve, norm))),
                  {},
                  {}};
    const Evaluation& ev = cv.ev;
    const std::string sizes =
        ev.min_norm_found > 0
            ? fmt::format("median {:.4f}, mean {:.4f}", ev.min_norm_median, ev.min_norm_mean)
            : std::string("none found");
    log(fmt::format(
        "{:<10} {:<5} minimal norm: {} (found for {:.1f}% of the correct items)  ({:.1f}s)", curve,
        norm, sizes, 100 * ev.min_norm_found_rate, ev.seconds));
    for (int i = 0; i <= 50; ++i) cv.eps.push_back(grid.back() * i / 50.0);
    cv.accuracy = accuracy_at(cv.ev, cv.eps);
    r.curves.push_back(std::move(cv));
  }
  // The evaluations' own checks, and the unbounded budget per norm.
  for (const AuditRow& row : r.rows)
    for (Flag& f : check_evaluation(row.ev)) {
      f.measured = fmt::format("{} eps {:g}: {}", row.norm, row.eps, f.measured);
      r.checks.push_back(std::move(f));
    }
  for (const std::string norm : kNorms)
    r.checks.push_back(check_unbounded(model, data, norm, o.seed));
  for (const std::string& line : flag_lines(r.checks)) log(line);
  // A fired flag casts doubt on the fast version's number: the standard version (with its
  // gradient-free Square stage) is run at the middle Linf budget beside it.
  const bool doubt =
      std::any_of(r.checks.begin(), r.checks.end(), [](const Flag& f) { return f.fired; });
  if (doubt && !o.thorough && o.attack == "autoattack") {
    const double eps = o.linf_eps[o.linf_eps.size() / 2];
    auto attack = make_attack(o.attack, audit_attack_options(o, "linf", eps).version("standard"));
    const Evaluation ev = evaluate_attack(
        model, data, *attack, EvaluationOptions().batch(o.batch).seed(o.seed).progress("standard"));
    const auto fast = std::find_if(r.rows.begin(), r.rows.end(), [&](const AuditRow& row) {
      return row.norm == "linf" && row.eps == eps;
    });
    log(
        fmt::format("a check fired: the standard version at linf eps {:g}: robust accuracy {:.2f}% "
                    "(fast: {:.2f}%)",
                    eps, 100 * ev.robust_accuracy, 100 * fast->ev.robust_accuracy));
    r.standard_after_checks = ev.to_json();
    r.standard_after_checks["norm"] = "linf";
    r.standard_after_checks["eps"] = eps;
    r.standard_after_checks["why"] = "a check fired; the fast version has no gradient-free stage";
  } else if (doubt) {
    log(fmt::format("a check fired; {}", o.thorough ? "the standard version already ran"
                                                    : "--attack is not autoattack: no standard "
                                                      "version to run"));
  }
  r.threats = threat_table(model, data, o, r);
  for (const std::string& line : threat_lines(r.threats)) log(line);
  if (!o.corruption.corruptions.empty()) {
    CorruptionAuditOptions co = o.corruption;
    co.seed = o.seed;
    co.log = o.log;
    r.corruptions = run_corruption_audit(model, data, co, o.baseline);
    r.has_corruptions = true;
  }
  r.seconds = now_seconds() - start;
  return r;
}

nlohmann::json AuditResult::to_json() const {
  nlohmann::json results = nlohmann::json::array();
  for (const AuditRow& row : rows) {
    nlohmann::json j = row.ev.to_json();
    j["attack"] = row.attack;
    j["norm"] = row.norm;
    j["eps"] = row.eps;
    results.push_back(j);
  }
  nlohmann::json curve_json = nlohmann::json::array();
  for (const AuditCurve& cv : curves) {
    nlohmann::json j = cv.ev.to_json();
    // The run's own budget (the largest eps) only sets which examples it kept: its robust
    // accuracy, success rate and perturbation sizes would read as numbers of the curve.
    for (const char* key :
         {"robust_accuracy", "attack_success_rate", "excluded_already_target", "perturbation"})
      j.erase(key);
    j["attack"] = cv.attack;
    j["norm"] = cv.norm;
    j["eps"] = cv.eps;
    j["accuracy"] = cv.accuracy;
    j["note"] =
        "accuracy at eps = share of items correct clean whose smallest adversarial "
        "perturbation found is larger than eps (an upper bound on robust accuracy)";
    curve_json.push_back(j);
  }
  nlohmann::json j = {{"model",
                       {{"name", model.name},
                        {"backend", model.backend},
                        {"arch", model.arch},
                        {"input", model.input.str()},
                        {"test_accuracy_at_training", model.test_accuracy}}},
                      {"data", data},
                      {"n", n},
                      {"class_names", class_names},
                      {"clean_accuracy", clean_accuracy},
                      {"attack", attack},
                      {"steps", steps},
                      {"early_stop", options.early_stop},
                      {"seed", options.seed},
                      {"minimal_norm_curves", curve_json},
                      {"checks", flags_json(checks)},
                      {"standard_version_after_checks", standard_after_checks},
                      {"version_note", options.thorough || options.attack != "autoattack"
                                           ? ""
                                           : "fast version: gradient attacks only, robust accuracy "
                                             "is an upper bound"},
                      {"seconds", seconds},
                      {"results", results},
                      {"threats", threats_json(threats)},
                      {"threats_meaning",
                       "one budget (the middle Linf eps), one row per attacker: robust accuracy = "
                       "share of all items correct clean and under that attacker; "
                       "queries_per_item = calls on the attacked model per item (white-box: "
                       "forward+backward passes, mean; transfer: the one final example; "
                       "scores/labels: queries, median over the clean-correct items)"}};
  if (has_corruptions) {
    const double mca = corruptions.mean_corruption_accuracy(corruptions.model);
    const double mce = corruptions.benchmark_mean(corruptions.ce());
    j["corruptions"] = {
        {"file", "corruptions.json"},
        {"mean_corruption_accuracy", mca < 0 ? nlohmann::json() : nlohmann::json(mca)},
        {"mce", mce < 0 ? nlohmann::json() : nlohmann::json(mce)},
        {"worst", corruptions.worst}};
  }
  return j;
}

void AuditResult::write(const std::string& folder, const Dataset& items) const {
  // The CSV, one plot per norm (a line per stage, robust after it, or one for the attack, plus
  // the minimal-norm curve) and the example grid.
  std::vector<std::vector<std::string>> csv;
  std::map<std::string, std::vector<Series>> series;  // per norm
  for (const AuditRow& row : rows) {
    const Evaluation& ev = row.ev;
    std::vector<std::string> line = {row.attack,
                                     row.norm,
                                     fmt::format("{:g}", row.eps),
                                     std::to_string(ev.n),
                                     fmt::format("{:.4f}", ev.clean_accuracy),
                                     fmt::format("{:.4f}", ev.robust_accuracy)};
    for (double a : ev.stage_robust_accuracy) line.push_back(fmt::format("{:.4f}", a));
    for (const std::string& v :
         {fmt::format("{:.4f}", ev.attack_success_rate), fmt::format("{:.5f}", ev.linf_max),
          fmt::format("{:.5f}", ev.l2_mean), fmt::format("{:.3f}", ev.seconds)})
      line.push_back(v);
    csv.push_back(line);
    auto& lines = series[row.norm];
    const size_t count = std::max<size_t>(1, ev.stage_names.size());
    if (lines.empty()) {
      for (size_t s = 0; s < count; ++s) {
        const std::string label =
            ev.stage_names.empty()
                ? row.attack
                : (s == 0 ? "" : "+ ") + ev.stage_names[s] + (s + 1 == count ? " (AA)" : "");
        lines.push_back({label, {0.0}, {clean_accuracy}});
      }
    }
    for (size_t s = 0; s < count; ++s) {
      lines[s].x.push_back(row.eps);
      lines[s].y.push_back(ev.stage_names.empty() ? ev.robust_accuracy
                                                  : ev.stage_robust_accuracy[s]);
    }
  }
  for (const AuditCurve& cv : curves)
    series[cv.norm].push_back({cv.attack + " minimal-norm curve", cv.eps, cv.accuracy, true});
  const std::string dir = folder + "/";
  std::vector<std::string> header = {"attack", "norm",           "eps",
                                     "n",      "clean_accuracy", "robust_accuracy"};
  for (const auto& s : rows.front().ev.stage_names) header.push_back("robust_after_" + s);
  for (const char* h : {"attack_success_rate", "linf_max", "l2_mean", "seconds"})
    header.push_back(h);
  write_csv(dir + "audit.csv", header, csv);
  for (const std::string norm : kNorms)
    write_line_plot(dir + "robust_accuracy_" + norm + ".svg",
                    fmt::format("{}: robust accuracy vs eps ({})", model.name, norm),
                    "eps (" + norm + ")", "accuracy", series[norm]);
  // Examples: the attack at the middle budget of each norm.
  std::vector<std::pair<std::string, const Evaluation*>> examples;
  for (const std::string norm : kNorms) {
    const auto& grid = grid_of(options, norm);
    const double mid = grid[grid.size() / 2];
    for (const AuditRow& row : rows)
      if (row.norm == norm && row.eps == mid)
        examples.emplace_back(fmt::format("{} {} {:g}", row.attack, row.norm, row.eps), &row.ev);
  }
  if (options.examples > 0) write_examples(dir + "examples.png", items, examples);
  if (has_corruptions) corruptions.write(folder, items);
  write_json(dir + "audit.json", to_json());
}

}  // namespace foil
