// foil audit: the main job. Clean accuracy and robust accuracy from the AutoAttack ensemble
// (per stage) over an eps grid for Linf and L2, plus the minimal-norm robustness curve from
// DeepFool or C&W, written as a results folder (JSON, CSV, plots, example grid).
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct AuditCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:250";
  std::string out = "foil-audit";
  std::string linf_eps = "0.01,0.02,0.05,0.1,0.2";
  std::string l2_eps = "0.25,0.5,1,2,3";
  std::string attack = "autoattack", curve = "deepfool";
  int64_t steps = AttackFlags::kDefaultSteps, batch = 250, examples = 8;
  bool early_stop = true, thorough = false;
};

/// A minimal-norm robustness curve: accuracy vs eps read off per-item minimal perturbations.
struct Curve {
  std::string attack, norm;
  Evaluation ev;
};

struct Row {
  std::string attack, norm;
  double eps;
  Evaluation ev;
};

void run_audit(const AuditCmd& c) {
  const c10::Device device = apply_global_options();
  const auto linf = parse_eps(c.linf_eps, "--linf-eps");
  const auto l2 = parse_eps(c.l2_eps, "--l2-eps");
  const int64_t steps = c.steps == AttackFlags::kDefaultSteps ? default_steps(c.attack) : c.steps;
  auto options_for = [&](const std::string& norm, double eps) {
    auto o = AttackOptions().eps(eps).steps(steps).norm(norm).seed(global_options().seed);
    o.alpha(2.5 * eps / std::max<int64_t>(steps, 1)).random_start(true).early_stop(c.early_stop);
    return o.version(c.thorough ? "standard" : "fast");
  };
  // Options are checked before anything slow runs.
  for (const std::string norm : {"linf", "l2"}) make_attack(c.attack, options_for(norm, 1.0));
  check_input(c.curve == "deepfool" || c.curve == "cw" || c.curve == "none", "--curve",
              "deepfool, cw or none", "'" + c.curve + "'");
  const std::string described =
      make_attack(c.attack, options_for("linf", linf.front()))->describe();
  ResultsFolder out(c.out, "--out");
  const double start = now_seconds();
  auto model = open_model(c.model, device);
  Dataset data = open_data(c.data, *model);
  fmt::print("auditing {} ({}) on {} ({} items)\nattack  {}\n", model->info().name,
             model->info().backend, data.source, data.size(), described);
  if (!c.thorough && c.attack == "autoattack")
    fmt::print(
        "(the fast version has no gradient-free stage: its robust accuracy is an upper bound "
        "from gradient attacks only; --thorough runs the standard version)\n");
  std::fflush(stdout);
  std::vector<Flag> flags = check_model(*model, data);

  std::vector<Row> rows;
  std::vector<Curve> curves;
  double clean_accuracy = 0;
  for (const std::string norm : {"linf", "l2"}) {
    for (double eps : norm == "linf" ? linf : l2) {
      auto attack = make_attack(c.attack, options_for(norm, eps));
      Evaluation ev =
          evaluate_attack(*model, data, *attack,
                          EvaluationOptions()
                              .batch(c.batch)
                              .seed(global_options().seed)
                              .keep_examples(c.examples)
                              .progress(fmt::format("{} {} eps {:g}", attack->name(), norm, eps)));
      clean_accuracy = ev.clean_accuracy;
      std::string stages;
      for (size_t s = 0; s < ev.stage_names.size(); ++s)
        stages += fmt::format("  {} {:.2f}%", ev.stage_names[s], 100 * ev.stage_robust_accuracy[s]);
      fmt::print("{:<10} {:<5} eps {:<6g} robust accuracy {:6.2f}%  ({:.1f}s){}\n", attack->name(),
                 norm, eps, 100 * ev.robust_accuracy, ev.seconds,
                 stages.empty() ? "" : "  after:" + stages);
      std::fflush(stdout);
      rows.push_back({attack->name(), norm, eps, std::move(ev)});
    }
    // The minimal-norm curve: one run per norm gives accuracy at every eps (C&W is L2 only).
    const std::string curve = c.curve == "cw" && norm == "linf" ? "deepfool" : c.curve;
    if (curve == "none") continue;
    const auto& grid = norm == "linf" ? linf : l2;
    auto o = AttackOptions().norm(norm).eps(grid.back()).steps(default_steps(curve));
    auto attack = make_attack(curve, o.seed(global_options().seed));
    Evaluation ev = evaluate_attack(
        *model, data, *attack,
        EvaluationOptions().batch(c.batch).progress(fmt::format("{} {}", curve, norm)));
    const std::string sizes =
        ev.min_norm_found > 0
            ? fmt::format("median {:.4f}, mean {:.4f}", ev.min_norm_median, ev.min_norm_mean)
            : std::string("none found");
    fmt::print(
        "{:<10} {:<5} minimal norm: {} (found for {:.1f}% of the correct items)  ({:.1f}s)\n",
        curve, norm, sizes, 100 * ev.min_norm_found_rate, ev.seconds);
    curves.push_back({curve, norm, std::move(ev)});
  }
  // The evaluations' own checks, and the unbounded budget per norm.
  for (const Row& r : rows)
    for (Flag& f : check_evaluation(r.ev)) {
      f.measured = fmt::format("{} eps {:g}: {}", r.norm, r.eps, f.measured);
      flags.push_back(std::move(f));
    }
  for (const std::string norm : {"linf", "l2"})
    flags.push_back(check_unbounded(*model, data, norm, global_options().seed));
  print_flags(flags);
  // A fired flag casts doubt on the fast version's number: the standard version (with its
  // gradient-free Square stage) is run at the middle Linf budget beside it.
  nlohmann::json standard = nlohmann::json();
  const bool doubt = std::any_of(flags.begin(), flags.end(), [](const Flag& f) { return f.fired; });
  if (doubt && !c.thorough && c.attack == "autoattack") {
    const double eps = linf[linf.size() / 2];
    auto attack = make_attack(c.attack, options_for("linf", eps).version("standard"));
    const Evaluation ev = evaluate_attack(
        *model, data, *attack,
        EvaluationOptions().batch(c.batch).seed(global_options().seed).progress("standard"));
    fmt::print(
        "a check fired: the standard version at linf eps {:g}: robust accuracy {:.2f}% "
        "(fast: {:.2f}%)\n",
        eps, 100 * ev.robust_accuracy,
        100 * std::find_if(rows.begin(), rows.end(), [&](const Row& r) {
                return r.norm == "linf" && r.eps == eps;
              })->ev.robust_accuracy);
    standard = ev.to_json();
    standard["norm"] = "linf";
    standard["eps"] = eps;
    standard["why"] = "a check fired; the fast version has no gradient-free stage";
  } else if (doubt) {
    fmt::print("a check fired; {}\n", c.thorough ? "the standard version already ran"
                                                 : "--attack is not autoattack: no standard "
                                                   "version to run");
  }

  // Results: JSON, CSV, one plot per norm, and an example grid.
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::vector<std::string>> csv;
  std::map<std::string, std::vector<Series>> series;  // per norm
  const std::vector<std::string> stage_names = rows.front().ev.stage_names;
  for (const Row& r : rows) {
    nlohmann::json j = r.ev.to_json();
    j["attack"] = r.attack;
    j["norm"] = r.norm;
    j["eps"] = r.eps;
    results.push_back(j);
    std::vector<std::string> line = {r.attack,
                                     r.norm,
                                     fmt::format("{:g}", r.eps),
                                     std::to_string(r.ev.n),
                                     fmt::format("{:.4f}", r.ev.clean_accuracy),
                                     fmt::format("{:.4f}", r.ev.robust_accuracy)};
    for (double a : r.ev.stage_robust_accuracy) line.push_back(fmt::format("{:.4f}", a));
    for (const std::string& v :
         {fmt::format("{:.4f}", r.ev.attack_success_rate), fmt::format("{:.5f}", r.ev.linf_max),
          fmt::format("{:.5f}", r.ev.l2_mean), fmt::format("{:.3f}", r.ev.seconds)})
      line.push_back(v);
    csv.push_back(line);
    // One line per stage (robust after it) or one for the attack.
    auto& lines = series[r.norm];
    const size_t count = std::max<size_t>(1, r.ev.stage_names.size());
    if (lines.empty()) {
      for (size_t s = 0; s < count; ++s) {
        const std::string label =
            r.ev.stage_names.empty()
                ? r.attack
                : (s == 0 ? "" : "+ ") + r.ev.stage_names[s] + (s + 1 == count ? " (AA)" : "");
        lines.push_back({label, {0.0}, {clean_accuracy}});
      }
    }
    for (size_t s = 0; s < count; ++s) {
      lines[s].x.push_back(r.eps);
      lines[s].y.push_back(r.ev.stage_names.empty() ? r.ev.robust_accuracy
                                                    : r.ev.stage_robust_accuracy[s]);
    }
  }
  nlohmann::json curve_json = nlohmann::json::array();
  for (const Curve& cv : curves) {
    const auto& grid = cv.norm == "linf" ? linf : l2;
    Series line{cv.attack + " minimal-norm curve", {}, {}, true};
    for (int i = 0; i <= 50; ++i) line.x.push_back(grid.back() * i / 50.0);
    line.y = accuracy_at(cv.ev, line.x);
    nlohmann::json j = cv.ev.to_json();
    // The run's own budget (the largest eps) only sets which examples it kept: its robust
    // accuracy, success rate and perturbation sizes would read as numbers of the curve.
    for (const char* key :
         {"robust_accuracy", "attack_success_rate", "excluded_already_target", "perturbation"})
      j.erase(key);
    j["attack"] = cv.attack;
    j["norm"] = cv.norm;
    j["eps"] = line.x;
    j["accuracy"] = line.y;
    j["note"] =
        "accuracy at eps = share of items correct clean whose smallest adversarial "
        "perturbation found is larger than eps (an upper bound on robust accuracy)";
    curve_json.push_back(j);
    series[cv.norm].push_back(std::move(line));
  }
  const std::string dir = out.dir() + "/";
  std::vector<std::string> header = {"attack", "norm",           "eps",
                                     "n",      "clean_accuracy", "robust_accuracy"};
  for (const auto& s : stage_names) header.push_back("robust_after_" + s);
  for (const char* h : {"attack_success_rate", "linf_max", "l2_mean", "seconds"})
    header.push_back(h);
  write_csv(dir + "audit.csv", header, csv);
  for (const std::string norm : {"linf", "l2"})
    write_line_plot(dir + "robust_accuracy_" + norm + ".svg",
                    fmt::format("{}: robust accuracy vs eps ({})", model->info().name, norm),
                    "eps (" + norm + ")", "accuracy", series[norm]);
  // Examples: the attack at the middle budget of each norm.
  std::vector<size_t> shown;
  for (const std::string norm : {"linf", "l2"}) {
    const auto& grid = norm == "linf" ? linf : l2;
    const double mid = grid[grid.size() / 2];
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].norm == norm && rows[i].eps == mid) shown.push_back(i);
  }
  std::vector<std::pair<std::string, const Evaluation*>> examples;
  for (size_t r : shown)
    examples.emplace_back(fmt::format("{} {} {:g}", rows[r].attack, rows[r].norm, rows[r].eps),
                          &rows[r].ev);
  if (c.examples > 0) write_examples(dir + "examples.png", data, examples);
  const auto& info = model->info();
  write_json(dir + "audit.json",
             {{"model",
               {{"name", info.name},
                {"backend", info.backend},
                {"arch", info.arch},
                {"input", info.input.str()},
                {"test_accuracy_at_training", info.test_accuracy}}},
              {"data", data.source},
              {"n", data.size()},
              {"class_names", data.class_names},
              {"clean_accuracy", clean_accuracy},
              {"attack", described},
              {"steps", steps},
              {"early_stop", c.early_stop},
              {"seed", global_options().seed},
              {"minimal_norm_curves", curve_json},
              {"checks", flags_json(flags)},
              {"standard_version_after_checks", standard},
              {"version_note", c.thorough || c.attack != "autoattack"
                                   ? ""
                                   : "fast version: gradient attacks only, robust accuracy "
                                     "is an upper bound"},
              {"seconds", now_seconds() - start},
              {"results", results}});
  out.commit();
  fmt::print(
      "clean accuracy {:.2f}%\nwrote {}/report.html, audit.json, audit.csv, "
      "robust_accuracy_linf.svg, robust_accuracy_l2.svg{} ({:.1f}s)\n",
      100 * clean_accuracy, c.out, c.examples > 0 ? ", examples.png" : "", now_seconds() - start);
}

}  // namespace

