// foil defend --defense neutralize: the neutralisation defence's clean cost and robust gain,
// against attacks crafted on the undefended model (non-adaptive) and through the defence
// (adaptive, BPDA). The adaptive attack keeps every sample's first successful iterate (a
// non-smooth defended loss makes the last iterate a poor witness), with its own steps,
// restarts and EOT samples.
#include <fmt/format.h>

#include <optional>

#include "commands.h"
#include "foil/jobs/defend_job.h"

namespace foil::cli {
namespace {

struct DefendCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test:1000";
  std::string defense = "neutralize";
  FlagsOf<NeutralizeOptions> defence;
  AttackFlags attack;
  int64_t adaptive_steps = 0, adaptive_restarts = 0, adaptive_eot = 1;
  int64_t batch = 250;
  std::string json, out;
};

void run_defend(const DefendCmd& c) {
  const c10::Device device = apply_global_options();
  check_input(c.defense == "neutralize", "--defense", "neutralize", "'" + c.defense + "'");
  DefendJobOptions o;
  apply_option_flags(c.defence, o.defense);
  o.attack = make_attack_from(c.attack);
  AttackOptions adaptive = attack_options(c.attack).early_stop(true).eot_samples(c.adaptive_eot);
  if (c.adaptive_steps > 0) adaptive.steps(c.adaptive_steps);
  if (c.adaptive_restarts > 0) adaptive.restarts(c.adaptive_restarts);
  o.adaptive_attack = make_attack(c.attack.attack, adaptive);
  o.best_attack = make_attack_from(c.attack, /*early_stop=*/true);
  o.batch = c.batch;
  o.log = print_line;
  check_writable(c.json, "--json");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  auto model = open_run_model(c.model, device);
  Dataset data = open_run_data(c.data, *model);
  label_unlabelled(data, *model, print_line);
  const DefendJobResult r = run_defense(model, data, o);
  for (const std::string& line : r.lines) print_line(line);
  if (!c.json.empty() && dist::leader()) {
    write_json(c.json, r.summary);
    fmt::print("wrote {}\n", c.json);
  }
  if (folder) {
    write_json(folder->file("defend.json"), r.summary);
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
  add_option_flags(sub, c->defence, neutralize_option_fields(), NeutralizeOptions(), "");
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
