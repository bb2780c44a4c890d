#include "foil/attacks/evaluate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "foil/attacks/hopskipjump.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/distributed/dist.h"
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

namespace {

// What this rank's batches leave behind (per-item parts in data order, and counters), before
// every rank's share is gathered.
struct RankParts {
  std::vector<torch::Tensor> clean_pred, adv_pred, labels, targets, linf, l2, advs, broken_by,
      min_norm, ex_clean, ex_adv;
  std::vector<torch::Tensor> item_queries, norm_at, starts;
  int64_t done_correct = 0, done_robust = 0;
  int64_t passes[2] = {0, 0};  // gradient evaluations, queries
  // In-loop successes, of those not confirmed by the final check; items APGD attacked, of
  // those where its loss rose.
  int64_t checks[4] = {0, 0, 0, 0};
  std::vector<int64_t> stage_unconfirmed;
  bool targeted = false;
};

// The per-item results of every rank that the totals are computed from.
struct Gathered {
  torch::Tensor target, sizes_linf, sizes_l2;
  bool targeted = false;
};

// Targeted HopSkipJump starts from an image of the target class (as the authors' runs do):
// without starting images of its own it takes the data it attacks as candidates. Null when
// the attack is used as it is.
std::unique_ptr<Attack> with_starting_images(const Dataset& data, const Attack& attack,
                                             const EvaluationOptions& o) {
  if (o.target().mode != TargetSpec::Mode::kNone && attack.name() == "hopskipjump" &&
      !attack.options().start_images().defined())
    return make_attack(
        attack.name(),
        AttackOptions(attack.options()).start_images(data.images).start_labels(data.labels));
  return nullptr;
}

// The model's logits on `x`, without gradients.
torch::Tensor logits_of(Model& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  return model.forward(x);
}

// Counts the attack's in-loop successes on the eligible items and how many of them the final
// check (`confirmed`) undid, an ensemble's stages included.
void count_final_check(const AttackResult& r, const torch::Tensor& eligible,
                       const torch::Tensor& confirmed, const Evaluation& ev, RankParts& p) {
  // Successes an ensemble's stages reported that its own final check undid count here too.
  if (p.stage_unconfirmed.empty()) p.stage_unconfirmed.assign(ev.stage_names.size(), 0);
  int64_t undone_in_stages = 0;
  for (size_t s = 0; s < r.stage_unconfirmed.size() && s < p.stage_unconfirmed.size(); ++s) {
    p.stage_unconfirmed[s] += r.stage_unconfirmed[s];
    undone_in_stages += r.stage_unconfirmed[s];
  }
  // (A transfer attack's own successes are on its surrogate: not this model's to confirm.)
  if (!ev.transfer) {
    p.checks[0] += (r.success & eligible).sum().item<int64_t>() + undone_in_stages;
    p.checks[1] +=
        (r.success & eligible & confirmed.logical_not()).sum().item<int64_t>() + undone_in_stages;
  }
}

// Runs the attack on items [begin, end) and keeps, per item, what the final check (the
// reference's run_standard_evaluation) makes of its result.
void attack_batch(Model& model, Model& source, const Attack& used, const Dataset& data,
                  const EvaluationOptions& o, int64_t begin, int64_t end, Evaluation& ev,
                  RankParts& p) {
  torch::Tensor x = data.images.slice(0, begin, end).to(model.device());
  const torch::Tensor clean_logits = logits_of(model, x);
  torch::Tensor y = data.labels.slice(0, begin, end).to(model.device());
  torch::Tensor pred = clean_logits.argmax(1);
  y = torch::where(y.lt(0), pred, y);
  Criterion crit = make_criterion(o.target(), y, clean_logits, o.seed(), begin);
  AttackResult r = used.run(source, x, crit, torch::arange(begin, end));
  if (r.item_queries.defined()) p.item_queries.push_back(r.item_queries.cpu());
  if (r.start.defined()) p.starts.push_back(r.start.cpu());
  if (r.norm_at_queries.defined()) {
    p.norm_at.push_back(r.norm_at_queries.cpu());
    ev.query_grid = r.query_grid;
  }
  p.passes[0] += r.gradient_evaluations;
  p.passes[1] += r.queries;
  p.targeted = crit.is_targeted();
  // The final check: an item counts as broken only if the model, run once more on the
  // returned example outside the attack, is fooled.
  const torch::Tensor adv_logits = logits_of(model, r.adv);
  const torch::Tensor confirmed = crit.is_adversarial(adv_logits);
  const torch::Tensor correct = pred.eq(y);
  // The items an attack can break: correct clean (targeted: not already of the target).
  const torch::Tensor eligible = crit.is_targeted() ? y.ne(crit.targets()) : correct;
  count_final_check(r, eligible, confirmed, ev, p);
  r.pred = adv_logits.argmax(1);
  if (r.loss_rose.defined()) {
    p.checks[2] += eligible.sum().item<int64_t>();
    p.checks[3] += (r.loss_rose & eligible).sum().item<int64_t>();
  }
  // Perturbation sizes over the broken items only (NaN marks the others).
  const torch::Tensor broken = confirmed & eligible;
  const torch::Tensor delta = (r.adv - x).flatten(1).to(torch::kDouble);
  const torch::Tensor none = torch::full({x.size(0)}, NAN, delta.options());
  p.linf.push_back(torch::where(broken, delta.abs().amax(1), none).cpu());
  p.l2.push_back(torch::where(broken, delta.norm(2, 1), none).cpu());
  if (r.stage.defined())
    p.broken_by.push_back(
        torch::where(correct, torch::where(confirmed, r.stage, torch::full_like(r.stage, -1)),
                     torch::full_like(r.stage, -2))
            .cpu());
  if (r.min_norm.defined())
    p.min_norm.push_back(torch::where(correct, r.min_norm, torch::zeros_like(r.min_norm)).cpu());
  p.clean_pred.push_back(pred.cpu());
  p.adv_pred.push_back(r.pred.cpu());
  p.labels.push_back(y.cpu());
  p.targets.push_back((p.targeted ? crit.targets() : y).cpu());
  if (o.keep_adv()) p.advs.push_back(r.adv.cpu());
  if (begin < o.keep_examples()) {
    const int64_t k = std::min(o.keep_examples() - begin, end - begin);
    p.ex_clean.push_back(x.slice(0, 0, k).cpu());
    p.ex_adv.push_back(r.adv.slice(0, 0, k).cpu());
  }
  p.done_correct += correct.sum().item<int64_t>();
  p.done_robust += (correct & r.pred.eq(y)).sum().item<int64_t>();
}

// Every rank's rows of `parts`, in data order (an empty share keeps the shapes).
torch::Tensor gather_rows(const std::vector<torch::Tensor>& parts, const torch::Tensor& empty) {
  return dist::all_gather_rows(parts.empty() ? empty : torch::cat(parts));
}

// Whether any rank says yes.
bool any_rank(bool mine) {
  return dist::all_gather_rows(torch::tensor({int64_t{mine}})).amax().item<int64_t>() > 0;
}

// An empty batch of items shaped like `data`'s, on the CPU.
torch::Tensor no_items(const Dataset& data) {
  const auto item = data.images.sizes().slice(1);
  std::vector<int64_t> shape{0};
  shape.insert(shape.end(), item.begin(), item.end());
  return torch::empty(shape, data.images.options().device(torch::kCPU));
}

// Gathers every rank's predictions, labels, targets and perturbation sizes.
Gathered gather_predictions(RankParts& p, Evaluation& ev) {
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  const auto f64 = torch::TensorOptions().dtype(torch::kDouble);
  ev.clean_pred = gather_rows(p.clean_pred, torch::empty({0}, i64));
  ev.adv_pred = gather_rows(p.adv_pred, torch::empty({0}, i64));
  ev.labels = gather_rows(p.labels, torch::empty({0}, i64));
  Gathered g;
  g.target = gather_rows(p.targets, torch::empty({0}, i64));
  g.sizes_linf = gather_rows(p.linf, torch::empty({0}, f64));
  g.sizes_l2 = gather_rows(p.l2, torch::empty({0}, f64));
  return g;
}

// Sums every rank's counters (passes, final-check counts, per-stage undone successes).
void gather_counts(RankParts& p, Evaluation& ev, Gathered& g) {
  const torch::Tensor counts =
      dist::all_gather_rows(torch::tensor({p.passes[0], p.passes[1], int64_t{p.targeted},
                                           p.checks[0], p.checks[1], p.checks[2], p.checks[3]})
                                .view({1, 7}));
  ev.gradient_evaluations = counts.select(1, 0).sum().item<int64_t>();
  ev.queries = counts.select(1, 1).sum().item<int64_t>();
  ev.in_loop_successes = counts.select(1, 3).sum().item<int64_t>();
  ev.unconfirmed = counts.select(1, 4).sum().item<int64_t>();
  ev.loss_rose_n = counts.select(1, 5).sum().item<int64_t>();
  ev.loss_rose = counts.select(1, 6).sum().item<int64_t>();
  if (!ev.stage_names.empty()) {
    p.stage_unconfirmed.resize(ev.stage_names.size(), 0);
    const torch::Tensor per_stage =
        dist::all_gather_rows(torch::tensor(p.stage_unconfirmed).view({1, -1})).sum(0);
    for (int64_t s = 0; s < per_stage.numel(); ++s)
      ev.stage_unconfirmed.push_back(per_stage[s].item<int64_t>());
  }
  g.targeted = counts.select(1, 2).amax().item<int64_t>() > 0;
}

// HopSkipJump: per query count, the lower median over the items correct clean of the smallest
// perturbation found within it, from every rank's per-item curves.
void gather_norm_curve(const Dataset& data, const Attack& attack, RankParts& p, Evaluation& ev) {
  const auto g = static_cast<int64_t>(
      dist::all_gather_rows(torch::tensor({static_cast<int64_t>(ev.query_grid.size())}))
          .amax()
          .item<int64_t>());
  const torch::Tensor all_norm =
      gather_rows(p.norm_at, torch::empty({0, g}, data.images.options()));
  if (ev.query_grid.empty()) ev.query_grid = HopSkipJump::query_grid(attack.options().queries());
  const torch::Tensor ok = ev.clean_pred.eq(ev.labels).nonzero().flatten();
  for (int64_t j = 0; j < g; ++j) {
    const torch::Tensor v = all_norm.select(1, j).index_select(0, ok);
    ev.median_norm_at.push_back(
        v.numel() > 0 ? std::get<0>(v.sort()).select(0, (v.numel() - 1) / 2).item<double>()
                      : INFINITY);
  }
}

// Gathers what only some runs keep: the examples, and what only some attacks report.
void gather_optional(const Dataset& data, const Attack& attack, const EvaluationOptions& o,
                     RankParts& p, Evaluation& ev) {
  const auto i64 = torch::TensorOptions().dtype(torch::kLong);
  if (o.keep_adv()) ev.adv = gather_rows(p.advs, no_items(data));
  if (o.keep_examples() > 0) {
    ev.example_clean = gather_rows(p.ex_clean, no_items(data));
    ev.example_adv = gather_rows(p.ex_adv, no_items(data));
    if (ev.example_clean.size(0) == 0) ev.example_clean = ev.example_adv = torch::Tensor();
  }
  const bool has_stage = any_rank(!p.broken_by.empty());
  const bool has_min_norm = any_rank(!p.min_norm.empty());
  if (has_stage) ev.broken_by = gather_rows(p.broken_by, torch::empty({0}, i64));
  if (any_rank(!p.item_queries.empty()))
    ev.item_queries = gather_rows(p.item_queries, torch::empty({0}, i64));
  if (any_rank(!p.norm_at.empty())) gather_norm_curve(data, attack, p, ev);
  if (has_min_norm) ev.min_norm = gather_rows(p.min_norm, torch::empty({0}, data.images.options()));
  if (any_rank(!p.starts.empty())) ev.start = gather_rows(p.starts, torch::empty({0}, i64));
}

// Accuracy, success rate and perturbation sizes over every item (`correct`: correct clean).
void accuracy_totals(const Gathered& g, const torch::Tensor& correct, int64_t clean_correct,
                     Evaluation& ev) {
  // Robust: right on the clean image and still right under attack.
  ev.clean_accuracy = static_cast<double>(clean_correct) / ev.n;
  ev.robust_accuracy =
      static_cast<double>((correct & ev.adv_pred.eq(ev.labels)).sum().item<int64_t>()) / ev.n;
  int64_t success = 0, success_base = 0;
  if (g.targeted) {
    // Items whose label already is the target would be free successes: left out.
    const torch::Tensor eligible = ev.labels.ne(g.target);
    success = (eligible & ev.adv_pred.eq(g.target)).sum().item<int64_t>();
    success_base = eligible.sum().item<int64_t>();
    ev.excluded_already_target = ev.n - success_base;
  } else {
    success = (correct & ev.adv_pred.ne(ev.labels)).sum().item<int64_t>();
    success_base = clean_correct;
  }
  ev.attack_success_rate = success_base > 0 ? static_cast<double>(success) / success_base : 0.0;
  const torch::Tensor broken_linf = g.sizes_linf.masked_select(g.sizes_linf.isnan().logical_not());
  const torch::Tensor broken_l2 = g.sizes_l2.masked_select(g.sizes_l2.isnan().logical_not());
  ev.broken = broken_linf.numel();
  ev.linf_max = ev.broken > 0 ? broken_linf.max().item<double>() : 0.0;
  ev.l2_mean = ev.broken > 0 ? broken_l2.mean().item<double>() : 0.0;
}

// The totals only some attacks have: per stage, starting points, queries, minimal norms.
void attack_statistics(const Gathered& g, const torch::Tensor& correct, int64_t clean_correct,
                       Evaluation& ev) {
  if (ev.broken_by.defined()) {
    int64_t robust = clean_correct;
    for (size_t s = 0; s < ev.stage_names.size(); ++s) {
      robust -= ev.broken_by.eq(static_cast<int64_t>(s)).sum().item<int64_t>();
      ev.stage_robust_accuracy.push_back(static_cast<double>(robust) / ev.n);
    }
  }
  if (ev.start.defined()) {
    const torch::Tensor can = g.targeted ? ev.labels.ne(g.target) : correct;
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
}

}  // namespace

Evaluation evaluate_attack(Model& model, const Dataset& data, const Attack& attack,
                           const EvaluationOptions& o) {
  check_input(data.size() > 0, "--data " + data.source, "at least one item", "an empty dataset");
  check_input(o.batch() >= 1, "--batch", "an integer >= 1", std::to_string(o.batch()));
  const std::unique_ptr<Attack> with_starts = with_starting_images(data, attack, o);
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
  ev.stage_names = attack.stage_names();
  ev.transfer = o.craft_on() != nullptr && o.craft_on() != &model;
  Model& source = ev.transfer ? *o.craft_on() : model;
  RankParts parts;
  Progress progress(o.progress(), hi - lo);
  for (int64_t begin = lo; begin < hi; begin += o.batch()) {
    const int64_t end = std::min(hi, begin + o.batch());
    attack_batch(model, source, used, data, o, begin, end, ev, parts);
    progress.update(end - lo,
                    fmt::format("robust {:.1f}%", 100.0 * parts.done_robust / (end - lo)));
  }
  progress.finish();
  // This rank's items in data order, then every rank's.
  Gathered gathered = gather_predictions(parts, ev);
  gather_counts(parts, ev, gathered);
  gather_optional(data, attack, o, parts, ev);
  // Totals over every item.
  ev.seconds = now_seconds() - start;
  const torch::Tensor correct = ev.clean_pred.eq(ev.labels);
  const int64_t clean_correct = correct.sum().item<int64_t>();
  accuracy_totals(gathered, correct, clean_correct, ev);
  attack_statistics(gathered, correct, clean_correct, ev);
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
