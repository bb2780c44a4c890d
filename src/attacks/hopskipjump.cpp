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

namespace {

/// Tries per sample at a start: starting images, then uniform noise draws.
constexpr int64_t kTries = 100;

/// A per-sample value viewed to broadcast over that sample's image.
torch::Tensor per_image(const torch::Tensor& t) { return t.view({-1, 1, 1, 1}); }

/// One HopSkipJump run over a batch: its settings, the best adversarial found per sample so
/// far, and the model's decisions, each query counted against the sample's budget.
struct Search {
  Model& model;
  const torch::Tensor& x;
  const Criterion& crit;
  AttackResult& r;
  const std::string attack;  ///< the attack's name, for errors
  const int64_t n;
  const at::IntArrayRef shape;  ///< one sample's
  const bool l2;
  const double d;        ///< values per sample
  const double theta;    ///< the boundary search's tolerance
  const int64_t budget;  ///< queries per sample
  const torch::TensorOptions lopts;
  SampleRandom rng;
  torch::Tensor grid;  ///< r.query_grid
  torch::Tensor best, best_dist;

  Search(Model& m, const torch::Tensor& input, const Criterion& criterion, const AttackOptions& o,
         const torch::Tensor& ids, AttackResult& result, std::string name)
      : model(m),
        x(input),
        crit(criterion),
        r(result),
        attack(std::move(name)),
        n(x.size(0)),
        shape(x.sizes().slice(1)),
        l2(o.norm() == "l2"),
        d(static_cast<double>(x[0].numel())),
        theta(l2 ? 1.0 / (d * std::sqrt(d)) : 1.0 / (d * d)),
        budget(o.queries()),
        lopts(x.options().dtype(torch::kLong)),
        rng(o.seed(), ids) {
    r.item_queries = torch::zeros({n}, lopts);
    r.query_grid = HopSkipJump::query_grid(budget);
    grid = torch::tensor(r.query_grid, lopts);
    r.norm_at_queries = torch::full({n, grid.numel()}, INFINITY, x.options());
    best = x.clone();
    best_dist = torch::full({n}, INFINITY, x.options());
  }

  /// Whether each of `rows` has queries left.
  torch::Tensor left(const torch::Tensor& rows) const {
    return r.item_queries.index_select(0, rows).lt(budget);
  }

  /// The distance between each pair of images, in the attack's norm.
  torch::Tensor distance(const torch::Tensor& a, const torch::Tensor& b) const {
    const torch::Tensor diff = (a - b).flatten(1);
    return l2 ? diff.norm(2, 1) : diff.abs().amax(1);
  }

  /// Whether each of `points` is adversarial: one query per point; rows[i] is the sample point
  /// i belongs to.
  torch::Tensor decide(const torch::Tensor& points, const torch::Tensor& rows) {
    torch::Tensor out = torch::empty({rows.numel()}, lopts.dtype(torch::kBool));
    for (int64_t lo = 0; lo < rows.numel(); lo += 4096) {
      const int64_t hi = std::min(rows.numel(), lo + 4096);
      const torch::Tensor part = rows.slice(0, lo, hi);
      const torch::Tensor logits = model.forward(points.slice(0, lo, hi).clamp(0, 1));
      check_logits(logits, attack, 2);
      count_queries(r, part, n);
      out.slice(0, lo, hi).copy_(crit.select(part).is_adversarial(logits));
    }
    return out;
  }

  /// `points` (adversarial, one per entry of rows) become the best where smaller; the trace
  /// takes the best at every grid count the sample has not passed yet.
  void note(const torch::Tensor& rows, const torch::Tensor& points) {
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
  }

  /// The point at `a` between x and p: the blend (L2) or p clipped to the Linf ball of radius a.
  torch::Tensor project(const torch::Tensor& x0, const torch::Tensor& p,
                        const torch::Tensor& a) const {
    return l2 ? (1 - per_image(a)) * x0 + per_image(a) * p
              : torch::min(torch::max(p, x0 - per_image(a)), x0 + per_image(a));
  }

  /// Binary search towards the boundary; returns the adversarial end and the distance before.
  std::pair<torch::Tensor, torch::Tensor> boundary(const torch::Tensor& rows,
                                                   const torch::Tensor& p) {
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
  }
};

/// The search for starting points: a starting image or uniform noise that meets the
/// criterion, one query per candidate; `origin` keeps it for the blend towards the input.
struct Starts {
  torch::Tensor all;    ///< every sample's row
  torch::Tensor clean;  ///< the samples adversarial already clean (they need nothing)
  torch::Tensor origin, have;

  /// Samples still looking for a start: not adversarial clean, none found yet, queries left.
  torch::Tensor searching(const Search& s) const {
    return clean.logical_not() & have.logical_not() & s.left(all);
  }

