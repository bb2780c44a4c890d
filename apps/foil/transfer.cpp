// foil transfer: the transfer matrix (foil/jobs/transfer_job.h) of attacks across models.
#include <fmt/format.h>

#include <optional>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/transfer_job.h"

namespace foil::cli {
namespace {

struct TransferCmd {
  std::string models = "zoo", attacks = "mifgsm,di-fgsm,vmi-fgsm";
  std::string data = "fashion-mnist:test:500";
  AttackFlags attack;
  int64_t batch = 250;
  std::string json, out;
};

void run_transfer(const TransferCmd& c) {
  const c10::Device device = apply_global_options();
  refuse_flags({"--attack"}, "foil transfer takes a list: --attacks");
  TransferOptions o;
  o.attacks = split_commas(c.attacks, "--attacks");
  check_input(!o.attacks.empty(), "--attacks", "a list of attacks", "'" + c.attacks + "'");
  // A flag is refused only when none of the listed attacks reads it.
  o.attack = attack_options(c.attack, o.attacks);
  if (!c.attack.given("--steps")) o.attack.steps(10);
  o.batch = c.batch;
  o.seed = global_options().seed;
  o.log = print_line;
  for (const auto& name : o.attacks) make_attack(name, o.attack);  // before anything slow
  const auto paths = model_list(c.models, "--models");
  check_input(!paths.empty(), "--models", "a list of model files or zoo", "'" + c.models + "'");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  std::vector<std::shared_ptr<Model>> models;
  std::vector<Model*> raw;
  for (const auto& path : paths) {
    models.push_back(open_run_model(ModelSpec{path}, device));
    raw.push_back(models.back().get());
  }
  const Dataset data = open_run_data(c.data, *models.front());
  const TransferResult r = foil::run_transfer(raw, data, o);
  if (!dist::leader()) return;
  write_json_output(c.json, r.to_json());
  if (folder) {
    r.write(folder->dir());
    folder->commit();
    fmt::print("wrote {}/report.html, transfer.json, transfer.csv, transfer-*.png\n", c.out);
  }
}

}  // namespace

void setup_transfer(CLI::App& app) {
  auto c = std::make_shared<TransferCmd>();
  auto* sub = app.add_subcommand(
      "transfer",
      "transfer matrix: attacks crafted on each model (white box), judged on every model, with "
      "each target's clean accuracy and random noise of the same norm");
  sub->add_option("--models", c->models,
                  "models, comma list (files as --model takes them; 'zoo' = the zoo's mlp, cnn, "
                  "resnet, mobilenet trained on Fashion-MNIST, cached on first use)")
      ->capture_default_str();
  sub->add_option("--attacks", c->attacks, "one matrix per attack (names as --attack)")
      ->capture_default_str();
  add_data_flag(sub, c->data);
  add_attack_flags(sub, c->attack, "mifgsm");
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, 100000))
      ->capture_default_str();
  sub->add_option("--json", c->json, "write transfer.json's content here too");
  sub->add_option("--out", c->out,
                  "results folder: transfer.json, transfer.csv, a heat map per attack, "
                  "report.html");
  sub->callback([c] { run_transfer(*c); });
}

}  // namespace foil::cli
