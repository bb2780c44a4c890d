// foil audit: the main job. Clean accuracy, FGSM and PGD robust accuracy over an eps grid for
// Linf and L2, written as a results folder (JSON, CSV, plots, example grid).
#include <fmt/format.h>
#include <torch/torch.h>

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
  std::string data = "fashion-mnist:test";
  std::string out = "foil-audit";
  std::string linf_eps = "0.01,0.02,0.05,0.1,0.2";
  std::string l2_eps = "0.25,0.5,1,2,3";
  int64_t steps = 10, batch = 250, examples = 8;
  bool early_stop = true;
};

struct Row {
  std::string attack, norm;
  double eps;
  Evaluation ev;
};

std::vector<double> parse_eps(const std::string& text, const std::string& flag) {
  auto v = parse_number_list(text, flag);
  for (double e : v) check_input(e > 0, flag, "a list of budgets > 0", fmt::format("{}", e));
  std::sort(v.begin(), v.end());
  return v;
}

std::string class_name(const Dataset& d, int64_t k) {
  return k >= 0 && k < static_cast<int64_t>(d.class_names.size()) ? d.class_names[k]
                                                                  : std::to_string(k);
}

void write_examples(const std::string& path, const Dataset& data, const std::vector<Row>& rows,
                    const std::vector<size_t>& shown) {
  std::vector<std::vector<GridCell>> grid;
  std::vector<std::string> titles;
  const Evaluation& first = rows[shown[0]].ev;
  const int64_t k = first.example_clean.size(0);
  std::vector<GridCell> clean;
  for (int64_t i = 0; i < k; ++i) {
    const int64_t p = first.clean_pred[i].item<int64_t>(), y = first.labels[i].item<int64_t>();
    clean.push_back({first.example_clean[i], class_name(data, p), p != y});
  }
  grid.push_back(clean);
  titles.push_back("clean");
  for (size_t r : shown) {
    const Evaluation& ev = rows[r].ev;
    std::vector<GridCell> adv, delta;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t p = ev.adv_pred[i].item<int64_t>(), y = ev.labels[i].item<int64_t>();
      adv.push_back({ev.example_adv[i], class_name(data, p), p != y});
      torch::Tensor d = ev.example_adv[i] - ev.example_clean[i];
      const double m = std::max(1e-8, d.abs().max().item<double>());
      delta.push_back({d / (2 * m) + 0.5, fmt::format("|d|max {:.3f}", m), false});
    }
    grid.push_back(adv);
    titles.push_back(fmt::format("{} {} {:g}", rows[r].attack, rows[r].norm, rows[r].eps));
    grid.push_back(delta);
    titles.push_back("perturbation");
  }
  write_image_grid(path, grid, titles);
}

