// The patch certification job: PatchCleanser's certificates beside foil's patch attacks.
#include "foil/jobs/patch_certify_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/distributed/dist.h"
#include "foil/patch/per_image.h"
#include "foil/patch/trainer.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// A universal untargeted patch of the set's side trained on `attacked` with `data`, evaluated
/// on the plain and the defended model.
PatchAttackRow attack_row(const std::string& name, std::shared_ptr<Model> attacked, Model& plain,
                          Model& defended, const Dataset& attack_data, const Dataset& data,
                          double area, const PatchCertifyOptions& o) {
  const double start = now_seconds();
  torch::manual_seed(o.seed);
  const Patch init = Patch::create(PatchOptions().param("free").area(area), shape_of(data), o.seed);
  const PatchTrainResult trained =
      train_patch({std::move(attacked)}, attack_data, init, ObjectiveOptions(), PlacementOptions(),
                  PatchTrainOptions()
                      .epochs(o.attack_epochs)
                      .lr(o.attack_lr)
                      .seed(o.seed)
                      .progress("patch " + name));
  PatchAttackRow row;
  row.attack = name;
  row.measure = fmt::format("mean over {} random placements per item", o.repeats);
  row.undefended_accuracy =
      evaluate_patch(plain, data, trained.patch, PlacementOptions(), -1, o.repeats, o.seed)
          .patched_accuracy;
  row.defended_accuracy =
      evaluate_patch(defended, data, trained.patch, PlacementOptions(), -1, o.repeats, o.seed)
          .patched_accuracy;
  row.seconds = now_seconds() - start;
  return row;
}

/// A per-image patch of `side` at every grid position optimised on `attacked` for each item;
/// an item counts as right when the model is right at every position. Items certified yet
/// wrong under a patch are counted in `broken_certified` (a bug if any).
PatchAttackRow per_image_row(const std::string& name, Model& attacked, Model& plain,
                             Model& defended, const Dataset& data,
                             const std::vector<int64_t>& labels, const std::vector<bool>& certified,
                             int64_t side, const PatchCertifyOptions& o,
                             int64_t& broken_certified) {
  const double start = now_seconds();
  torch::manual_seed(o.seed);
  PerImagePatchOptions p;
  p.side = side;
  p.positions = o.positions;
  p.steps = o.per_image_steps;
  p.seed = o.seed;
  const int64_t l = o.positions * o.positions;
  const auto [lo, hi] = dist::shard(data.size());
  int64_t plain_right = 0, defended_right = 0, broken = 0;
  Progress progress("patch " + name, hi - lo);
  for (int64_t b = lo; b < hi; b += 8) {
    const int64_t e = std::min(hi, b + 8);
    const torch::Tensor y = torch::tensor(labels).slice(0, b, e);
    const torch::Tensor patched = per_image_patches(attacked, data.images.slice(0, b, e), y, p);
    torch::NoGradGuard no_grad;
    const torch::Tensor expect = y.repeat_interleave(l).view({-1, l});
    const torch::Tensor ok_plain = plain.forward(patched).argmax(1).cpu().view({-1, l}).eq(expect);
    const torch::Tensor ok = defended.forward(patched).argmax(1).cpu().view({-1, l}).eq(expect);
    const torch::Tensor all_plain = ok_plain.all(1), all_defended = ok.all(1);
    plain_right += all_plain.sum().item<int64_t>();
    defended_right += all_defended.sum().item<int64_t>();
    for (int64_t i = b; i < e; ++i)
      broken += certified[static_cast<size_t>(i)] && !all_defended[i - b].item<bool>() ? 1 : 0;
    progress.update(e - lo, fmt::format("item {}", e));
  }
  progress.finish();
  const torch::Tensor sums =
      dist::all_gather_rows(torch::tensor({plain_right, defended_right, broken}).view({1, 3}))
          .sum(0);
  broken_certified += sums[2].item<int64_t>();
  PatchAttackRow row;
  row.attack = name;
  row.measure = fmt::format("items right at all {} positions", l);
  const auto n = static_cast<double>(data.size());
  row.undefended_accuracy = static_cast<double>(sums[0].item<int64_t>()) / n;
  row.defended_accuracy = static_cast<double>(sums[1].item<int64_t>()) / n;
  row.seconds = now_seconds() - start;
  return row;
}

