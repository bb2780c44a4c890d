#include "foil/attacks/hopskipjump.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <tuple>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/model.h"

namespace foil {

std::vector<int64_t> HopSkipJump::query_grid(int64_t budget) {
  std::vector<int64_t> grid;
  for (int64_t p = 1; p < budget; p *= 10)
    for (int64_t m : {1, 2, 5})
      if (p * m < budget) grid.push_back(p * m);
  grid.push_back(budget);
  return grid;
}

std::string HopSkipJump::describe() const {
  const auto& o = options_;
  return fmt::format(
      "hopskipjump(norm={}, eps={:g}, max_queries={}, iterations={}, init_evals={}, max_evals={}, "
      "gamma=1, starting_images={}, seed={})",
      o.norm(), o.eps(), o.queries(), o.steps(), o.hsj_init_evals(), o.hsj_max_evals(),
      o.start_images().defined() ? o.start_images().size(0) : 0, o.seed());
}

void HopSkipJump::perturb(Model& model, const torch::Tensor& x, const Criterion& crit,
                          const torch::Tensor& ids, AttackResult& r) const {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0);
  const auto shape = x.sizes().slice(1);
  const bool l2 = options_.norm() == "l2";
  const auto d = static_cast<double>(x[0].numel());
  const double theta = l2 ? 1.0 / (d * std::sqrt(d)) : 1.0 / (d * d);
  const int64_t budget = options_.queries();
  const auto lopts = x.options().dtype(torch::kLong);
  SampleRandom rng(options_.seed(), ids);
  r.item_queries = torch::zeros({n}, lopts);
  r.query_grid = query_grid(budget);
  const torch::Tensor grid = torch::tensor(r.query_grid, lopts);
  r.norm_at_queries = torch::full({n, grid.numel()}, INFINITY, x.options());
  torch::Tensor best = x.clone(), best_dist = torch::full({n}, INFINITY, x.options());

  auto left = [&](const torch::Tensor& rows) {
    return r.item_queries.index_select(0, rows).lt(budget);
  };
  auto distance = [&](const torch::Tensor& a, const torch::Tensor& b) {
    const torch::Tensor diff = (a - b).flatten(1);
    return l2 ? diff.norm(2, 1) : diff.abs().amax(1);
  };
  // One query per point; rows[i] is the sample point i belongs to.
  auto decide = [&](const torch::Tensor& points, const torch::Tensor& rows) {
    torch::Tensor out = torch::empty({rows.numel()}, lopts.dtype(torch::kBool));
    for (int64_t lo = 0; lo < rows.numel(); lo += 4096) {
      const int64_t hi = std::min(rows.numel(), lo + 4096);
      const torch::Tensor part = rows.slice(0, lo, hi);
      const torch::Tensor logits = model.forward(points.slice(0, lo, hi).clamp(0, 1));
      check_logits(logits, name(), 2);
      count_queries(r, part, n);
      out.slice(0, lo, hi).copy_(crit.select(part).is_adversarial(logits));
    }
    return out;
  };
  // `points` (adversarial, one per entry of rows) become the best where smaller; the trace
  // takes the best at every grid count the sample has not passed yet.
  auto note = [&](const torch::Tensor& rows, const torch::Tensor& points) {
    const torch::Tensor dist = distance(points, x.index_select(0, rows));
    const torch::Tensor better = dist.lt(best_dist.index_select(0, rows));
    const torch::Tensor at = better.nonzero().flatten();
    best.index_copy_(0, rows.index_select(0, at), points.index_select(0, at));
    best_dist.index_copy_(0, rows.index_select(0, at), dist.index_select(0, at));
    const torch::Tensor used = r.item_queries.index_select(0, rows).view({-1, 1});
    const torch::Tensor cur = r.norm_at_queries.index_select(0, rows);
    const torch::Tensor b = best_dist.index_select(0, rows).view({-1, 1});
    r.norm_at_queries.index_copy_(
        0, rows, torch::where(grid.view({1, -1}).ge(used), torch::minimum(cur, b), cur));
  };
  auto view = [](const torch::Tensor& t) { return t.view({-1, 1, 1, 1}); };
  // The point at `a` between x and p: the blend (L2) or p clipped to the Linf ball of radius a.
  auto project = [&](const torch::Tensor& x0, const torch::Tensor& p, const torch::Tensor& a) {
    return l2 ? (1 - view(a)) * x0 + view(a) * p
              : torch::min(torch::max(p, x0 - view(a)), x0 + view(a));
  };
  // Binary search towards the boundary; returns the adversarial end and the distance before.
  auto boundary = [&](const torch::Tensor& rows, const torch::Tensor& p) {
    const torch::Tensor x0 = x.index_select(0, rows);
    const torch::Tensor before = distance(p, x0);
    torch::Tensor high = l2 ? torch::ones_like(before) : before.clone();
    torch::Tensor low = torch::zeros_like(before);
    const torch::Tensor thr =
        l2 ? torch::full_like(before, theta) : torch::clamp_max(before * theta, theta);
    for (;;) {
      const torch::Tensor sel = ((high - low) / thr).gt(1) & left(rows);
      if (!sel.any().item<bool>()) break;
      const torch::Tensor i = sel.nonzero().flatten();
      const torch::Tensor mid = (high.index_select(0, i) + low.index_select(0, i)) / 2;
      const torch::Tensor dec = decide(project(x0.index_select(0, i), p.index_select(0, i), mid),
                                       rows.index_select(0, i));
      high.index_copy_(0, i, torch::where(dec, mid, high.index_select(0, i)));
      low.index_copy_(0, i, torch::where(dec, low.index_select(0, i), mid));
    }
    return std::make_pair(project(x0, p, high), before);
  };

