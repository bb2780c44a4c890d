// foil attack: one perturbation attack over a dataset, as a table and JSON.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <optional>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/attack_job.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct AttackCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test";
  AttackFlags attack;
  FlagsOf<AttackJobSettings> settings;
  std::string save_adv, json, out;
};

/// The surrogates' ensemble of `--surrogate` (null when none), each checked against the target.
std::shared_ptr<Model> open_surrogates(const AttackJobSettings& s, Model& model,
                                       const Dataset& data, c10::Device device) {
  const auto paths = model_list(s.surrogate, "--surrogate");
  if (paths.empty()) return nullptr;
  std::vector<std::shared_ptr<Model>> members;
  for (const auto& path : paths) {
    members.push_back(open_run_model(ModelSpec{path}, device));
    check_fits(model, *members.back(), data, "--surrogate");
  }
  return std::make_shared<EnsembleModel>(members, parse_fusion(s.ensemble));
}

void run_attack(const AttackCmd& c) {
  const c10::Device device = apply_global_options();
  // Options are checked before anything slow is loaded.
  std::unique_ptr<Attack> attack = make_attack_from(c.attack);
  AttackJobSettings s;
  apply_option_flags(c.settings, s, {attack->name()});
  if (s.early_stop) attack = make_attack_from(c.attack, true);
  ModelFlags model_flags = c.model;
  model_flags.access = parse_access(s.access);
  const auto surrogates = model_list(s.surrogate, "--surrogate");
  if (surrogates.empty()) {
    refuse_flags({"--ensemble"}, "it fuses the --surrogate models");
    check_access(*attack, model_flags.access);
  }
  refuse_target_as_surrogate(surrogates, c.model.path);
  check_writable(c.save_adv, "--save-adv");
  check_writable(c.json, "--json");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  auto model = open_run_model(model_flags, device);
  Dataset data = open_run_data(c.data, *model,
                               /*needs_gradient=*/surrogates.empty() &&
                                   model_flags.access == Access::kGradients &&
                                   attack->access() == Access::kGradients);
  const std::shared_ptr<Model> surrogate = open_surrogates(s, *model, data, device);
  if (!s.starting_images.empty()) {
    const Dataset starts = open_data(s.starting_images, *model, false, "--starting-images");
    attack = make_attack(
        attack->name(),
        AttackOptions(attack->options()).start_images(starts.images).start_labels(starts.labels));
  }
  const TargetSpec target =
      TargetSpec::parse(s.targeted, model->forward(data.images.slice(0, 0, 1)).size(1));
  AttackJobOptions o;
  o.attack = std::move(attack);
  o.target = target;
  o.batch = s.batch;
  o.seed = global_options().seed;
  o.keep_adv = !c.save_adv.empty();
  o.examples = folder ? 8 : 0;
  o.surrogate = surrogate.get();
  o.log = print_line;
  AttackJobResult r = foil::run_attack(*model, data, o);
  // In a job of several processes every rank holds all results; rank 0 writes them.
  if (!dist::leader()) return;
  if (!c.save_adv.empty()) {
    save_tensor(c.save_adv, r.ev.adv);
    fmt::print("wrote {} ({} adversarial examples, torch.load reads it)\n", c.save_adv, r.ev.n);
  }
  write_json_output(c.json, r.summary);
  if (!folder) return;
  const auto files = r.write(folder->dir(), data, *o.attack);
  folder->commit();
  fmt::print("wrote {}/report.html, {}\n", c.out, fmt::join(files, ", "));
}

}  // namespace

void setup_attack(CLI::App& app) {
  auto c = std::make_shared<AttackCmd>();
  auto* sub = app.add_subcommand("attack", "run one perturbation attack over a dataset");
  add_model_flags(sub, c->model);
  add_data_flag(sub, c->data);
  add_attack_flags(sub, c->attack, "pgd");
  add_option_flags(sub, c->settings, attack_job_option_fields(), AttackJobSettings(), "");
  sub->add_option("--save-adv", c->save_adv,
                  "write the adversarial examples (N x C x H x W, torch.load)");
  sub->add_option("--json", c->json, "write the results as JSON");
  sub->add_option("--out", c->out,
                  "results folder: attack.json, examples.png and report.html (one page)");
  sub->callback([c] { run_attack(*c); });
}

}  // namespace foil::cli
