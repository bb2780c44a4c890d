// The transfer matrix: a patch per objective and source model, evaluated on every model.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/distributed/dist.h"
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

/// What the transfer job's steps share: the models, the options (the target resolved), the
/// result being filled in, and what the steps find on the way.
struct Transfer {
  const std::vector<std::shared_ptr<Model>>& models;
  const PatchTransferOptions& o;
  PatchTransferResult& r;
  const Log log;  ///< o.log, where there is one
  const bool detect;
  std::vector<PatchSplit> splits;  ///< one per model (the same items at each model's input size)
  /// feature/ot from another source: each source model's own images of the target class.
  std::vector<torch::Tensor> target_images;
  PlacementOptions at;  ///< where the evaluations put the patches

  Transfer(const std::vector<std::shared_ptr<Model>>& sources, const PatchTransferOptions& options,
           PatchTransferResult& result, Log lines)
      : models(sources),
        o(options),
        r(result),
        log(std::move(lines)),
        detect(options.task == "detect") {}
};

/// Splits each model's data, and opens the result: the models, the metric, the class and
/// the summary's description of the run.
void open_transfer(Transfer& t, const std::vector<Dataset>& per_model) {
  const PatchTransferOptions& o = t.o;
  PatchTransferResult& r = t.r;
  for (size_t m = 0; m < t.models.size(); ++m)
    t.splits.push_back(split_patch_data(per_model[m], o.data_spec, o.eval_spec, o.eval_on_train,
                                        *t.models[m], t.log));
  const PatchSplit& split = t.splits.front();
  // Detectors: each cell is the class's patched detection rate (vanish: lower is stronger).
  r.metric = t.detect ? "patched detection rate" : "tSuc";
  t.log(fmt::format("training on {}; {} on {}{}", split.train_source, r.metric, split.eval_source,
                    split.eval_on_train ? " (NOT held out)" : " (held out)"));
  for (const auto& m : t.models) r.models.push_back(m->info().name);
  r.class_text = o.target >= 0 ? class_name(split.train, o.target) : std::string("all classes");
  r.summary = {{"target", o.target},
               {"task", o.task},
               {"metric", t.detect ? "patched_detection_rate" : "target_success"},
               {"placement", placement_json(o.placement)},
               {"models", r.models},
               {"train_data", split.train_source},
               {"eval_data", split.eval_source},
               {"eval_on_train", split.eval_on_train},
               {"train_items", item_list(split.train)},
               {"eval_items", item_list(split.eval)},
               {"matrices", nlohmann::json::object()}};
}

/// feature/ot from another source (--target-data): each source model's own images of the
/// target class.
void read_target_images(Transfer& t) {
  const PatchTransferOptions& o = t.o;
  nlohmann::json& summary = t.r.summary;
  t.target_images.resize(t.models.size());
  const bool layered = std::any_of(t.r.losses.begin(), t.r.losses.end(), [](const std::string& l) {
    return l == "feature" || l == "ot";
  });
  if (o.target_spec.empty()) return;
  check_input(layered, "--target-data", "--losses with feature or ot",
              fmt::format("'{}'", fmt::join(t.r.losses, ",")));
  for (size_t m = 0; m < t.models.size(); ++m) {
    t.target_images[m] =
        target_class_images(o.target_spec, t.splits[m].eval_spec, *t.models[m], o.target, t.log);
    summary["target_images"][t.r.models[m]] = t.target_images[m].size(0);
  }
  summary["target_data"] = o.target_spec;
}

/// Whether rank 0's finished patch `file` may be reused: "1" when its `sidecar` holds the
/// same `fingerprint` of the work, else why not ("" where there is no such patch). Every
/// process gets rank 0's answer.
std::string reuse_verdict(const Transfer& t, const std::string& file, const std::string& sidecar,
                          const std::string& fingerprint) {
  std::string why;
  if (!file.empty() && dist::leader() && std::filesystem::exists(file)) {
    const bool same =
        std::filesystem::exists(sidecar) &&
        read_folder_file(t.o.patch_folder, std::filesystem::path(sidecar).filename().string(),
                         1 << 20) == fingerprint;
    why = same ? "1"
               : "made from other work (a model file, the target, the loss, a training "
                 "or placement flag, the data or the seed differs); training it again";
  }
  return dist::broadcast(why);
}

/// The `loss` patch of source model `s`: reused from the patch folder, or trained (and kept
/// there).
Patch source_patch(const Transfer& t, const std::string& loss, size_t s) {
  const PatchTransferOptions& o = t.o;
  const std::string& name = t.r.models[s];
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
  const std::string why = reuse_verdict(t, file, sidecar, fingerprint);
  const Dataset& train = t.splits[s].train;
  Patch patch = Patch::create(
      o.patch, {train.images.size(1), train.images.size(2), train.images.size(3)}, o.seed);
  if (why == "1") {
    t.log(fmt::format("{} patch on {}: reusing {} (same model file, flags, data and seed)", loss,
                      name, file));
    return read_patch(file, o.patch,
                      {train.images.size(1), train.images.size(2), train.images.size(3)});
  }
  if (!why.empty()) t.log(fmt::format("{}: {}", file, why));
  t.log(fmt::format("{} patch on {} ...", loss, name));
  ObjectiveOptions objective = o.objective;
  objective.loss(loss).target(o.target).target_images(t.target_images[s]);
  PatchTrainOptions train_options = o.train;
  patch =
      train_patch({t.models[s]}, train, patch, objective, o.placement, train_options.seed(o.seed))
          .patch;
  if (!file.empty() && dist::leader()) {
    save_tensor(file, patch.params());
    write_file(sidecar, fingerprint);
  }
  return patch;
}

