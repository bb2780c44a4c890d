// foil defend --defense neutralize: the neutralisation defence's clean cost and robust gain,
// against attacks crafted on the undefended model (non-adaptive) and through the defence
// (adaptive, BPDA). The adaptive attack keeps every sample's first successful iterate (a
// non-smooth defended loss makes the last iterate a poor witness), with its own steps,
// restarts and EOT samples.
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/regions/neutralize.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct DefendCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:1000";
  std::string defense = "neutralize";
  double q_vulnerable = 10, q_important = 10;
  std::string fill = "blur";
  std::string layer;
  AttackFlags attack;
  int64_t adaptive_steps = 0, adaptive_restarts = 0, adaptive_eot = 1;
  int64_t batch = 250;
  std::string json, out;
};

/// Accuracy of `judge` over `data`: clean when `attacker` is null; otherwise the share of
/// items `judge` classifies correctly both clean and on the attack's examples (robust
/// accuracy).
double accuracy_under(Model& judge, Model* attacker, const Attack* attack, const Dataset& data,
                      int64_t batch) {
  // Each process judges its share of the batches; every item's verdict is gathered.
  const torch::Tensor correct = dist::map_batches(
      data.size(), batch, torch::zeros({0}, torch::kBool), [&](int64_t b, int64_t e) {
        const torch::Tensor x = data.images.slice(0, b, e).to(judge.device());
        const torch::Tensor y = data.labels.slice(0, b, e).to(judge.device());
        torch::Tensor ok;
        {
          torch::NoGradGuard g;
          ok = judge.forward(x).argmax(1).eq(y);
        }
        if (attacker) {
          const torch::Tensor adv =
              attack->run(*attacker, x, Criterion::misclassification(y), torch::arange(b, e)).adv;
          torch::NoGradGuard g;
          ok = ok & judge.forward(adv).argmax(1).eq(y);
        }
        return ok;
      });
  return static_cast<double>(correct.sum().item<int64_t>()) / static_cast<double>(data.size());
}

void run_defend(const DefendCmd& c) {
  const c10::Device device = apply_global_options();
  check_input(c.defense == "neutralize", "--defense", "neutralize", "'" + c.defense + "'");
  const auto options = NeutralizeOptions()
                           .q_vulnerable(c.q_vulnerable)
                           .q_important(c.q_important)
                           .fill(c.fill)
                           .layer(c.layer);
  auto attack = make_attack_from(c.attack);
  AttackFlags adaptive_flags = c.attack;
  if (c.adaptive_steps > 0) adaptive_flags.steps = c.adaptive_steps;
  if (c.adaptive_restarts > 0) adaptive_flags.restarts = c.adaptive_restarts;
  auto adaptive_attack =
      make_attack(adaptive_flags.attack,
                  attack_options(adaptive_flags).early_stop(true).eot_samples(c.adaptive_eot));
  check_writable(c.json, "--json");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  auto model = open_model(c.model, device);
  Dataset data = open_run_data(c.data, *model);
  label_unlabelled(data, *model, print_line);
  NeutralizedModel defended(model, options);
  fmt::print(
      "defence: neutralise top {}% vulnerable minus top {}% important pixels ({} fill)\n"
      "attack:  {}\nadaptive: {} (best iterate: a sample counts as broken once any iterate "
      "fools the defended model)\n",
      c.q_vulnerable, c.q_important, c.fill, attack->describe(), adaptive_attack->describe());
  std::fflush(stdout);
  const double clean = accuracy_under(*model, nullptr, nullptr, data, c.batch);
  const double clean_def = accuracy_under(defended, nullptr, nullptr, data, c.batch);
  // The undefended robust accuracy is measured like the adaptive one (best iterate), so the
  // two rows compare; the non-adaptive row transfers the attack's full last iterate.
  const auto best_attack = make_attack_from(c.attack, /*early_stop=*/true);
  const double robust = accuracy_under(*model, model.get(), best_attack.get(), data, c.batch);
  const double non_adaptive = accuracy_under(defended, model.get(), attack.get(), data, c.batch);
  const double adaptive = accuracy_under(defended, &defended, adaptive_attack.get(), data, c.batch);
  fmt::print("\n{:<72}{:>10}\n", "", "accuracy");
  fmt::print("{:<72}{:>9.2f}%\n", "clean, undefended", 100 * clean);
  fmt::print("{:<72}{:>9.2f}%\n", "clean, defended", 100 * clean_def);
  fmt::print("{:<72}{:>9.2f}%\n", "attacked, undefended (best iterate)", 100 * robust);
  fmt::print("{:<72}{:>9.2f}%\n", "attacked, defended: NON-ADAPTIVE (crafted on undefended)",
             100 * non_adaptive);
  fmt::print("{:<72}{:>9.2f}%\n",
             "attacked, defended: ADAPTIVE (through the defence, BPDA, best iterate)",
             100 * adaptive);
  const nlohmann::json results = {{"model", model->info().name},
                                  {"data", data.source},
                                  {"n", data.size()},
                                  {"defense",
                                   {{"name", "neutralize"},
                                    {"q_vulnerable", c.q_vulnerable},
                                    {"q_important", c.q_important},
                                    {"fill", c.fill}}},
                                  {"attack", attack->describe()},
                                  {"adaptive_attack", adaptive_attack->describe()},
                                  {"clean_accuracy", clean},
                                  {"clean_accuracy_defended", clean_def},
                                  {"robust_accuracy", robust},
                                  {"robust_accuracy_defended_non_adaptive", non_adaptive},
                                  {"robust_accuracy_defended_adaptive", adaptive}};
  if (!c.json.empty() && dist::leader()) {
    write_json(c.json, results);
    fmt::print("wrote {}\n", c.json);
  }
  if (folder) {
    write_json(folder->file("defend.json"), results);
    folder->commit();
    fmt::print("wrote {}/report.html, defend.json\n", c.out);
  }
}

}  // namespace

void setup_defend(CLI::App& app) {
  auto c = std::make_shared<DefendCmd>();
  auto* sub = app.add_subcommand("defend", "evaluate a test-time defence (neutralisation)");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "labelled data spec")->capture_default_str();
  sub->add_option("--defense", c->defense, "neutralize")->capture_default_str();
  sub->add_option("--q-vulnerable", c->q_vulnerable, "percent of pixels taken as vulnerable")
      ->capture_default_str();
  sub->add_option("--q-important", c->q_important, "percent of pixels taken as important (spared)")
      ->capture_default_str();
  sub->add_option("--fill", c->fill, "blur, median or mean")->capture_default_str();
  sub->add_option("--layer", c->layer, "Grad-CAM layer (default: last spatial layer)");
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_option("--adaptive-steps", c->adaptive_steps,
                  "steps of the adaptive attack (default: --steps)")
      ->check(integer_in(0, kMaxSteps));
  sub->add_option("--adaptive-restarts", c->adaptive_restarts,
                  "random restarts of the adaptive attack (default: --restarts)")
      ->check(integer_in(0, 1000));
  sub->add_option("--adaptive-eot", c->adaptive_eot,
                  "adaptive attack: gradients averaged over this many passes (EOT, for random "
                  "defences)")
      ->check(integer_in(1, 1000))
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--json", c->json, "write the results as JSON");
  sub->add_option("--out", c->out, "results folder: defend.json and report.html (one page)");
  sub->callback([c] { run_defend(*c); });
}

}  // namespace foil::cli
