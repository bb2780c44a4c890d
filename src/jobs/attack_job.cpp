// The attack job: one attack over a dataset, its evaluation, checks and report.
#include "foil/jobs/attack_job.h"

#include <fmt/format.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/models/access.h"
#include "foil/report/figures.h"

namespace foil {

const std::vector<OptionField<AttackJobSettings>>& attack_job_option_fields() {
  using S = AttackJobSettings;
  using T = OptionType;
  const auto checked = [](std::string S::*member, auto check) {
    return [member, check](S& s, const OptionValue& v, const std::string& name) {
      check(std::get<std::string>(v), name);
      s.*member = std::get<std::string>(v);
    };
  };
  static const std::vector<OptionField<S>> table = {
      make_option<S>(
          "--access", T::kText, "Model",
          "what the attack may see of --model: gradients (white box), scores (square, spsa) or "
          "labels (hopskipjump); every image shown is counted",
          {}, checked(&S::access, [](auto& v, auto&) { parse_access(v); }),
          [](const S& s) -> OptionValue { return s.access; }),
      make_option<S>("--surrogate", T::kText, "Model",
                     "transfer: craft on these models (comma list; 'zoo' = the zoo's four "
                     "Fashion-MNIST models, zoo:ARCH one of them) and judge on --model",
                     {}, checked(&S::surrogate, [](auto& v, auto& n) { model_list(v, n); }),
                     [](const S& s) -> OptionValue { return s.surrogate; }),
      make_option<S>("--ensemble", T::kText, "Model",
                     "several surrogates: fuse their logits (mean) or their losses (mean "
                     "cross-entropy)",
                     {}, checked(&S::ensemble, [](auto& v, auto&) { parse_fusion(v); }),
                     [](const S& s) -> OptionValue { return s.ensemble; }),
      make_option<S>("--targeted", T::kText, "Attack", "random, least-likely or a class index", {},
                     checked(&S::targeted, [](auto& v, auto&) { TargetSpec::parse(v, 0); }),
                     [](const S& s) -> OptionValue { return s.targeted; }),
      make_option<S>("--starting-images", T::kText, "Attack",
                     "a data spec of candidate starting points (each item starts from one the "
                     "model classifies as the target, or untargeted as not the label; one query "
                     "each, within --max-queries); targeted runs without it take them from --data",
                     {"hopskipjump"}, FOIL_OPTION_MEMBER(S, starting_images, std::string)),
      make_option<S>("--early-stop", T::kSwitch, "Attack",
                     "stop attacking a sample once it is fooled (robust-accuracy evaluation)", {},
                     FOIL_OPTION_MEMBER(S, early_stop, bool)),
      make_option<S>("--batch", T::kInteger, "Run", "batch size", {},
                     FOIL_OPTION_MEMBER(S, batch, int64_t), 1, 100000),
  };
  return table;
}

Evaluation evaluate_attack_job(Model& model, const Dataset& data, const AttackJobOptions& o) {
  check_input(o.attack != nullptr, "attack", "an attack", "none");
  const bool transfer = o.surrogate != nullptr && o.surrogate != &model;
  return evaluate_attack(model, data, *o.attack,
                         EvaluationOptions()
                             .batch(o.batch)
                             .target(o.target)
                             .seed(o.seed)
                             .keep_adv(o.keep_adv)
                             .keep_examples(o.examples)
                             .progress("attack")
                             .craft_on(transfer ? o.surrogate : nullptr));
}

AttackJobResult run_attack(Model& model, const Dataset& data, const AttackJobOptions& o) {
  check_input(o.attack != nullptr, "attack", "an attack", "none");
  AttackJobResult r;
  const auto say = [&](const std::string& line) {
    r.lines.push_back(line);
    if (o.log) o.log(line);
  };
  const bool transfer = o.surrogate != nullptr && o.surrogate != &model;
  if (o.log) {  // what runs, before it does
    o.log(fmt::format("model   {} ({}, access: {})\ndata    {} ({} items)\nattack  {} {}",
                      model.info().name, model.info().backend, access_name(model_access(model)),
                      data.source, data.size(), o.attack->describe(), o.target.str()));
    if (transfer) o.log(fmt::format("crafted on {} (transfer)", o.surrogate->info().name));
  }
  // The model's own checks need its gradients (foil's view of the model, not the attacker's):
  // below that access level they are left out.
  const bool white_box = model_access(model) == Access::kGradients;
  const bool gradients = white_box && !transfer && o.attack->access() == Access::kGradients;
  if (white_box) r.checks = check_model(model, data, 250, gradients);
  r.ev = evaluate_attack_job(model, data, o);
  const Evaluation& ev = r.ev;
  say(fmt::format("\n{:<22}{:>10}", "metric", "value"));
  say(fmt::format("{:<22}{:>10}", "n", ev.n));
  say(fmt::format("{:<22}{:>9.2f}%", "clean accuracy", 100 * ev.clean_accuracy));
  for (size_t i = 0; i < ev.stage_names.size(); ++i)
    say(fmt::format("{:<22}{:>9.2f}%", fmt::format("  after {}", ev.stage_names[i]),
                    100 * ev.stage_robust_accuracy[i]));
  say(fmt::format("{:<22}{:>9.2f}%", "robust accuracy", 100 * ev.robust_accuracy));
  say(fmt::format("{:<22}{:>9.2f}%", "attack success rate", 100 * ev.attack_success_rate));
  if (ev.min_norm.defined()) {
    const std::string norm = o.attack->options().norm();
    say(fmt::format("{:<22}{:>9.2f}%", "found (any size)", 100 * ev.min_norm_found_rate));
    auto size = [&](double v) {
      return ev.min_norm_found > 0 ? fmt::format("{:>10.4f}", v) : fmt::format("{:>10}", "n/a");
    };
    say(fmt::format("{:<22}{}", "median " + norm + " norm", size(ev.min_norm_median)));
    say(fmt::format("{:<22}{}", "mean " + norm + " norm", size(ev.min_norm_mean)));
    say(
        fmt::format("(norms over the clean-correct items where an adversarial was found; robust "
                    "accuracy counts those needing more than eps {:g})",
                    o.attack->options().eps()));
  }
  if (ev.item_queries.defined())
    say(fmt::format("{:<22}{:>10}  (median over the clean-correct items; most {}, budget {})",
                    "queries per item", fmt::format("{:g}", ev.queries_median), ev.queries_max,
                    o.attack->options().queries()));
  if (ev.start.defined())
    say(
        fmt::format("{:<22}{:>10}  from a starting image, {} from noise, {} at the input; {} "
                    "without a start within the budget (not attacked)",
                    "starts", ev.started_from_image, ev.started_from_noise, ev.started_at_input,
                    ev.without_start.size()));
  for (size_t i = 0; i < ev.median_norm_at.size(); ++i)
    say(fmt::format("{:<22}{:>10}", fmt::format("  median norm @{}", ev.query_grid[i]),
                    std::isfinite(ev.median_norm_at[i])
                        ? fmt::format("{:.4f}", ev.median_norm_at[i])
                        : std::string("none yet")));
  if (transfer)
    say(fmt::format("crafted on {} (transfer): the attacked model saw only the final examples",
                    o.surrogate->info().name));
  say(fmt::format("{:<22}{:>10}  over the {} broken items", "linf max",
                  ev.broken > 0 ? fmt::format("{:.4f}", ev.linf_max) : "-", ev.broken));
  say(fmt::format("{:<22}{:>10}", "l2 mean",
                  ev.broken > 0 ? fmt::format("{:.4f}", ev.l2_mean) : "-"));
  if (ev.unconfirmed > 0)
    say(
        fmt::format("final check: {} of the attack's {} successes did not fool the model again on "
                    "the returned example (counted robust)",
                    ev.unconfirmed, ev.in_loop_successes));
  say(fmt::format("{:<22}{:>9.2f}s", "seconds", ev.seconds));
  for (Flag& f : check_evaluation(ev)) r.checks.push_back(std::move(f));
  if (gradients && o.target.mode == TargetSpec::Mode::kNone)
    r.checks.push_back(check_unbounded(model, data, o.attack->options().norm(), o.seed));
  for (const std::string& line : flag_lines(r.checks)) say(line);
  nlohmann::json& j = r.summary;
  j = ev.to_json();
  j["checks"] = flags_json(r.checks);
  j["model"] = model.info().name;
  j["data"] = data.source;
  j["attack"] = {{"name", o.attack->name()},
                 {"norm", o.attack->options().norm()},
                 {"eps", o.attack->options().eps()},
                 {"alpha", o.attack->options().alpha()},
                 {"steps", o.attack->options().steps()},
                 {"random_start", o.attack->options().random_start()},
                 {"restarts", o.attack->options().restarts()},
                 {"decay", o.attack->options().decay()},
                 {"early_stop", o.attack->options().early_stop()},
                 {"seed", o.attack->options().seed()},
                 {"describe", o.attack->describe()},
                 {"target", o.target.str()}};
  j["threat"] = {{"access", access_name(model_access(model))},
                 {"attack_needs", access_name(o.attack->access())},
                 {"crafted_on",
                  transfer ? nlohmann::json(o.surrogate->info().name) : nlohmann::json(nullptr)}};
  if (o.attack->access() != Access::kGradients)
    j["attack"]["max_queries"] = o.attack->options().queries();
  return r;
}

std::vector<std::string> AttackJobResult::write(const std::string& dir, const Dataset& data,
                                                const Attack& attack) const {
  nlohmann::json j = summary;
  j["class_names"] = data.class_names;
  write_json(dir + "/attack.json", j);
  write_examples(dir + "/examples.png", data, {{attack.name(), &ev}});
  if (ev.median_norm_at.empty()) return {"attack.json", "examples.png"};
  const std::vector<double> q(ev.query_grid.begin(), ev.query_grid.end());
  double top = 0;
  for (double v : ev.median_norm_at)
    if (std::isfinite(v)) top = std::max(top, v);
  write_line_plot(dir + "/norm_by_queries.svg",
                  attack.name() + ": median " + attack.options().norm() + " norm found vs queries",
                  "queries per item", "median norm",
                  {{"median over the clean-correct items", q, ev.median_norm_at}}, 0.0,
                  top > 0 ? top * 1.05 : 1.0);
  return {"attack.json", "examples.png", "norm_by_queries.svg"};
}

}  // namespace foil
