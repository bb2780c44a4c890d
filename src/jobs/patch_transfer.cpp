// The transfer matrix: a patch per objective and source model, evaluated on every model.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/dist/dist.h"
#include "foil/jobs/patch_jobs.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

std::vector<std::string> allowed_losses(const std::string& task) {
  return task == "detect" ? std::vector<std::string>{"vanish", "appear", "ce", "feature", "ot"}
                          : std::vector<std::string>{"ce", "feature", "ot"};
}

std::vector<std::string> losses_of(const PatchTransferOptions& o) {
  if (!o.losses.empty()) return o.losses;
  return o.task == "detect" ? std::vector<std::string>{"vanish"}
                            : std::vector<std::string>{"ce", "feature", "ot"};
}

}  // namespace

void check_patch_transfer_options(const PatchTransferOptions& o) {
  if (o.task != "detect")
    check_input(o.target >= 0, "--target", "a target class (transfer is measured as tSuc)", "none");
  check_placement_options(o.placement);
  const auto allowed = allowed_losses(o.task);
  const std::string expected = fmt::format("a list of {}", fmt::join(allowed, ", "));
  for (const auto& loss : losses_of(o))
    check_input(std::find(allowed.begin(), allowed.end(), loss) != allowed.end(), "--losses",
                expected, fmt::format("'{}'", fmt::join(o.losses, ",")));
  check_input(o.repeats >= 1, "--repeats", "placements >= 1", std::to_string(o.repeats));
}