  /// Of the candidates `cand` of samples `i`, those that meet the criterion become their
  /// starts (`kind`: r.start's code).
  void accept(Search& s, const torch::Tensor& i, const torch::Tensor& cand, int64_t kind) {
    const torch::Tensor hit = s.decide(cand, i).nonzero().flatten();
    origin.index_copy_(0, i.index_select(0, hit), cand.index_select(0, hit));
    have.index_fill_(0, i.index_select(0, hit), true);
    s.r.start.index_fill_(0, i.index_select(0, hit), kind);
  }
};

/// The clean input, one query each: samples that already meet the criterion need nothing.
Starts check_clean(Search& s) {
  Starts st;
  st.all = torch::arange(s.n, s.lopts);
  st.clean = s.decide(s.x, st.all);
  s.note(st.clean.nonzero().flatten(), s.x.index_select(0, st.clean.nonzero().flatten()));
  s.r.start = torch::where(st.clean, torch::zeros({s.n}, s.lopts), torch::full({s.n}, -1, s.lopts));
  st.origin = torch::zeros_like(s.x);
  st.have = torch::zeros({s.n}, s.lopts.dtype(torch::kBool));
  return st;
}

/// Starts from the starting images: the candidates (labelled as wanted or unknown) in an order
/// from each sample's stream, up to kTries per sample.
void start_from_images(Search& s, const AttackOptions& o, Starts& st) {
  const torch::Tensor& x = s.x;
  const torch::Tensor& pool = o.start_images();
  check_input(pool.sizes().slice(1) == s.shape, "--starting-images",
              fmt::format("images of the data's size {}", fmt::join(s.shape, "x")),
              fmt::format("{}", fmt::join(pool.sizes().slice(1), "x")));
  const int64_t m = pool.size(0);
  const torch::Tensor lab =
      (o.start_labels().defined() ? o.start_labels().to(torch::kCPU, torch::kLong)
                                  : torch::full({m}, -1, torch::kLong))
          .view({1, m});
  const torch::Tensor want = s.crit.loss_classes().cpu().view({s.n, 1});
  const torch::Tensor match = lab.lt(0) | (s.crit.is_targeted() ? lab.eq(want) : lab.ne(want));
  const torch::Tensor keys =
      torch::where(match, s.rng.uniform(st.all.cpu(), {m}, torch::kCPU), torch::full({1}, 2.0));
  const torch::Tensor order =
      keys.argsort(/*dim=*/int64_t{1}, /*descending=*/false).slice(1, 0, std::min(m, kTries));
  const torch::Tensor count = match.sum(1).to(x.device());
  for (int64_t j = 0; j < order.size(1); ++j) {
    const torch::Tensor i = (st.searching(s) & count.gt(j)).nonzero().flatten();
    if (i.numel() == 0) break;
    const torch::Tensor pick = order.select(1, j).index_select(0, i.cpu());
    st.accept(s, i, pool.index_select(0, pick.to(pool.device())).to(x.device(), x.dtype()), 2);
  }
}

/// Starts from uniform noise, up to kTries draws per sample still without one.
void start_from_noise(Search& s, Starts& st) {
  for (int64_t attempt = 0; attempt < kTries; ++attempt) {
    const torch::Tensor i = st.searching(s).nonzero().flatten();
    if (i.numel() == 0) break;
    st.accept(s, i, s.rng.uniform(i.cpu(), s.shape, s.x.device()), 1);
  }
}

/// Blends each start of `rows` towards the input by binary search (tolerance 0.001) and notes
/// the blend.
void blend_towards_input(Search& s, const torch::Tensor& rows, const torch::Tensor& origin) {
  torch::Tensor high = torch::ones({rows.numel()}, s.x.options()), low = torch::zeros_like(high);
  const torch::Tensor x0 = s.x.index_select(0, rows), z = origin.index_select(0, rows);
  for (;;) {
    const torch::Tensor sel = (high - low).gt(0.001) & s.left(rows);
    if (!sel.any().item<bool>()) break;
    const torch::Tensor i = sel.nonzero().flatten();
    const torch::Tensor mid = (high.index_select(0, i) + low.index_select(0, i)) / 2;
    const torch::Tensor blend =
        (1 - per_image(mid)) * x0.index_select(0, i) + per_image(mid) * z.index_select(0, i);
    const torch::Tensor dec = s.decide(blend, rows.index_select(0, i));
    high.index_copy_(0, i, torch::where(dec, mid, high.index_select(0, i)));
    low.index_copy_(0, i, torch::where(dec, low.index_select(0, i), mid));
  }
  const torch::Tensor init = (1 - per_image(high)) * x0 + per_image(high) * z;
  s.note(rows, init);
}

/// The gradient direction at each boundary point `pert` (one per row), from up to `evals`
/// decisions at it plus delta * u (as many as the sample has queries left), baseline-subtracted.
torch::Tensor gradient_direction(Search& s, const torch::Tensor& rows, const torch::Tensor& pert,
                                 const torch::Tensor& delta, int64_t evals) {
  const torch::Tensor room = (s.budget - s.r.item_queries.index_select(0, rows)).cpu();
  torch::Tensor grad = torch::zeros_like(pert);
  for (int64_t j = 0; j < rows.numel(); ++j) {
    const int64_t m = std::min(evals, room[j].item<int64_t>());
    const torch::Tensor row = rows.slice(0, j, j + 1);
    std::vector<int64_t> dims = {m};
    dims.insert(dims.end(), s.shape.begin(), s.shape.end());
    torch::Tensor u = s.l2 ? s.rng.normal(row.cpu(), dims, s.x.device())[0]
                           : s.rng.uniform(row.cpu(), dims, s.x.device())[0] * 2 - 1;
    u = u / per_image(u.flatten(1).norm(2, 1).clamp_min(1e-12));
    const double dj = delta[j].item<double>();
    const torch::Tensor p = pert[j];
    const torch::Tensor probe = (p + dj * u).clamp(0, 1);
    u = (probe - p) / dj;
    const torch::Tensor f = s.decide(probe, row.expand({m})).to(s.x.dtype()) * 2 - 1;
    const double mean = f.mean().item<double>();
    const torch::Tensor w = std::abs(mean) == 1.0 ? f : f - mean;
    const torch::Tensor g = (per_image(w) * u).mean(0);
    grad[j] = g / g.norm().clamp_min(1e-12);
  }
  return grad;
}

/// Geometric step-size search along `update` from dist / sqrt(t): halve until the step lands on
/// the adversarial side, where `pert` moves.
void step_towards(Search& s, const torch::Tensor& rows, const torch::Tensor& x0,
                  const torch::Tensor& update, int64_t t, torch::Tensor& pert) {
  torch::Tensor eps = s.distance(pert, x0) / std::sqrt(static_cast<double>(t));
  torch::Tensor searching = torch::ones({rows.numel()}, s.lopts.dtype(torch::kBool));
  for (int halvings = 0; halvings < 50; ++halvings) {
    const torch::Tensor i = (searching & s.left(rows)).nonzero().flatten();
    if (i.numel() == 0) break;
    const torch::Tensor cand =
        (pert.index_select(0, i) + per_image(eps.index_select(0, i)) * update.index_select(0, i))
            .clamp(0, 1);
    const torch::Tensor dec = s.decide(cand, rows.index_select(0, i));
    const torch::Tensor hit = dec.nonzero().flatten();
    pert.index_copy_(0, i.index_select(0, hit), cand.index_select(0, hit));
    searching.index_fill_(0, i.index_select(0, hit), false);
    eps.index_copy_(0, i, torch::where(dec, eps.index_select(0, i), eps.index_select(0, i) / 2));
  }
}

/// Iteration t on the samples `rows` at boundary points `pert` (`dist_post`: their distances
/// before the last boundary search): gradient estimate, step, back to the boundary.
void iterate(Search& s, const AttackOptions& o, int64_t t, const torch::Tensor& rows,
             torch::Tensor& pert, torch::Tensor& dist_post) {
  const double d = s.d, theta = s.theta;
  const torch::Tensor x0 = s.x.index_select(0, rows);
  const torch::Tensor delta = t == 1 ? torch::full_like(dist_post, 0.1)
                                     : (s.l2 ? std::sqrt(d) * theta : d * theta) * dist_post;
  const int64_t evals =
      std::min<int64_t>(static_cast<int64_t>(static_cast<double>(o.hsj_init_evals()) *
                                             std::sqrt(static_cast<double>(t))),
                        o.hsj_max_evals());
  const torch::Tensor grad = gradient_direction(s, rows, pert, delta, evals);
  const torch::Tensor update = s.l2 ? grad : grad.sign();
  step_towards(s, rows, x0, update, t, pert);
  std::tie(pert, dist_post) = s.boundary(rows, pert);
  s.note(rows, pert);
}

}  // namespace