void setup_audit(CLI::App& app) {
  auto c = std::make_shared<AuditCmd>();
  auto* sub = app.add_subcommand(
      "audit",
      "audit a model: clean accuracy, robust accuracy from AutoAttack (per stage) over Linf and "
      "L2 budgets, and the minimal-norm robustness curve");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->add_option("--linf-eps", c->linf_eps, "Linf budgets")->capture_default_str();
  sub->add_option("--l2-eps", c->l2_eps, "L2 budgets")->capture_default_str();
  sub->add_option("--attack", c->attack,
                  "the attack per budget: autoattack, or any foil attack (pgd: step size "
                  "2.5*eps/steps)")
      ->capture_default_str();
  sub->add_flag("--thorough", c->thorough,
                "AutoAttack standard (APGD-CE, APGD-T, FAB-T, Square) instead of fast "
                "(APGD-CE, APGD-T over the top-3 targets)");
  sub->add_option("--steps", c->steps,
                  "iterations per attack (default: the attack's own, 100 for AutoAttack)")
      ->check(integer_in(1, kMaxSteps));
  sub->add_option("--curve", c->curve,
                  "minimal-norm curve: deepfool, cw (L2; DeepFool for Linf) or none")
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--examples", c->examples, "images in the example grid")
      ->check(integer_in(0, 32))
      ->capture_default_str();
  sub->add_flag("!--no-early-stop", c->early_stop,
                "PGD-style attacks: attack every sample for all steps (slower; same robust "
                "accuracy up to samples that flip back)");
  sub->callback([c] { run_audit(*c); });
}

}  // namespace foil::cli
