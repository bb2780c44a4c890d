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
  FlagsOf<DefendSettings> settings;
  AttackFlags attack;
  std::string json, out;
};

void run_defend(const DefendCmd& c) {
  const c10::Device device = apply_global_options();
  check_input(c.defense == "neutralize", "--defense", "neutralize", "'" + c.defense + "'");
  DefendSettings settings;
  apply_option_flags(c.settings, settings);
  DefendJobOptions o = defend_job_options(settings, c.attack.attack, attack_options(c.attack));
  o.log = print_line;
  check_writable(c.json, "--json");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  auto model = open_run_model(c.model, device);
  Dataset data = open_run_data(c.data, *model);
  label_unlabelled(data, *model, print_line);
  const DefendJobResult r = run_defense(model, data, o);
  for (const std::string& line : r.lines) print_line(line);
  write_json_output(c.json, r.summary);
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
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  sub->add_option("--defense", c->defense, "neutralize")->capture_default_str();
  add_option_flags(sub, c->settings, defend_option_fields(), DefendSettings(), "");
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_option("--json", c->json, "write the results as JSON");
  sub->add_option("--out", c->out, "results folder: defend.json and report.html (one page)");
  sub->callback([c] { run_defend(*c); });
}

}  // namespace foil::cli