/// What the run is about to do, on the log.
void log_plan(const Model& model, const Dataset& data, const Dataset& attack_data, bool attacks,
              const PatchCertifyOptions& o) {
  if (!o.log) return;
  o.log(fmt::format(
      "model   {} ({})\ndata    {} ({} items)\npatch   {}, {} masks per axis\nattacks {}",
      model.info().name, model.info().backend, data.source, data.size(), option_text(o.areas),
      o.masks_per_axis,
      attacks ? fmt::format("per-image, and universal patches trained on {} ({} epochs)",
                            attack_data.source, o.attack_epochs)
              : "per-image only (no held-out --patch-data, or --attack-epochs 0)"));
}

}  // namespace

std::string patch_attack_data_spec(const std::string& data_spec, const std::string& given) {
  if (given == "none") return "";
  const DataSpec certified = parse_data_spec(data_spec);
  if (given.empty()) {
    if (certified.kind != DataSpec::Kind::kFashionMnist) return "";
    return certified.path == "test" ? "fashion-mnist:train:1000" : "fashion-mnist:test:1000";
  }
  const DataSpec train = parse_data_spec(given);
  check_input(train.kind != certified.kind || train.path != certified.path, "--patch-data",
              "data held out from the certified items (--data " + data_spec + ")",
              "'" + given + "' from the same source");
  return given;
}

void check_patch_certify_options(const PatchCertifyOptions& o) {
  check_input(!o.areas.empty(), "--patch", "at least one patch area", "none");
  for (double a : o.areas)
    check_input(std::isfinite(a) && a > 0 && a < 1, "--patch",
                "patch areas in (0, 1), shares of the image", fmt::format("{}", a));
  check_input(o.masks_per_axis >= 1 && o.masks_per_axis <= 64, "--masks", "an integer in 1..64",
              std::to_string(o.masks_per_axis));
  check_input(o.batch >= 1 && o.batch <= 100000, "--batch", "an integer in 1..100000",
              std::to_string(o.batch));
  check_input(o.attack_epochs >= 0 && o.attack_epochs <= 1000, "--attack-epochs",
              "an integer in 0..1000", std::to_string(o.attack_epochs));
  check_input(std::isfinite(o.attack_lr) && o.attack_lr > 0, "--attack-lr", "a value > 0",
              fmt::format("{}", o.attack_lr));
  check_input(o.repeats >= 1 && o.repeats <= 100, "--repeats", "an integer in 1..100",
              std::to_string(o.repeats));
  check_input(o.positions >= 1 && o.positions <= 64, "--positions", "an integer in 1..64",
              std::to_string(o.positions));
  check_input(o.per_image_steps >= 0 && o.per_image_steps <= 100000, "--per-image-steps",
              "an integer in 0..100000", std::to_string(o.per_image_steps));
}

