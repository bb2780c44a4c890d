// The defence job: clean cost and robust gain of the neutralisation defence.
#include "foil/jobs/defend_job.h"

#include <fmt/format.h>

#include "foil/distributed/dist.h"
#include "foil/jobs/faithfulness_job.h"

namespace foil {

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
