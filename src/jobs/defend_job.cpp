// The defence job: clean cost and robust gain of the neutralisation defence.
#include "foil/jobs/defend_job.h"

#include <fmt/format.h>

#include "foil/distributed/dist.h"
#include "foil/jobs/faithfulness_job.h"

namespace foil {

const std::vector<OptionField<DefendSettings>>& defend_option_fields() {
  using S = DefendSettings;
  using T = OptionType;
  static const std::vector<OptionField<S>> table = [] {
    std::vector<OptionField<S>> t = nested_options(neutralize_option_fields(), &S::defense);
    const std::string kAdaptive = "Adaptive attack";
    t.push_back(make_option<S>("--adaptive-steps", T::kInteger, kAdaptive,
                               "steps of the adaptive attack (default: --steps)", {},
                               FOIL_OPTION_MEMBER(S, adaptive_steps, int64_t), 0, 100000));
    t.push_back(make_option<S>("--adaptive-restarts", T::kInteger, kAdaptive,
                               "random restarts of the adaptive attack (default: --restarts)", {},
                               FOIL_OPTION_MEMBER(S, adaptive_restarts, int64_t), 0, 1000));
    t.push_back(make_option<S>("--adaptive-eot", T::kInteger, kAdaptive,
                               "adaptive attack: gradients averaged over this many passes (EOT, "
                               "for random defences)",
                               {}, FOIL_OPTION_MEMBER(S, adaptive_eot, int64_t), 1, 1000));
    t.push_back(make_option<S>("--batch", T::kInteger, "Run", "batch size", {},
                               FOIL_OPTION_MEMBER(S, batch, int64_t), 1, 100000));
    t[t.size() - 4].own_default = t[t.size() - 3].own_default = true;
    return t;
  }();
  return table;
}

DefendJobOptions defend_job_options(const DefendSettings& s, const std::string& name,
                                    const AttackOptions& attack) {
  DefendJobOptions o;
  o.defense = s.defense;
  o.attack = make_attack(name, AttackOptions(attack).early_stop(false));
  AttackOptions adaptive = AttackOptions(attack).early_stop(true).eot_samples(s.adaptive_eot);
  if (s.adaptive_steps > 0) adaptive.steps(s.adaptive_steps);
  if (s.adaptive_restarts > 0) adaptive.restarts(s.adaptive_restarts);
  o.adaptive_attack = make_attack(name, adaptive);
  o.best_attack = make_attack(name, AttackOptions(attack).early_stop(true));
  o.batch = s.batch;
  return o;
}

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

DefendJobResult run_defense(const std::shared_ptr<Model>& model, const Dataset& data,
                            const DefendJobOptions& o) {
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  DefendJobResult r;
  NeutralizedModel defended(model, o.defense);
  log(fmt::format(
      "defence: neutralise top {}% vulnerable minus top {}% important pixels ({} fill)\n"
      "attack:  {}\nadaptive: {} (best iterate: a sample counts as broken once any iterate "
      "fools the defended model)",
      o.defense.q_vulnerable(), o.defense.q_important(), o.defense.fill(), o.attack->describe(),
      o.adaptive_attack->describe()));
  const double clean = accuracy_under(*model, nullptr, nullptr, data, o.batch);
  const double clean_def = accuracy_under(defended, nullptr, nullptr, data, o.batch);
  // The undefended robust accuracy is measured like the adaptive one (best iterate), so the
  // two rows compare; the non-adaptive row transfers the attack's full last iterate.
  const double robust = accuracy_under(*model, model.get(), o.best_attack.get(), data, o.batch);
  const double non_adaptive = accuracy_under(defended, model.get(), o.attack.get(), data, o.batch);
  const double adaptive =
      accuracy_under(defended, &defended, o.adaptive_attack.get(), data, o.batch);
  // How faithful the spared importance map is, on the first 100 items, beside a random order.
  const std::string layer = !explain_uses_layer(o.defense.importance()) ? ""
                            : o.defense.layer().empty() ? default_cam_layer(*model, data.images)
                                                        : o.defense.layer();
  const nlohmann::json importance_faithfulness =
      method_faithfulness(*model, data.images.slice(0, 0, std::min<int64_t>(100, data.size())),
                          o.defense.importance(), layer, ExplainOptions(), o.batch);
  r.lines.push_back(fmt::format("\n{:<72}{:>10}", "", "accuracy"));
  r.lines.push_back(fmt::format("{:<72}{:>9.2f}%", "clean, undefended", 100 * clean));
  r.lines.push_back(fmt::format("{:<72}{:>9.2f}%", "clean, defended", 100 * clean_def));
  r.lines.push_back(
      fmt::format("{:<72}{:>9.2f}%", "attacked, undefended (best iterate)", 100 * robust));
  r.lines.push_back(fmt::format("{:<72}{:>9.2f}%",
                                "attacked, defended: NON-ADAPTIVE (crafted on undefended)",
                                100 * non_adaptive));
  r.lines.push_back(fmt::format(
      "{:<72}{:>9.2f}%", "attacked, defended: ADAPTIVE (through the defence, BPDA, best iterate)",
      100 * adaptive));
  r.lines.push_back(faithfulness_line(importance_faithfulness));
  r.summary = {{"model", model->info().name},
               {"data", data.source},
               {"n", data.size()},
               {"defense",
                {{"name", "neutralize"},
                 {"q_vulnerable", o.defense.q_vulnerable()},
                 {"q_important", o.defense.q_important()},
                 {"importance", explain_method_name(o.defense.importance())},
                 {"fill", o.defense.fill()}}},
               {"attack", o.attack->describe()},
               {"adaptive_attack", o.adaptive_attack->describe()},
               {"clean_accuracy", clean},
               {"clean_accuracy_defended", clean_def},
               {"robust_accuracy", robust},
               {"robust_accuracy_defended_non_adaptive", non_adaptive},
               {"robust_accuracy_defended_adaptive", adaptive},
               {"importance_faithfulness", importance_faithfulness}};
  return r;
}

}  // namespace foil