PatchCertifyResult run_patch_certify(std::shared_ptr<Model> model, const Dataset& data,
                                     const Dataset& given_attack_data,
                                     const PatchCertifyOptions& o) {
  check_patch_certify_options(o);
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  const bool attacks = o.attack_epochs > 0 && given_attack_data.size() > 0;
  // Unlabelled photos and video frames: the untargeted patch pushes away from the model's own
  // clean prediction.
  if (attacks)
    check_input(given_attack_data.images.sizes().slice(1) == data.images.sizes().slice(1),
                "--patch-data " + given_attack_data.source, "images of the certified data's size",
                "another size");
  Dataset attack_data = given_attack_data;
  if (attacks) label_unlabelled(attack_data, *model);
  log_plan(*model, data, attack_data, attacks, o);
  const double start = now_seconds();
  PatchCertifyResult r;
  r.model = model->info().name;
  r.data = data.source;
  r.attack_data = attacks ? attack_data.source : "";
  r.n = data.size();
  r.masks_per_axis = o.masks_per_axis;
  r.repeats = o.repeats;
  const ImageShape shape = shape_of(data);
  torch::Tensor clean;
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < r.n; b += o.batch)
      parts.push_back(
          model->forward(data.images.slice(0, b, std::min(r.n, b + o.batch))).argmax(1).cpu());
    clean = torch::cat(parts);
  }
  int64_t correct = 0;
  for (int64_t i = 0; i < r.n; ++i) {
    const int64_t label = data.labels[i].item<int64_t>();
    r.labels.push_back(label >= 0 ? label : clean[i].item<int64_t>());
    correct += clean[i].item<int64_t>() == r.labels.back() ? 1 : 0;
  }
  r.base_accuracy = static_cast<double>(correct) / static_cast<double>(r.n);
  const auto [lo, hi] = dist::shard(r.n);
  for (double area : o.areas) {
    const double area_start = now_seconds();
    PatchCertifyRow row;
    row.area = area;
    row.set = patch_mask_set(shape, certified_patch_side(area, shape), o.masks_per_axis);
    row.certified_area = static_cast<double>(row.set.patch * row.set.patch) /
                         static_cast<double>(shape.height * shape.width);
    // Per item of this rank's share: defended prediction, its case, certified.
    std::vector<int64_t> mine;
    Progress progress(fmt::format("certify patch {:g}", area), hi - lo);
    for (int64_t b = lo; b < hi; b += 8) {
      const int64_t e = std::min(hi, b + 8);
      const torch::Tensor maps =
          two_mask_predictions(*model, data.images.slice(0, b, e), row.set, o.batch);
      for (int64_t i = b; i < e; ++i) {
        int which = 0;
        const int64_t pred = double_masking(maps[i - b], &which);
        mine.insert(mine.end(),
                    {pred, which, two_mask_certified(maps[i - b], r.labels[i]) ? int64_t{1} : 0});
      }
      progress.update(e - lo, fmt::format("item {}", e));
    }
    progress.finish();
    const torch::Tensor all = dist::all_gather_rows(torch::tensor(mine).view({-1, 3}));
    int64_t right = 0, certified = 0;
    for (int64_t i = 0; i < r.n; ++i) {
      const int64_t pred = all[i][0].item<int64_t>();
      row.predictions.push_back(pred);
      ++row.cases[static_cast<size_t>(all[i][1].item<int64_t>() - 1)];
      row.certified.push_back(all[i][2].item<int64_t>() == 1);
      right += pred == r.labels[i] ? 1 : 0;
      certified += row.certified.back() ? 1 : 0;
    }
    row.defended_accuracy = static_cast<double>(right) / static_cast<double>(r.n);
    row.certified_accuracy = static_cast<double>(certified) / static_cast<double>(r.n);
    if (o.log)
      o.log(
          fmt::format("patch {:g} ({}x{} px, {} masks of {}x{}): defended {:.2f}%, certified "
                      "{:.2f}%",
                      area, row.set.patch, row.set.patch, row.set.size(), row.set.mask_h,
                      row.set.mask_w, 100 * row.defended_accuracy, 100 * row.certified_accuracy));
    auto defended = std::make_shared<PatchCleanserModel>(model, row.set, o.batch);
    auto through_masks = std::make_shared<RandomMaskModel>(model, row.set);
    if (o.per_image_steps > 0) {
      row.attacks.push_back(per_image_row("per-image patches on the plain model", *model, *model,
                                          *defended, data, r.labels, row.certified, row.set.patch,
                                          o, row.broken_certified));
      row.attacks.push_back(per_image_row("per-image patches through random mask pairs (adaptive)",
                                          *through_masks, *model, *defended, data, r.labels,
                                          row.certified, row.set.patch, o, row.broken_certified));
    }
    if (attacks) {
      row.attacks.push_back(attack_row("universal patch trained on the plain model", model, *model,
                                       *defended, attack_data, data, row.certified_area, o));
      row.attacks.push_back(
          attack_row("universal patch trained through random mask pairs (adaptive)", through_masks,
                     *model, *defended, attack_data, data, row.certified_area, o));
    }
    for (const auto& a : row.attacks) {
      row.best_attack_accuracy = row.best_attack_accuracy < 0
                                     ? a.defended_accuracy
                                     : std::min(row.best_attack_accuracy, a.defended_accuracy);
      row.best_attack_undefended_accuracy =
          row.best_attack_undefended_accuracy < 0
              ? a.undefended_accuracy
              : std::min(row.best_attack_undefended_accuracy, a.undefended_accuracy);
      if (o.log)
        o.log(fmt::format("  {}: plain model {:.2f}%, defended {:.2f}% ({})", a.attack,
                          100 * a.undefended_accuracy, 100 * a.defended_accuracy, a.measure));
    }
    row.seconds = now_seconds() - area_start;
    r.rows.push_back(std::move(row));
  }
  r.seconds = now_seconds() - start;
  auto say = [&](const std::string& line) {
    r.lines.push_back(line);
    if (o.log) o.log(line);
  };
  say(fmt::format("\n{:<8}{:>8}{:>7}{:>11}{:>11}{:>14}{:>14}", "area", "patch", "masks", "defended",
                  "certified", "best attack", "plain+patch"));
  for (const auto& row : r.rows) {
    say(fmt::format(
        "{:<8}{:>8}{:>7}{:>10.2f}%{:>10.2f}%{:>14}{:>14}", fmt::format("{:g}%", 100 * row.area),
        fmt::format("{}x{}", row.set.patch, row.set.patch), row.set.size(),
        100 * row.defended_accuracy, 100 * row.certified_accuracy,
        row.attacks.empty() ? "-" : fmt::format("{:.2f}%", 100 * row.best_attack_accuracy),
        row.attacks.empty() ? "-"
                            : fmt::format("{:.2f}%", 100 * row.best_attack_undefended_accuracy)));
    if (row.broken_certified > 0 ||
        (!row.attacks.empty() && row.best_attack_accuracy < row.certified_accuracy))
      say(
          fmt::format("  a patch beat the certificate at area {:g} ({} certified items fooled): "
                      "foil has a bug; please report it",
                      row.area, row.broken_certified));
  }
  say(fmt::format("undefended clean accuracy {:.2f}%, {} items, {:.1f} s", 100 * r.base_accuracy,
                  r.n, r.seconds));
  say("(defended: PatchCleanser's double masking, clean; certified: share of all items whose "
      "every two-mask prediction is the label, so no square patch of that side anywhere changes "
      "the defended prediction; best attack: the lowest accuracy of the defended model under "
      "foil's patches (per-image: items right at every position; universal: mean over random "
      "placements); plain+patch: the undefended model under "
      "the same patches)");
  return r;
}