PatchTransferResult run_patch_transfer(const std::vector<std::shared_ptr<Model>>& models,
                                       const std::vector<Dataset>& per_model,
                                       PatchTransferOptions o) {
  check_patch_transfer_options(o);
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const bool detect = o.task == "detect";
  PatchTransferResult r;
  r.losses = losses_of(o);
  for (const auto& loss : r.losses)  // every objective must suit the task
    resolve_patch_task(o.task, o.cls, o.target, loss, o.placement, models);
  o.target = resolve_patch_task(o.task, o.cls, o.target, "", o.placement, models);
  // One split per model (the same items at each model's input size).
  std::vector<PatchSplit> splits;
  for (size_t m = 0; m < models.size(); ++m)
    splits.push_back(
        split_patch_data(per_model[m], o.data_spec, o.eval_spec, o.eval_on_train, *models[m], log));
  const PatchSplit& split = splits.front();
  // Detectors: each cell is the class's patched detection rate (vanish: lower is stronger).
  r.metric = detect ? "patched detection rate" : "tSuc";
  log(fmt::format("training on {}; {} on {}{}", split.train_source, r.metric, split.eval_source,
                  split.eval_on_train ? " (NOT held out)" : " (held out)"));
  for (const auto& m : models) r.models.push_back(m->info().name);
  const auto& names = r.models;
  r.class_text = o.target >= 0 ? class_name(split.train, o.target) : std::string("all classes");
  nlohmann::json& summary = r.summary;
  summary = {{"target", o.target},
             {"task", o.task},
             {"metric", detect ? "patched_detection_rate" : "target_success"},
             {"placement", placement_json(o.placement)},
             {"models", names},
             {"train_data", split.train_source},
             {"eval_data", split.eval_source},
             {"eval_on_train", split.eval_on_train},
             {"train_items", item_list(split.train)},
             {"eval_items", item_list(split.eval)},
             {"matrices", nlohmann::json::object()}};
  // feature/ot from another source: each source model's own images of the target class.
  std::vector<torch::Tensor> target_images(models.size());
  const bool layered = std::any_of(r.losses.begin(), r.losses.end(), [](const std::string& l) {
    return l == "feature" || l == "ot";
  });
  if (!o.target_spec.empty()) {
    check_input(layered, "--target-data", "--losses with feature or ot",
                fmt::format("'{}'", fmt::join(r.losses, ",")));
    for (size_t m = 0; m < models.size(); ++m) {
      target_images[m] =
          target_class_images(o.target_spec, splits[m].eval_spec, *models[m], o.target, log);
      summary["target_images"][names[m]] = target_images[m].size(0);
    }
    summary["target_data"] = o.target_spec;
  }
  const PlacementOptions at = evaluation_placement(o.placement);
  for (const auto& loss : r.losses) {
    std::vector<std::vector<double>> matrix;
    double off = 0;
    int64_t off_n = 0;
    for (size_t s = 0; s < models.size(); ++s) {
      // Rank 0's folder holds the finished patches: it decides what is reused, and every
      // process reads its file.
      const std::string file =
          o.patch_folder.empty() ? "" : o.patch_folder + fmt::format("/patch-{}-{}.pt", loss, s);
      // A finished patch is reused only when it was made from the same work: the same model
      // file, loss, target, training and placement flags, data and seed (not by position).
      nlohmann::json print = o.work;
      print["loss"] = loss;
      if (s < o.model_files.size()) print["model_digest"] = model_file_digest(o.model_files[s]);
      const std::string fingerprint = print.dump(), sidecar = file + ".fingerprint";
      std::string why;
      if (!file.empty() && dist::leader() && std::filesystem::exists(file)) {
        const bool same =
            std::filesystem::exists(sidecar) &&
            read_folder_file(o.patch_folder, std::filesystem::path(sidecar).filename().string(),
                             1 << 20) == fingerprint;
        why = same ? "1"
                   : "made from other work (a model file, the target, the loss, a training "
                     "or placement flag, the data or the seed differs); training it again";
      }
      why = dist::broadcast(why);
      const Dataset& train = splits[s].train;
      Patch patch = Patch::create(
          o.patch, {train.images.size(1), train.images.size(2), train.images.size(3)}, o.seed);
      if (why == "1") {
        log(fmt::format("{} patch on {}: reusing {} (same model file, flags, data and seed)", loss,
                        names[s], file));
        patch = read_patch(file, o.patch,
                           {train.images.size(1), train.images.size(2), train.images.size(3)});
      } else {
        if (!why.empty()) log(fmt::format("{}: {}", file, why));
        log(fmt::format("{} patch on {} ...", loss, names[s]));
        ObjectiveOptions objective = o.objective;
        objective.loss(loss).target(o.target).target_images(target_images[s]);
        PatchTrainOptions train_options = o.train;
        patch = train_patch({models[s]}, train, patch, objective, o.placement,
                            train_options.seed(o.seed))
                    .patch;
        if (!file.empty() && dist::leader()) {
          save_tensor(file, patch.params());
          write_file(sidecar, fingerprint);
        }
      }
      std::vector<double> row;
      for (size_t m = 0; m < models.size(); ++m) {
        double value = 0;
        const Dataset& eval = splits[m].eval;
        if (detect) {
          const auto e =
              evaluate_detection_patch(*models[m], eval, patch_at_size(patch, eval), at, o.target,
                                       detection_threshold(*models[m]), o.repeats, o.seed + 1);
          value = e.patched_detection_rate;
          summary["clean_detection_rate"][names[m]] = e.clean_detection_rate;
        } else {
          const auto e = evaluate_patch(*models[m], eval, patch_at_size(patch, eval), at, o.target,
                                        o.repeats, o.seed + 1);
          value = e.target_success;
          summary["clean_target_rate"][names[m]] = e.clean_target_rate;
        }
        row.push_back(value);
        if (m != s) {
          off += value;
          ++off_n;
        }
      }
      matrix.push_back(row);
    }
    // One model has no off-diagonal: no transfer pair to average.
    const double mean_off = off_n > 0 ? off / static_cast<double>(off_n) : 0.0;
    summary["matrices"][loss] = {
        {detect ? "patched_detection_rate" : "tsuc", matrix},
        {"mean_off_diagonal", off_n > 0 ? nlohmann::json(mean_off) : nlohmann::json()}};
    if (off_n > 0)
      log(fmt::format("{}: mean off-diagonal {} {:.2f}%", loss, r.metric, 100 * mean_off));
    else
      log(fmt::format("{}: own-model {} {:.2f}% (one model: no off-diagonal, no transfer measured)",
                      loss, r.metric, 100 * matrix[0][0]));
    r.matrices.push_back(std::move(matrix));
  }
  // The baselines each cell compares with: what the clean images already do on each model,
  // and what a random patch of the same form at the same placements does.
  const std::string base_key = detect ? "clean_detection_rate" : "clean_target_rate";
  std::vector<std::string> base, noise;
  for (size_t m = 0; m < models.size(); ++m) {
    const Dataset& eval = splits[m].eval;
    const Patch random =
        random_patch_like(Patch::create(o.patch, shape_of(eval), o.seed), eval, o.seed + 2);
    const double value =
        detect ? evaluate_detection_patch(*models[m], eval, random, at, o.target,
                                          detection_threshold(*models[m]), o.repeats, o.seed + 1)
                     .patched_detection_rate
               : evaluate_patch(*models[m], eval, random, at, o.target, o.repeats, o.seed + 1)
                     .target_success;
    summary["random_patch"][names[m]] = value;
    base.push_back(
        fmt::format("{} {:.2f}%", names[m], 100 * summary[base_key][names[m]].get<double>()));
    noise.push_back(fmt::format("{} {:.2f}%", names[m], 100 * value));
  }
  log(fmt::format("baseline, {}: {}",
                  detect ? "class detected on the clean images"
                         : "clean images already predicted as the target",
                  fmt::join(base, ", ")));
  log(fmt::format("baseline, a random patch of the same form ({}): {}", r.metric,
                  fmt::join(noise, ", ")));
  return r;
}

void PatchTransferResult::write(const std::string& dir) const {
  const bool detect = metric != "tSuc";
  for (size_t l = 0; l < losses.size(); ++l) {
    std::vector<std::vector<std::string>> csv;
    for (size_t s = 0; s < models.size(); ++s) {
      std::vector<std::string> cells = {models[s]};
      for (double v : matrices[l][s]) cells.push_back(fmt::format("{:.4f}", v));
      csv.push_back(cells);
    }
    std::vector<std::string> header = {"source \\ target"};
    header.insert(header.end(), models.begin(), models.end());
    write_csv(dir + "/transfer-" + losses[l] + ".csv", header, csv);
    write_heatmap(dir + "/transfer-" + losses[l] + ".png",
                  fmt::format("{}, {} patches, {} {}", metric, losses[l],
                              detect ? "class" : "target", class_text),
                  models, models, matrices[l]);
  }
  write_json(dir + "/transfer.json", summary);
}

}  // namespace foil
