// One patch: trained on an ensemble, evaluated on held-out data on every model.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/distributed/dist.h"
#include "foil/jobs/patch_jobs.h"
#include "foil/report/figures.h"

namespace foil {

PatchTrainJobResult run_patch_train(const std::vector<std::shared_ptr<Model>>& models,
                                    const Dataset& data, PatchTrainJobOptions o) {
  check_placement_options(o.placement);
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  PatchTrainJobResult r;
  r.loss = o.objective.loss().empty() ? default_patch_loss(o.task) : o.objective.loss();
  r.target = resolve_patch_task(o.task, o.cls, o.target, r.loss, o.placement, models);
  r.detect = o.task == "detect";
  r.seed = o.seed;
  r.shown = models.front();
  r.at = evaluation_placement(o.placement);
  if (o.eval_items.size() > 0 && !o.eval_on_train) {
    check_input(o.eval_items.images.sizes().slice(1) == data.images.sizes().slice(1),
                "evaluation images",
                "the training images' C x H x W " + c10::str(data.images.sizes().slice(1)),
                c10::str(o.eval_items.images.sizes().slice(1)));
    r.split.train = data;
    r.split.eval = o.eval_items;
    r.split.train_source = data.source;
    r.split.eval_source = o.eval_items.source;
  } else {
    r.split =
        split_patch_data(data, o.data_spec, o.eval_spec, o.eval_on_train, *models.front(), log);
  }
  const Dataset& train = r.split.train;
  Patch patch = Patch::create(
      o.patch, {train.images.size(1), train.images.size(2), train.images.size(3)}, o.seed);
  const bool resuming =
      !o.train.checkpoint().empty() && std::filesystem::exists(o.train.checkpoint());
  const std::string& param = o.patch.param();
  log(fmt::format("patch {}x{} px ({} {}), {} loss, {}, {} source model(s), {} images{}",
                  patch.side(), patch.side(), param,
                  param == "grid" ? std::to_string(o.patch.cells()) + " cells" : "", r.loss,
                  r.detect        ? "class " + (r.target >= 0 ? class_name(train, r.target) : "all")
                  : r.target >= 0 ? "target " + class_name(train, r.target)
                                  : "untargeted",
                  models.size(), train.size(), resuming ? " (resuming)" : ""));
  const double started = now_seconds(), exchanged = dist::exchange_seconds();
  ObjectiveOptions objective = o.objective;
  objective.loss(r.loss).target(r.target);
  if (!o.target_spec.empty()) {
    check_input(r.loss == "feature" || r.loss == "ot", "--target-data",
                "--loss feature or ot (the losses that match a target distribution)",
                "--loss " + r.loss);
    objective.target_images(
        target_class_images(o.target_spec, r.split.eval_spec, *models.front(), r.target, log));
  }
  PatchTrainOptions train_options = o.train;
  r.trained = train_patch(models, train, patch, objective, o.placement, train_options.seed(o.seed),
                          [&](int64_t epoch, double loss) {
                            log(fmt::format("epoch {:>3}  loss {:.4f}", epoch, loss));
                          });
  log(fmt::format("trained in {:.2f}s{}", now_seconds() - started,
                  dist::size() == 1
                      ? ""
                      : fmt::format(", {:.2f}s of it in exchanges between the {} processes "
                                    "(waiting for slower ones included)",
                                    dist::exchange_seconds() - exchanged, dist::size())));
  log(fmt::format("evaluation on {}{}:", r.split.eval_source,
                  r.split.eval_on_train ? " (NOT held out)" : " (held out)"));
  // The baseline beside every number: a patch of the same form with random colours, at the
  // same placements.
  const Patch noise = random_patch_like(r.trained.patch, r.split.eval, o.seed + 2);
  nlohmann::json evals = nlohmann::json::array();
  for (const auto& m : models) {
    nlohmann::json j;
    if (r.detect) {
      const double threshold = detection_threshold(*m);
      const auto e = evaluate_detection_patch(*m, r.split.eval, r.trained.patch, r.at, r.target,
                                              threshold, 1, o.seed + 1);
      const auto b = evaluate_detection_patch(*m, r.split.eval, noise, r.at, r.target, threshold, 1,
                                              o.seed + 1);
      log(fmt::format("{}: {}", m->info().name, detection_line(e)));
      log(fmt::format("{} with a random patch: {}", m->info().name, detection_line(b)));
      j = to_json(e);
      j["random_patch"] = to_json(b);
    } else {
      const auto e =
          evaluate_patch(*m, r.split.eval, r.trained.patch, r.at, r.target, 1, o.seed + 1);
      const auto b = evaluate_patch(*m, r.split.eval, noise, r.at, r.target, 1, o.seed + 1);
      log(
          fmt::format("{}: clean {:.2f}%  patched {:.2f}% (random patch {:.2f}%)  fooling rate "
                      "{:.2f}% (random {:.2f}%){}",
                      m->info().name, 100 * e.clean_accuracy, 100 * e.patched_accuracy,
                      100 * b.patched_accuracy, 100 * e.fooling_rate, 100 * b.fooling_rate,
                      e.target_success >= 0 ? "  tSuc " + tsuc_text(e) : ""));
      j = to_json(e);
      j["random_patch"] = to_json(b);
    }
    j["model"] = m->info().name;
    evals.push_back(j);
  }
  r.summary = {{"loss", r.loss},
               {"task", o.task},
               {"placement", placement_json(r.at)},
               {"target", r.target},
               {"epochs", o.train.epochs()},
               {"epoch_loss", r.trained.epoch_loss},
               {"train_data", r.split.train_source},
               {"eval_data", r.split.eval_source},
               {"eval_on_train", r.split.eval_on_train},
               {"train_items", item_list(r.split.train)},
               {"eval_items", item_list(r.split.eval)},
               {"evaluation", evals}};
  if (!o.target_spec.empty()) r.summary["target_data"] = o.target_spec;
  return r;
}

void PatchTrainJobResult::write(const std::string& folder) const {
  const std::string dir = folder + "/";
  const Patch& patch = trained.patch;
  save_tensor(dir + "patch.pt", patch.params());
  const PatchOptions& p = patch.options();
  write_json(dir + "patch.json", {{"param", p.param()},
                                  {"cells", p.cells()},
                                  {"area", p.area()},
                                  {"shape", p.shape()},
                                  {"side", patch.side()}});
  write_patch_png(dir + "patch.png", patch);
  std::vector<std::vector<std::string>> rows;
  std::vector<double> steps;
  for (size_t i = 0; i < trained.step_loss.size(); ++i) {
    rows.push_back({std::to_string(i + 1), fmt::format("{:.6f}", trained.step_loss[i])});
    steps.push_back(static_cast<double>(i + 1));
  }
  write_csv(dir + "loss.csv", {"step", "loss"}, rows);
  const auto [lo, hi] = std::minmax_element(trained.step_loss.begin(), trained.step_loss.end());
  write_line_plot(dir + "loss.svg", "patch loss (" + loss + ")", "step", "loss",
                  {{loss, steps, trained.step_loss}}, std::min(0.0, *lo), *hi + 1e-9);
  if (detect)
    write_detections(dir + "patched.png", *shown, split.eval, patch, at, target, seed);
  else
    write_patched_grid(dir + "patched.png", *shown, split.eval, patch, at, seed);
  write_json(dir + "summary.json", summary);
}

nlohmann::json run_patch_eval(const std::vector<std::shared_ptr<Model>>& models,
                              const std::vector<Dataset>& per_model, const Patch& patch,
                              const PatchEvalJobOptions& o) {
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const int64_t target = resolve_patch_task(o.task, o.cls, o.target, "", o.placement, models);
  nlohmann::json rows = nlohmann::json::array();
  const Dataset& first = per_model.front();
  if (o.task == "detect") {
    // Detection rates of the class, clean vs patched, per model.
    log(fmt::format("class {}, {} images x {} placements",
                    target >= 0 ? class_name(first, target) : "all", first.size(), o.repeats));
    for (size_t k = 0; k < models.size(); ++k) {
      const auto& m = models[k];
      const Patch sized = patch_at_size(patch, per_model[k]);
      const auto e = evaluate_detection_patch(*m, per_model[k], sized, o.placement, target,
                                              detection_threshold(*m), o.repeats, o.seed);
      const auto b = evaluate_detection_patch(
          *m, per_model[k], random_patch_like(sized, per_model[k], o.seed + 2), o.placement, target,
          detection_threshold(*m), o.repeats, o.seed);
      log(fmt::format("{:<24}{}  (score >= {:.2f})", m->info().name.substr(0, 23),
                      detection_line(e), e.threshold));
      log(fmt::format("{:<24}{}", "  random patch", detection_line(b)));
      auto j = to_json(e);
      j["random_patch"] = to_json(b);
      j["model"] = m->info().name;
      rows.push_back(j);
    }
    return {{"patch", o.patch_file},
            {"task", "detect"},
            {"placement", placement_json(o.placement)},
            {"class", target >= 0 ? class_name(first, target) : "all"},
            {"models", rows}};
  }
  log(fmt::format("{:<24}{:>10}{:>10}{:>10}  {}", "model", "clean", "patched", "fooling",
                  "tSuc (clean images already the target)"));
  for (size_t k = 0; k < models.size(); ++k) {
    const auto& m = models[k];
    const Patch sized = patch_at_size(patch, per_model[k]);
    const auto e = evaluate_patch(*m, per_model[k], sized, o.placement, target, o.repeats, o.seed);
    const auto b =
        evaluate_patch(*m, per_model[k], random_patch_like(sized, per_model[k], o.seed + 2),
                       o.placement, target, o.repeats, o.seed);
    log(fmt::format("{:<24}{:>9.2f}%{:>9.2f}%{:>9.2f}%  {}", m->info().name.substr(0, 23),
                    100 * e.clean_accuracy, 100 * e.patched_accuracy, 100 * e.fooling_rate,
                    e.target_success >= 0 ? tsuc_text(e) : "-"));
    log(fmt::format("{:<24}{:>10}{:>9.2f}%{:>9.2f}%  {}", "  random patch", "",
                    100 * b.patched_accuracy, 100 * b.fooling_rate,
                    b.target_success >= 0 ? tsuc_text(b) : "-"));
    auto j = to_json(e);
    j["random_patch"] = to_json(b);
    j["model"] = m->info().name;
    rows.push_back(j);
  }
  return {{"patch", o.patch_file}, {"target", target}, {"models", rows}};
}

}  // namespace foil