nlohmann::json PatchCertifyResult::to_json() const {
  nlohmann::json out_rows = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json atk = nlohmann::json::array();
    for (const auto& a : row.attacks)
      atk.push_back({{"attack", a.attack},
                     {"accuracy_is", a.measure},
                     {"undefended_accuracy", a.undefended_accuracy},
                     {"defended_accuracy", a.defended_accuracy},
                     {"seconds", a.seconds}});
    out_rows.push_back(
        {{"area", row.area},
         {"patch_side", row.set.patch},
         {"certified_area", row.certified_area},
         {"masks", row.set.size()},
         {"mask_size", {row.set.mask_h, row.set.mask_w}},
         {"mask_stride", {row.set.stride_h, row.set.stride_w}},
         {"defended_accuracy", row.defended_accuracy},
         {"certified_accuracy", row.certified_accuracy},
         {"cases",
          {{"agreed", row.cases[0]}, {"disagreer", row.cases[1]}, {"majority", row.cases[2]}}},
         {"best_attack_accuracy",
          row.attacks.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.best_attack_accuracy)},
         {"best_attack_undefended_accuracy",
          row.attacks.empty() ? nlohmann::json(nullptr)
                              : nlohmann::json(row.best_attack_undefended_accuracy)},
         {"attacks", atk},
         {"certified_items_fooled", row.broken_certified},
         {"seconds", row.seconds}});
  }
  return {
      {"model", model},
      {"data", data},
      {"attack_data", attack_data},
      {"n", n},
      {"base_accuracy", base_accuracy},
      {"masks_per_axis", masks_per_axis},
      {"placements_per_item", repeats},
      {"seconds", seconds},
      {"patch", out_rows},
      {"meaning",
       "PatchCleanser (Xiang et al. 2022), double masking: masks laid so that one covers any "
       "square patch of the given side; certified accuracy = share of all items whose every "
       "two-mask prediction is the label (then no patch of that side, anywhere, changes the "
       "defended prediction: deterministic, no probability of error); patch side = "
       "ceil(sqrt(area x H x W)); masked pixels take the model's normalisation mean; "
       "attacks: patches of the certified side, untargeted: per-image patches (free pixels at a "
       "grid of positions, signed-gradient ascent on the cross-entropy per item and position; "
       "accuracy = items right at every position) and foil's universal patches trained on "
       "held-out data (accuracy = mean over random placements per item); 'through random "
       "mask pairs' attacks the base model under the defence's masks (adaptive)"}};
}

void PatchCertifyResult::write(const std::string& dir) const {
  write_json(dir + "/patch_certify.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.predictions.size(); ++i)
      csv.push_back({fmt::format("{:g}", row.area), std::to_string(i), std::to_string(labels[i]),
                     std::to_string(row.predictions[i]), row.certified[i] ? "1" : "0"});
  write_csv(dir + "/patch_certify.csv",
            {"area", "item", "label", "defended_prediction", "certified"}, csv);
  std::vector<double> areas, defended, certified, attacked;
  for (const auto& row : rows) {
    areas.push_back(100 * row.area);
    defended.push_back(row.defended_accuracy);
    certified.push_back(row.certified_accuracy);
    attacked.push_back(row.best_attack_accuracy);
  }
  std::vector<Series> series{{"defended, clean", areas, defended}, {"certified", areas, certified}};
  if (!rows.empty() && !rows.front().attacks.empty())
    series.push_back({"defended, best patch attack", areas, attacked});
  write_line_plot(dir + "/patch_certified.svg",
                  fmt::format("{}: PatchCleanser against a patch of each area", model),
                  "patch area (% of the image)", "accuracy", series);
}

}  // namespace foil