/// A row of the matrix: `patch` on every model's held-out data (and each model's clean rate
/// into the summary).
std::vector<double> evaluate_on_every_model(Transfer& t, const Patch& patch) {
  const PatchTransferOptions& o = t.o;
  nlohmann::json& summary = t.r.summary;
  std::vector<double> row;
  for (size_t m = 0; m < t.models.size(); ++m) {
    double value = 0;
    const Dataset& eval = t.splits[m].eval;
    if (t.detect) {
      const auto e =
          evaluate_detection_patch(*t.models[m], eval, patch_at_size(patch, eval), t.at, o.target,
                                   detection_threshold(*t.models[m]), o.repeats, o.seed + 1);
      value = e.patched_detection_rate;
      summary["clean_detection_rate"][t.r.models[m]] = e.clean_detection_rate;
    } else {
      const auto e = evaluate_patch(*t.models[m], eval, patch_at_size(patch, eval), t.at, o.target,
                                    o.repeats, o.seed + 1);
      value = e.target_success;
      summary["clean_target_rate"][t.r.models[m]] = e.clean_target_rate;
    }
    row.push_back(value);
  }
  return row;
}

/// The matrix of one objective: a patch per source model (rows) on every model (columns),
/// with the mean transfer (off the diagonal) into the summary and the log.
std::vector<std::vector<double>> transfer_matrix(Transfer& t, const std::string& loss) {
  std::vector<std::vector<double>> matrix;
  double off = 0;
  int64_t off_n = 0;
  for (size_t s = 0; s < t.models.size(); ++s) {
    const Patch patch = source_patch(t, loss, s);
    const std::vector<double> row = evaluate_on_every_model(t, patch);
    for (size_t m = 0; m < row.size(); ++m)
      if (m != s) {
        off += row[m];
        ++off_n;
      }
    matrix.push_back(row);
  }
  // One model has no off-diagonal: no transfer pair to average.
  const double mean_off = off_n > 0 ? off / static_cast<double>(off_n) : 0.0;
  t.r.summary["matrices"][loss] = {
      {t.detect ? "patched_detection_rate" : "tsuc", matrix},
      {"mean_off_diagonal", off_n > 0 ? nlohmann::json(mean_off) : nlohmann::json()}};
  if (off_n > 0)
    t.log(fmt::format("{}: mean off-diagonal {} {:.2f}%", loss, t.r.metric, 100 * mean_off));
  else
    t.log(fmt::format("{}: own-model {} {:.2f}% (one model: no off-diagonal, no transfer measured)",
                      loss, t.r.metric, 100 * matrix[0][0]));
  return matrix;
}

/// The baselines each cell compares with: what the clean images already do on each model,
/// and what a random patch of the same form at the same placements does.
void baselines(Transfer& t) {
  const PatchTransferOptions& o = t.o;
  nlohmann::json& summary = t.r.summary;
  const auto& names = t.r.models;
  const std::string base_key = t.detect ? "clean_detection_rate" : "clean_target_rate";
  std::vector<std::string> base, noise;
  for (size_t m = 0; m < t.models.size(); ++m) {
    const Dataset& eval = t.splits[m].eval;
    const Patch random =
        random_patch_like(Patch::create(o.patch, shape_of(eval), o.seed), eval, o.seed + 2);
    const double value =
        t.detect
            ? evaluate_detection_patch(*t.models[m], eval, random, t.at, o.target,
                                       detection_threshold(*t.models[m]), o.repeats, o.seed + 1)
                  .patched_detection_rate
            : evaluate_patch(*t.models[m], eval, random, t.at, o.target, o.repeats, o.seed + 1)
                  .target_success;
    summary["random_patch"][names[m]] = value;
    base.push_back(
        fmt::format("{} {:.2f}%", names[m], 100 * summary[base_key][names[m]].get<double>()));
    noise.push_back(fmt::format("{} {:.2f}%", names[m], 100 * value));
  }
  t.log(fmt::format("baseline, {}: {}",
                    t.detect ? "class detected on the clean images"
                             : "clean images already predicted as the target",
                    fmt::join(base, ", ")));
  t.log(fmt::format("baseline, a random patch of the same form ({}): {}", t.r.metric,
                    fmt::join(noise, ", ")));
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
  PatchTransferResult r;
  r.losses = losses_of(o);
  for (const auto& loss : r.losses)  // every objective must suit the task
    resolve_patch_task(o.task, o.cls, o.target, loss, o.placement, models);
  o.target = resolve_patch_task(o.task, o.cls, o.target, "", o.placement, models);
  const Log log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  Transfer t(models, o, r, log);
  open_transfer(t, per_model);
  read_target_images(t);
  t.at = evaluation_placement(o.placement);
  for (const auto& loss : r.losses) r.matrices.push_back(transfer_matrix(t, loss));
  baselines(t);
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