  // The clean input: samples that already meet the criterion need nothing.
  const torch::Tensor all = torch::arange(n, lopts);
  const torch::Tensor clean = decide(x, all);
  note(clean.nonzero().flatten(), x.index_select(0, clean.nonzero().flatten()));
  r.start = torch::where(clean, torch::zeros({n}, lopts), torch::full({n}, -1, lopts));

  // Initialisation: a starting image or uniform noise that meets the criterion, one query
  // per candidate; `origin` keeps it for the blend towards the input.
  torch::Tensor origin = torch::zeros_like(x), have = torch::zeros({n}, lopts.dtype(torch::kBool));
  constexpr int64_t kTries = 100;
  auto accept = [&](const torch::Tensor& i, const torch::Tensor& cand, int64_t kind) {
    const torch::Tensor hit = decide(cand, i).nonzero().flatten();
    origin.index_copy_(0, i.index_select(0, hit), cand.index_select(0, hit));
    have.index_fill_(0, i.index_select(0, hit), true);
    r.start.index_fill_(0, i.index_select(0, hit), kind);
  };
  auto searching = [&] { return clean.logical_not() & have.logical_not() & left(all); };
  if (options_.start_images().defined()) {
    // The candidates (labelled as wanted or unknown) in an order from each sample's stream.
    const torch::Tensor& pool = options_.start_images();
    check_input(pool.sizes().slice(1) == shape, "--starting-images",
                fmt::format("images of the data's size {}", fmt::join(shape, "x")),
                fmt::format("{}", fmt::join(pool.sizes().slice(1), "x")));
    const int64_t m = pool.size(0);
    const torch::Tensor lab =
        (options_.start_labels().defined() ? options_.start_labels().to(torch::kCPU, torch::kLong)
                                           : torch::full({m}, -1, torch::kLong))
            .view({1, m});
    const torch::Tensor want = crit.loss_classes().cpu().view({n, 1});
    const torch::Tensor match = lab.lt(0) | (crit.is_targeted() ? lab.eq(want) : lab.ne(want));
    const torch::Tensor keys =
        torch::where(match, rng.uniform(all.cpu(), {m}, torch::kCPU), torch::full({1}, 2.0));
    const torch::Tensor order =
        keys.argsort(/*dim=*/int64_t{1}, /*descending=*/false).slice(1, 0, std::min(m, kTries));
    const torch::Tensor count = match.sum(1).to(x.device());
    for (int64_t j = 0; j < order.size(1); ++j) {
      const torch::Tensor i = (searching() & count.gt(j)).nonzero().flatten();
      if (i.numel() == 0) break;
      const torch::Tensor pick = order.select(1, j).index_select(0, i.cpu());
      accept(i, pool.index_select(0, pick.to(pool.device())).to(x.device(), x.dtype()), 2);
    }
  }
  for (int64_t attempt = 0; attempt < kTries; ++attempt) {
    const torch::Tensor i = searching().nonzero().flatten();
    if (i.numel() == 0) break;
    accept(i, rng.uniform(i.cpu(), shape, x.device()), 1);
  }
  torch::Tensor rows = have.nonzero().flatten();
  {
    torch::Tensor high = torch::ones({rows.numel()}, x.options()), low = torch::zeros_like(high);
    const torch::Tensor x0 = x.index_select(0, rows), z = origin.index_select(0, rows);
    for (;;) {
      const torch::Tensor sel = (high - low).gt(0.001) & left(rows);
      if (!sel.any().item<bool>()) break;
      const torch::Tensor i = sel.nonzero().flatten();
      const torch::Tensor mid = (high.index_select(0, i) + low.index_select(0, i)) / 2;
      const torch::Tensor blend =
          (1 - view(mid)) * x0.index_select(0, i) + view(mid) * z.index_select(0, i);
      const torch::Tensor dec = decide(blend, rows.index_select(0, i));
      high.index_copy_(0, i, torch::where(dec, mid, high.index_select(0, i)));
      low.index_copy_(0, i, torch::where(dec, low.index_select(0, i), mid));
    }
    const torch::Tensor init = (1 - view(high)) * x0 + view(high) * z;
    note(rows, init);
  }
  torch::Tensor pert, dist_post;
  std::tie(pert, dist_post) = boundary(rows, best.index_select(0, rows));
  note(rows, pert);