void run_audit(const AuditCmd& c) {
  const c10::Device device = apply_global_options();
  const auto linf = parse_eps(c.linf_eps, "--linf-eps");
  const auto l2 = parse_eps(c.l2_eps, "--l2-eps");
  check_input(c.steps >= 1, "--steps", "an integer >= 1", std::to_string(c.steps));
  std::filesystem::create_directories(c.out);
  const double start = now_seconds();
  auto model = open_model(c.model, device);
  Dataset data = open_data(c.data, *model);
  fmt::print("auditing {} ({}) on {} ({} items), PGD-{} {}\n", model->info().name,
             model->info().backend, data.source, data.size(), c.steps,
             c.early_stop ? "with early stop" : "without early stop");
  std::fflush(stdout);

  std::vector<Row> rows;
  double clean_accuracy = 0;
  for (const std::string norm : {"linf", "l2"}) {
    for (double eps : norm == "linf" ? linf : l2) {
      for (const std::string name : {"fgsm", "pgd"}) {
        auto o = AttackOptions().eps(eps).alpha(2.5 * eps / c.steps).steps(c.steps).norm(norm);
        o.random_start(true).early_stop(c.early_stop);
        auto attack = make_attack(name, o);
        Evaluation ev = evaluate_attack(
            *model, data, *attack,
            EvaluationOptions()
                .batch(c.batch)
                .seed(global_options().seed)
                .keep_examples(c.examples)
                .progress(fmt::format("{} {} eps {:g}", attack->name(), norm, eps)));
        clean_accuracy = ev.clean_accuracy;
        fmt::print("{:<6} {:<5} eps {:<6g} robust accuracy {:6.2f}%  ({:.1f}s)\n", attack->name(),
                   norm, eps, 100 * ev.robust_accuracy, ev.seconds);
        std::fflush(stdout);
        rows.push_back({attack->name(), norm, eps, std::move(ev)});
      }
    }
  }

  // Results: JSON, CSV, one plot per norm, and an example grid.
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::vector<std::string>> csv;
  std::map<std::string, Series> series;
  for (const Row& r : rows) {
    nlohmann::json j = r.ev.to_json();
    j["attack"] = r.attack;
    j["norm"] = r.norm;
    j["eps"] = r.eps;
    results.push_back(j);
    csv.push_back(
        {r.attack, r.norm, fmt::format("{:g}", r.eps), std::to_string(r.ev.n),
         fmt::format("{:.4f}", r.ev.clean_accuracy), fmt::format("{:.4f}", r.ev.robust_accuracy),
         fmt::format("{:.4f}", r.ev.attack_success_rate), fmt::format("{:.5f}", r.ev.linf_max),
         fmt::format("{:.5f}", r.ev.l2_mean), fmt::format("{:.3f}", r.ev.seconds)});
    auto& s = series[r.norm + "/" + r.attack];
    if (s.x.empty()) {
      s = {r.attack + " (" + r.norm + ")", {0.0}, {clean_accuracy}};
    }
    s.x.push_back(r.eps);
    s.y.push_back(r.ev.robust_accuracy);
  }
  const std::string dir = c.out + "/";
  write_csv(dir + "audit.csv",
            {"attack", "norm", "eps", "n", "clean_accuracy", "robust_accuracy",
             "attack_success_rate", "linf_max", "l2_mean", "seconds"},
            csv);
  for (const std::string norm : {"linf", "l2"})
    write_line_plot(dir + "robust_accuracy_" + norm + ".png",
                    fmt::format("{}: robust accuracy vs eps ({})", model->info().name, norm),
                    "eps (" + norm + ")", "accuracy",
                    {series[norm + "/fgsm"], series[norm + "/pgd"]});
  // Examples: PGD at the middle budget of each norm.
  std::vector<size_t> shown;
  for (const std::string norm : {"linf", "l2"}) {
    const auto& grid = norm == "linf" ? linf : l2;
    const double mid = grid[grid.size() / 2];
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].norm == norm && rows[i].attack == "pgd" && rows[i].eps == mid) shown.push_back(i);
  }
  if (c.examples > 0) write_examples(dir + "examples.png", data, rows, shown);
  const auto& info = model->info();
  write_json(dir + "audit.json", {{"model",
                                   {{"name", info.name},
                                    {"backend", info.backend},
                                    {"arch", info.arch},
                                    {"input", info.input.str()},
                                    {"test_accuracy_at_training", info.test_accuracy}}},
                                  {"data", data.source},
                                  {"n", data.size()},
                                  {"clean_accuracy", clean_accuracy},
                                  {"pgd_steps", c.steps},
                                  {"early_stop", c.early_stop},
                                  {"seconds", now_seconds() - start},
                                  {"results", results}});
  fmt::print(
      "clean accuracy {:.2f}%\nwrote {}audit.json, audit.csv, robust_accuracy_linf.png, "
      "robust_accuracy_l2.png{} ({:.1f}s)\n",
      100 * clean_accuracy, dir, c.examples > 0 ? ", examples.png" : "", now_seconds() - start);
}

}  // namespace

void setup_audit(CLI::App& app) {
  auto c = std::make_shared<AuditCmd>();
  auto* sub = app.add_subcommand(
      "audit", "audit a model: clean and robust accuracy (FGSM, PGD) over Linf and L2 budgets");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec")->capture_default_str();
  sub->add_option("--out", c->out, "results folder")->capture_default_str();
  sub->add_option("--linf-eps", c->linf_eps, "Linf budgets")->capture_default_str();
  sub->add_option("--l2-eps", c->l2_eps, "L2 budgets")->capture_default_str();
  sub->add_option("--steps", c->steps, "PGD steps (step size 2.5*eps/steps)")
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--examples", c->examples, "images in the example grid")
      ->check(CLI::Range(0, 32))
      ->capture_default_str();
  sub->add_flag("!--no-early-stop", c->early_stop,
                "attack every sample for all steps (slower; same robust accuracy up to "
                "samples that flip back)");
  sub->callback([c] { run_audit(*c); });
}

}  // namespace foil::cli
