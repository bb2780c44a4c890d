#include "foil/attacks/evaluate.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "foil/attacks/hopskipjump.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/dist/dist.h"
#include "foil/models/model.h"

namespace foil {

nlohmann::json Evaluation::to_json() const {
  nlohmann::json j = {{"n", n},
                      {"clean_accuracy", clean_accuracy},
                      {"robust_accuracy", robust_accuracy},
                      {"attack_success_rate", attack_success_rate},
                      {"excluded_already_target", excluded_already_target},
                      {"seconds", seconds},
                      {"gradient_evaluations", gradient_evaluations},
                      {"queries", queries},
                      {"perturbation",
                       {{"linf_max", broken > 0 ? nlohmann::json(linf_max) : nullptr},
                        {"l2_mean", broken > 0 ? nlohmann::json(l2_mean) : nullptr},
                        {"broken", broken},
                        {"over", "the broken items (confirmed by the final check)"}}},
                      {"final_check",
                       {{"in_loop_successes", in_loop_successes},
                        {"unconfirmed", unconfirmed},
                        {"meaning",
                         "an item is broken only if the model, run once more on the returned "
                         "example, is fooled; unconfirmed in-loop successes stay robust"}}}};
  // Per item, in data order: what per-class tables and confusion summaries are built from.
  auto ints = [](const torch::Tensor& t) {
    const auto c = t.to(torch::kCPU, torch::kLong).contiguous();
    return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  if (labels.defined() && clean_pred.defined() && adv_pred.defined())
    j["per_item"] = {
        {"label", ints(labels)}, {"clean_pred", ints(clean_pred)}, {"adv_pred", ints(adv_pred)}};
  if (!stage_names.empty()) {
    nlohmann::json stages = nlohmann::json::array(), by = nlohmann::json::array();
    for (size_t s = 0; s < stage_names.size(); ++s)
      stages.push_back({{"stage", stage_names[s]},
                        {"robust_accuracy", stage_robust_accuracy[s]},
                        {"unconfirmed", s < stage_unconfirmed.size() ? stage_unconfirmed[s] : 0}});
    const auto b = broken_by.contiguous();
    for (int64_t i = 0; i < b.numel(); ++i) {
      const int64_t s = b.data_ptr<int64_t>()[i];
      by.push_back(s == -2   ? nlohmann::json("clean")
                   : s == -1 ? nlohmann::json(nullptr)
                             : nlohmann::json(stage_names[s]));
    }
    j["stages"] = stages;
    j["broken_by"] = by;  // per item: the stage that broke it, "clean" or null (robust)
  }
  if (transfer) j["crafted_on"] = "a surrogate (transfer); this model only judged the examples";
  if (item_queries.defined()) {
    j["queries_per_item"] = {{"median", queries_median},
                             {"max", queries_max},
                             {"over", "items correct clean"},
                             {"per_item", ints(item_queries)}};
  }
  if (start.defined())
    j["starting_points"] = {
        {"from_image", started_from_image},
        {"from_noise", started_from_noise},
        {"at_input", started_at_input},
        {"none", without_start.size()},
        {"none_items", without_start},
        {"over", "items the attack could break (correct clean; targeted: label not the target)"},
        {"none_means", "no adversarial start found within the query budget: not attacked"}};
  if (!median_norm_at.empty()) {
    nlohmann::json curve = nlohmann::json::array();
    for (size_t i = 0; i < median_norm_at.size() && i < query_grid.size(); ++i)
      curve.push_back(
          {{"queries", query_grid[i]},
           {"median_norm", std::isfinite(median_norm_at[i]) ? nlohmann::json(median_norm_at[i])
                                                            : nlohmann::json(nullptr)}});
    j["norm_by_queries"] = {{"curve", curve},
                            {"over",
                             "items correct clean; null while fewer than half have an "
                             "adversarial"}};
  }
  if (min_norm.defined()) {
    j["minimal_norm"] = {{"found_rate", min_norm_found_rate},
                         {"found", min_norm_found},
                         // null when nothing was found
                         {"median", min_norm_found > 0 ? nlohmann::json(min_norm_median) : nullptr},
                         {"mean", min_norm_found > 0 ? nlohmann::json(min_norm_mean) : nullptr},
                         {"over", "items correct clean where an adversarial was found"}};
    // Per item (0: wrong already clean; null: none found): accuracy at any eps is the share
    // of items whose entry is null or larger than eps.
    nlohmann::json per_item = nlohmann::json::array();
    const auto m = min_norm.to(torch::kDouble).contiguous();
    for (int64_t i = 0; i < m.numel(); ++i) {
      const double v = m.data_ptr<double>()[i];
      per_item.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
    }
    j["minimal_norm"]["per_item"] = per_item;
  }
  return j;
}

std::vector<double> accuracy_at(const Evaluation& ev, const std::vector<double>& eps) {
  std::vector<double> out;
  const torch::Tensor correct = ev.clean_pred.eq(ev.labels);
  for (double e : eps)
    out.push_back((correct & ev.min_norm.gt(e)).sum().item<double>() / std::max<int64_t>(ev.n, 1));
  return out;
}

Evaluation evaluate_attack(Model& model, const Dataset& data, const Attack& attack,
                           const EvaluationOptions& o) {
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  check_input(o.batch() >= 1, "--batch", "an integer >= 1", std::to_string(o.batch()));
  // Targeted HopSkipJump starts from an image of the target class (as the authors' runs do):
  // without starting images of its own it takes the data it attacks as candidates.
  std::unique_ptr<Attack> with_starts;
  if (o.target().mode != TargetSpec::Mode::kNone && attack.name() == "hopskipjump" &&
      !attack.options().start_images().defined())
    with_starts = make_attack(
        attack.name(),
        AttackOptions(attack.options()).start_images(data.images).start_labels(data.labels));
  const Attack& used = with_starts ? *with_starts : attack;
  Evaluation ev;
  ev.n = data.size();
  const double start = now_seconds();
  // In a job of several processes each rank attacks a contiguous run of whole batches (the
  // same batches a single process makes, so every number is the same), then every per-item
  // result is gathered in data order and the totals are computed from them.
  const int64_t batches = (ev.n + o.batch() - 1) / o.batch();
  const auto [first_batch, end_batch] = dist::shard(batches);
  const int64_t lo = first_batch * o.batch(), hi = std::min(ev.n, end_batch * o.batch());
  std::vector<torch::Tensor> clean_pred, adv_pred, labels, targets, linf, l2, advs, broken_by,
      min_norm, ex_clean, ex_adv;
  ev.stage_names = attack.stage_names();
  ev.transfer = o.craft_on() != nullptr && o.craft_on() != &model;
  Model& source = ev.transfer ? *o.craft_on() : model;
  std::vector<torch::Tensor> item_queries, norm_at, starts;
  int64_t done_correct = 0, done_robust = 0;
  int64_t passes[2] = {0, 0};  // gradient evaluations, queries
  // In-loop successes, of those not confirmed by the final check; items APGD attacked, of
  // those where its loss rose.
  int64_t checks[4] = {0, 0, 0, 0};
  std::vector<int64_t> stage_unconfirmed;
  bool targeted = false;
  Progress progress(o.progress(), hi - lo);
  for (int64_t begin = lo; begin < hi; begin += o.batch()) {
    const int64_t end = std::min(hi, begin + o.batch());
    torch::Tensor x = data.images.slice(0, begin, end).to(model.device());
    torch::Tensor clean_logits;
    {
      torch::NoGradGuard no_grad;
      clean_logits = model.forward(x);
    }
    torch::Tensor y = data.labels.slice(0, begin, end).to(model.device());
    torch::Tensor pred = clean_logits.argmax(1);
    y = torch::where(y.lt(0), pred, y);
    Criterion crit = make_criterion(o.target(), y, clean_logits, o.seed(), begin);
    AttackResult r = used.run(source, x, crit, torch::arange(begin, end));
    if (r.item_queries.defined()) item_queries.push_back(r.item_queries.cpu());
    if (r.start.defined()) starts.push_back(r.start.cpu());
    if (r.norm_at_queries.defined()) {
      norm_at.push_back(r.norm_at_queries.cpu());
      ev.query_grid = r.query_grid;
    }
    passes[0] += r.gradient_evaluations;
    passes[1] += r.queries;
    targeted = crit.is_targeted();
    // The final check (the reference's run_standard_evaluation): an item counts as broken only
    // if the model, run once more on the returned example outside the attack, is fooled.
    torch::Tensor adv_logits;
    {
      torch::NoGradGuard no_grad;
      adv_logits = model.forward(r.adv);
    }
    const torch::Tensor confirmed = crit.is_adversarial(adv_logits);
    const torch::Tensor correct = pred.eq(y);
    // The items an attack can break: correct clean (targeted: not already of the target).
    const torch::Tensor eligible = crit.is_targeted() ? y.ne(crit.targets()) : correct;
    // Successes an ensemble's stages reported that its own final check undid count here too.
    if (stage_unconfirmed.empty()) stage_unconfirmed.assign(ev.stage_names.size(), 0);
    int64_t undone_in_stages = 0;
    for (size_t s = 0; s < r.stage_unconfirmed.size() && s < stage_unconfirmed.size(); ++s) {
      stage_unconfirmed[s] += r.stage_unconfirmed[s];
      undone_in_stages += r.stage_unconfirmed[s];
    }
    // (A transfer attack's own successes are on its surrogate: not this model's to confirm.)
    if (!ev.transfer) {
      checks[0] += (r.success & eligible).sum().item<int64_t>() + undone_in_stages;
      checks[1] +=
          (r.success & eligible & confirmed.logical_not()).sum().item<int64_t>() + undone_in_stages;
    }
    r.pred = adv_logits.argmax(1);
    if (r.loss_rose.defined()) {
      checks[2] += eligible.sum().item<int64_t>();
      checks[3] += (r.loss_rose & eligible).sum().item<int64_t>();
    }
    // Perturbation sizes over the broken items only (NaN marks the others).
    const torch::Tensor broken = confirmed & eligible;
    const torch::Tensor delta = (r.adv - x).flatten(1).to(torch::kDouble);
    const torch::Tensor none = torch::full({x.size(0)}, NAN, delta.options());
    linf.push_back(torch::where(broken, delta.abs().amax(1), none).cpu());
    l2.push_back(torch::where(broken, delta.norm(2, 1), none).cpu());
    if (r.stage.defined())
      broken_by.push_back(
          torch::where(correct, torch::where(confirmed, r.stage, torch::full_like(r.stage, -1)),
                       torch::full_like(r.stage, -2))
              .cpu());
    if (r.min_norm.defined())
      min_norm.push_back(torch::where(correct, r.min_norm, torch::zeros_like(r.min_norm)).cpu());
    clean_pred.push_back(pred.cpu());
    adv_pred.push_back(r.pred.cpu());
    labels.push_back(y.cpu());
    targets.push_back((targeted ? crit.targets() : y).cpu());
    if (o.keep_adv()) advs.push_back(r.adv.cpu());
    if (begin < o.keep_examples()) {
      const int64_t k = std::min(o.keep_examples() - begin, end - begin);
      ex_clean.push_back(x.slice(0, 0, k).cpu());
      ex_adv.push_back(r.adv.slice(0, 0, k).cpu());
    }
    done_correct += correct.sum().item<int64_t>();
    done_robust += (correct & r.pred.eq(y)).sum().item<int64_t>();
    progress.update(end - lo, fmt::format("robust {:.1f}%", 100.0 * done_robust / (end - lo)));
  }
  progress.finish();
  // This rank's items in data order, then every rank's (an empty share keeps the shapes).
  const auto item = data.images.sizes().slice(1);
  auto rows = [&](std::vector<torch::Tensor>& parts, torch::Tensor empty) {
    return dist::all_gather_rows(parts.empty() ? empty : torch::cat(parts));
  };
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  const auto pix = data.images.options().device(torch::kCPU);
  ev.clean_pred = rows(clean_pred, torch::empty({0}, i64));
  ev.adv_pred = rows(adv_pred, torch::empty({0}, i64));
  ev.labels = rows(labels, torch::empty({0}, i64));
  const torch::Tensor target = rows(targets, torch::empty({0}, i64));
  const torch::Tensor sizes_linf = rows(linf, torch::empty({0}, f64));
  const torch::Tensor sizes_l2 = rows(l2, torch::empty({0}, f64));
  const torch::Tensor counts =
      dist::all_gather_rows(torch::tensor({passes[0], passes[1], int64_t{targeted}, checks[0],
                                           checks[1], checks[2], checks[3]})
                                .view({1, 7}));
  ev.gradient_evaluations = counts.select(1, 0).sum().item<int64_t>();
  ev.queries = counts.select(1, 1).sum().item<int64_t>();
  ev.in_loop_successes = counts.select(1, 3).sum().item<int64_t>();
  ev.unconfirmed = counts.select(1, 4).sum().item<int64_t>();
  ev.loss_rose_n = counts.select(1, 5).sum().item<int64_t>();
  ev.loss_rose = counts.select(1, 6).sum().item<int64_t>();
  if (!ev.stage_names.empty()) {
    stage_unconfirmed.resize(ev.stage_names.size(), 0);
    const torch::Tensor per_stage =
        dist::all_gather_rows(torch::tensor(stage_unconfirmed).view({1, -1})).sum(0);
    for (int64_t s = 0; s < per_stage.numel(); ++s)
      ev.stage_unconfirmed.push_back(per_stage[s].item<int64_t>());
  }
  targeted = counts.select(1, 2).amax().item<int64_t>() > 0;
  if (o.keep_adv()) {
    std::vector<int64_t> shape{0};
    shape.insert(shape.end(), item.begin(), item.end());
    ev.adv = rows(advs, torch::empty(shape, pix));
  }
  if (o.keep_examples() > 0) {
    std::vector<int64_t> shape{0};
    shape.insert(shape.end(), item.begin(), item.end());
    ev.example_clean = rows(ex_clean, torch::empty(shape, pix));
    ev.example_adv = rows(ex_adv, torch::empty(shape, pix));
    if (ev.example_clean.size(0) == 0) ev.example_clean = ev.example_adv = torch::Tensor();
  }
  const bool has_stage =
      dist::all_gather_rows(torch::tensor({int64_t{!broken_by.empty()}})).amax().item<int64_t>() >
      0;
  const bool has_min_norm =
      dist::all_gather_rows(torch::tensor({int64_t{!min_norm.empty()}})).amax().item<int64_t>() > 0;
  if (has_stage) ev.broken_by = rows(broken_by, torch::empty({0}, i64));
  const auto any_rank = [](bool mine) {
    return dist::all_gather_rows(torch::tensor({int64_t{mine}})).amax().item<int64_t>() > 0;
  };
  if (any_rank(!item_queries.empty())) ev.item_queries = rows(item_queries, torch::empty({0}, i64));
  if (any_rank(!norm_at.empty())) {
    const auto g = static_cast<int64_t>(
        dist::all_gather_rows(torch::tensor({static_cast<int64_t>(ev.query_grid.size())}))
            .amax()
            .item<int64_t>());
    const torch::Tensor all_norm = rows(norm_at, torch::empty({0, g}, data.images.options()));
    if (ev.query_grid.empty()) ev.query_grid = HopSkipJump::query_grid(attack.options().queries());
    const torch::Tensor ok = ev.clean_pred.eq(ev.labels).nonzero().flatten();
    for (int64_t j = 0; j < g; ++j) {
      const torch::Tensor v = all_norm.select(1, j).index_select(0, ok);
      ev.median_norm_at.push_back(
          v.numel() > 0 ? std::get<0>(v.sort()).select(0, (v.numel() - 1) / 2).item<double>()
                        : INFINITY);
    }
  }
  if (has_min_norm) ev.min_norm = rows(min_norm, torch::empty({0}, data.images.options()));
  if (any_rank(!starts.empty())) ev.start = rows(starts, torch::empty({0}, i64));

  // Totals over every item.
  ev.seconds = now_seconds() - start;
  const torch::Tensor correct = ev.clean_pred.eq(ev.labels);
  const int64_t clean_correct = correct.sum().item<int64_t>();
  // Robust: right on the clean image and still right under attack.
  ev.clean_accuracy = static_cast<double>(clean_correct) / ev.n;
  ev.robust_accuracy =
      static_cast<double>((correct & ev.adv_pred.eq(ev.labels)).sum().item<int64_t>()) / ev.n;
  int64_t success = 0, success_base = 0;
  if (targeted) {
    // Items whose label already is the target would be free successes: left out.
    const torch::Tensor eligible = ev.labels.ne(target);
    success = (eligible & ev.adv_pred.eq(target)).sum().item<int64_t>();
    success_base = eligible.sum().item<int64_t>();
    ev.excluded_already_target = ev.n - success_base;
  } else {
    success = (correct & ev.adv_pred.ne(ev.labels)).sum().item<int64_t>();
    success_base = clean_correct;
  }
  ev.attack_success_rate = success_base > 0 ? static_cast<double>(success) / success_base : 0.0;
  const torch::Tensor broken_linf = sizes_linf.masked_select(sizes_linf.isnan().logical_not());
  const torch::Tensor broken_l2 = sizes_l2.masked_select(sizes_l2.isnan().logical_not());
  ev.broken = broken_linf.numel();
  ev.linf_max = ev.broken > 0 ? broken_linf.max().item<double>() : 0.0;
  ev.l2_mean = ev.broken > 0 ? broken_l2.mean().item<double>() : 0.0;
  if (ev.broken_by.defined()) {
    int64_t robust = clean_correct;
    for (size_t s = 0; s < ev.stage_names.size(); ++s) {
      robust -= ev.broken_by.eq(static_cast<int64_t>(s)).sum().item<int64_t>();
      ev.stage_robust_accuracy.push_back(static_cast<double>(robust) / ev.n);
    }
  }
  if (ev.start.defined()) {
    const torch::Tensor can = targeted ? ev.labels.ne(target) : correct;
    ev.started_from_image = (can & ev.start.eq(2)).sum().item<int64_t>();
    ev.started_from_noise = (can & ev.start.eq(1)).sum().item<int64_t>();
    ev.started_at_input = (can & ev.start.eq(0)).sum().item<int64_t>();
    const torch::Tensor none = (can & ev.start.lt(0)).nonzero().flatten().contiguous();
    ev.without_start.assign(none.data_ptr<int64_t>(), none.data_ptr<int64_t>() + none.numel());
  }
  if (ev.item_queries.defined()) {
    const torch::Tensor q = ev.item_queries.masked_select(correct);
    if (q.numel() > 0) {
      ev.queries_median = std::get<0>(q.sort()).select(0, (q.numel() - 1) / 2).item<double>();
      ev.queries_max = q.max().item<int64_t>();
    }
  }
  if (ev.min_norm.defined()) {
    const torch::Tensor sizes = ev.min_norm.masked_select(correct & ev.min_norm.isfinite());
    ev.min_norm_found = sizes.numel();
    ev.min_norm_found_rate =
        clean_correct > 0 ? static_cast<double>(sizes.numel()) / clean_correct : 0.0;
    if (sizes.numel() > 0) {
      // The lower median for an even count: a size that was actually found.
      ev.min_norm_median =
          std::get<0>(sizes.sort()).select(0, (sizes.numel() - 1) / 2).item<double>();
      ev.min_norm_mean = sizes.mean().item<double>();
    }
  }
  return ev;
}

double evaluate_clean(Model& model, const Dataset& data, int64_t batch) {
  // Local to this process: training (its one caller) is not shared out, and the default model
  // is trained by one process while the others wait for it.
  torch::NoGradGuard no_grad;
  int64_t correct = 0;
  for (int64_t b = 0; b < data.size(); b += batch) {
    const int64_t e = std::min(data.size(), b + batch);
    auto pred = model.forward(data.images.slice(0, b, e)).argmax(1).cpu();
    correct += pred.eq(data.labels.slice(0, b, e)).sum().item<int64_t>();
  }
  return data.size() > 0 ? static_cast<double>(correct) / data.size() : 0.0;
}

}  // namespace foil