  Progress progress("  hopskipjump", budget, /*transient=*/true);
  for (int64_t t = 1; t <= options_.steps(); ++t) {
    const torch::Tensor keep = left(rows).nonzero().flatten();
    keep_rows(keep, {&rows, &pert, &dist_post});
    if (rows.numel() == 0) break;
    progress.update(r.item_queries.index_select(0, rows).min().item<int64_t>(),
                    fmt::format("{} samples, iteration {}", rows.numel(), t));
    const int64_t k = rows.numel();
    const torch::Tensor x0 = x.index_select(0, rows);
    const torch::Tensor delta = t == 1 ? torch::full_like(dist_post, 0.1)
                                       : (l2 ? std::sqrt(d) * theta : d * theta) * dist_post;
    const int64_t evals =
        std::min<int64_t>(static_cast<int64_t>(static_cast<double>(options_.hsj_init_evals()) *
                                               std::sqrt(static_cast<double>(t))),
                          options_.hsj_max_evals());
    // The gradient direction at each boundary point, from the decisions around it.
    const torch::Tensor room = (budget - r.item_queries.index_select(0, rows)).cpu();
    torch::Tensor grad = torch::zeros_like(pert);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t m = std::min(evals, room[j].item<int64_t>());
      const torch::Tensor row = rows.slice(0, j, j + 1);
      std::vector<int64_t> dims = {m};
      dims.insert(dims.end(), shape.begin(), shape.end());
      torch::Tensor u = l2 ? rng.normal(row.cpu(), dims, x.device())[0]
                           : rng.uniform(row.cpu(), dims, x.device())[0] * 2 - 1;
      u = u / view(u.flatten(1).norm(2, 1).clamp_min(1e-12));
      const double dj = delta[j].item<double>();
      const torch::Tensor p = pert[j];
      const torch::Tensor probe = (p + dj * u).clamp(0, 1);
      u = (probe - p) / dj;
      const torch::Tensor f = decide(probe, row.expand({m})).to(x.dtype()) * 2 - 1;
      const double mean = f.mean().item<double>();
      const torch::Tensor w = std::abs(mean) == 1.0 ? f : f - mean;
      const torch::Tensor g = (view(w) * u).mean(0);
      grad[j] = g / g.norm().clamp_min(1e-12);
    }
    const torch::Tensor update = l2 ? grad : grad.sign();
    // Geometric step-size search: halve until the step lands on the adversarial side.
    torch::Tensor eps = distance(pert, x0) / std::sqrt(static_cast<double>(t));
    torch::Tensor searching = torch::ones({k}, lopts.dtype(torch::kBool));
    for (int halvings = 0; halvings < 50; ++halvings) {
      const torch::Tensor i = (searching & left(rows)).nonzero().flatten();
      if (i.numel() == 0) break;
      const torch::Tensor cand =
          (pert.index_select(0, i) + view(eps.index_select(0, i)) * update.index_select(0, i))
              .clamp(0, 1);
      const torch::Tensor dec = decide(cand, rows.index_select(0, i));
      const torch::Tensor hit = dec.nonzero().flatten();
      pert.index_copy_(0, i.index_select(0, hit), cand.index_select(0, hit));
      searching.index_fill_(0, i.index_select(0, hit), false);
      eps.index_copy_(0, i, torch::where(dec, eps.index_select(0, i), eps.index_select(0, i) / 2));
    }
    std::tie(pert, dist_post) = boundary(rows, pert);
    note(rows, pert);
  }
  const torch::Tensor found = best_dist.isfinite();
  r.min_norm = best_dist;
  const torch::Tensor within = found & best_dist.le(options_.eps() * (1 + 1e-6));
  r.adv = torch::where(view(within), best, x);
  r.success = within;
}

}  // namespace foil