void HopSkipJump::perturb(Model& model, const torch::Tensor& x, const Criterion& crit,
                          const torch::Tensor& ids, AttackResult& r) const {
  torch::NoGradGuard no_grad;
  Search s(model, x, crit, options_, ids, r, name());
  Starts st = check_clean(s);
  if (options_.start_images().defined()) start_from_images(s, options_, st);
  start_from_noise(s, st);
  torch::Tensor rows = st.have.nonzero().flatten();
  blend_towards_input(s, rows, st.origin);
  torch::Tensor pert, dist_post;
  std::tie(pert, dist_post) = s.boundary(rows, s.best.index_select(0, rows));
  s.note(rows, pert);

  Progress progress("  hopskipjump", s.budget, /*transient=*/true);
  for (int64_t t = 1; t <= options_.steps(); ++t) {
    const torch::Tensor keep = s.left(rows).nonzero().flatten();
    keep_rows(keep, {&rows, &pert, &dist_post});
    if (rows.numel() == 0) break;
    progress.update(r.item_queries.index_select(0, rows).min().item<int64_t>(),
                    fmt::format("{} samples, iteration {}", rows.numel(), t));
    iterate(s, options_, t, rows, pert, dist_post);
  }
  const torch::Tensor found = s.best_dist.isfinite();
  r.min_norm = s.best_dist;
  const torch::Tensor within = found & s.best_dist.le(options_.eps() * (1 + 1e-6));
  r.adv = torch::where(per_image(within), s.best, x);
  r.success = within;
}

}  // namespace foil
