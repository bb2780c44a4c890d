// foil attack: one perturbation attack over a dataset, as a table and JSON.
#include <fmt/format.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

struct AttackCmd {
  ModelFlags model;
  std::string data = "fashion-mnist:test";
  AttackFlags attack;
  int64_t batch = 250;
  bool early_stop = false;
  std::string targeted, save_adv, json, out;
};

void run_attack(const AttackCmd& c) {
  const c10::Device device = apply_global_options();
  // Options are checked before anything slow is loaded.
  auto attack = make_attack_from(c.attack, c.early_stop);
  TargetSpec::parse(c.targeted, 0);
  check_writable(c.save_adv, "--save-adv");
  check_writable(c.json, "--json");
  std::optional<ResultsFolder> folder;
  if (!c.out.empty()) folder.emplace(c.out, "--out");
  auto model = open_model(c.model, device);
  Dataset data = open_run_data(c.data, *model, /*needs_gradient=*/c.attack.attack != "square");
  const TargetSpec target =
      TargetSpec::parse(c.targeted, model->forward(data.images.slice(0, 0, 1)).size(1));
  fmt::print("model   {} ({})\ndata    {} ({} items)\nattack  {} {}\n", model->info().name,
             model->info().backend, data.source, data.size(), attack->describe(), target.str());
  std::fflush(stdout);
  const bool gradients = c.attack.attack != "square";
  std::vector<Flag> flags = check_model(*model, data, 250, gradients);
  Evaluation ev = evaluate_attack(*model, data, *attack,
                                  EvaluationOptions()
                                      .batch(c.batch)
                                      .target(target)
                                      .seed(global_options().seed)
                                      .keep_adv(!c.save_adv.empty())
                                      .keep_examples(folder ? 8 : 0)
                                      .progress("attack"));
  fmt::print("\n{:<22}{:>10}\n", "metric", "value");
  fmt::print("{:<22}{:>10}\n", "n", ev.n);
  fmt::print("{:<22}{:>9.2f}%\n", "clean accuracy", 100 * ev.clean_accuracy);
  for (size_t i = 0; i < ev.stage_names.size(); ++i)
    fmt::print("{:<22}{:>9.2f}%\n", fmt::format("  after {}", ev.stage_names[i]),
               100 * ev.stage_robust_accuracy[i]);
  fmt::print("{:<22}{:>9.2f}%\n", "robust accuracy", 100 * ev.robust_accuracy);
  fmt::print("{:<22}{:>9.2f}%\n", "attack success rate", 100 * ev.attack_success_rate);
  if (ev.min_norm.defined()) {
    const std::string norm = attack->options().norm();
    fmt::print("{:<22}{:>9.2f}%\n", "found (any size)", 100 * ev.min_norm_found_rate);
    auto size = [&](double v) {
      return ev.min_norm_found > 0 ? fmt::format("{:>10.4f}", v) : fmt::format("{:>10}", "n/a");
    };
    fmt::print("{:<22}{}\n", "median " + norm + " norm", size(ev.min_norm_median));
    fmt::print("{:<22}{}\n", "mean " + norm + " norm", size(ev.min_norm_mean));
    fmt::print(
        "(norms over the clean-correct items where an adversarial was found; robust "
        "accuracy counts those needing more than eps {:g})\n",
        attack->options().eps());
  }
  fmt::print("{:<22}{:>10}  over the {} broken items\n", "linf max",
             ev.broken > 0 ? fmt::format("{:.4f}", ev.linf_max) : "-", ev.broken);
  fmt::print("{:<22}{:>10}\n", "l2 mean", ev.broken > 0 ? fmt::format("{:.4f}", ev.l2_mean) : "-");
  if (ev.unconfirmed > 0)
    fmt::print(
        "final check: {} of the attack's {} successes did not fool the model again on "
        "the returned example (counted robust)\n",
        ev.unconfirmed, ev.in_loop_successes);
  fmt::print("{:<22}{:>9.2f}s\n", "seconds", ev.seconds);
  for (Flag& f : check_evaluation(ev)) flags.push_back(std::move(f));
  if (gradients && target.mode == TargetSpec::Mode::kNone)
    flags.push_back(check_unbounded(*model, data, attack->options().norm(), global_options().seed));
  print_flags(flags);
  // In a job of several processes every rank holds all results; rank 0 writes them.
  if (!dist::leader()) return;
  if (!c.save_adv.empty()) {
    save_tensor(c.save_adv, ev.adv);
    fmt::print("wrote {} ({} adversarial examples, torch.load reads it)\n", c.save_adv, ev.n);
  }
  if (!c.json.empty() || folder) {
    nlohmann::json j = ev.to_json();
    j["checks"] = flags_json(flags);
    j["model"] = model->info().name;
    j["data"] = data.source;
    j["attack"] = {{"name", attack->name()},
                   {"norm", attack->options().norm()},
                   {"eps", attack->options().eps()},
                   {"alpha", attack->options().alpha()},
                   {"steps", attack->options().steps()},
                   {"random_start", attack->options().random_start()},
                   {"restarts", attack->options().restarts()},
                   {"decay", attack->options().decay()},
                   {"early_stop", attack->options().early_stop()},
                   {"seed", attack->options().seed()},
                   {"describe", attack->describe()},
                   {"target", target.str()}};
    if (!c.json.empty()) {
      write_json(c.json, j);
      fmt::print("wrote {}\n", c.json);
    }
    if (folder) {
      j["class_names"] = data.class_names;
      write_json(folder->file("attack.json"), j);
      write_examples(folder->file("examples.png"), data, {{attack->name(), &ev}});
      folder->commit();
      fmt::print("wrote {}/report.html, attack.json, examples.png\n", c.out);
    }
  }
}

}  // namespace

void setup_attack(CLI::App& app) {
  auto c = std::make_shared<AttackCmd>();
  auto* sub = app.add_subcommand("attack", "run one perturbation attack over a dataset");
  add_model_flags(sub, c->model, false);
  sub->add_option("--data", c->data, "data spec: fashion-mnist:test[:N], an image folder or file")
      ->capture_default_str();
  add_attack_flags(sub, c->attack, "pgd");
  sub->add_option("--targeted", c->targeted, "random, least-likely or a class index");
  sub->add_flag("--early-stop", c->early_stop,
                "stop attacking a sample once it is fooled (robust-accuracy evaluation)");
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--save-adv", c->save_adv,
                  "write the adversarial examples (N x C x H x W, torch.load)");
  sub->add_option("--json", c->json, "write the results as JSON");
  sub->add_option("--out", c->out,
                  "results folder: attack.json, examples.png and report.html (one page)");
  sub->callback([c] { run_attack(*c); });
}

}  // namespace foil::cli
