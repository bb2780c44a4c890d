#include "foil/attacks/square.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/attacks/losses.h"
#include "foil/attacks/norm.h"
#include "foil/attacks/sample_random.h"
#include "foil/core/runtime.h"
#include "foil/models/model.h"

namespace foil {
namespace {

/// Sum over nested squares centred at (rows/2, cols/2): ring k (Chebyshev distance k) and
/// everything inside it gain 1/(k+1)^2; unit L2 norm.
torch::Tensor centred_blob(int64_t rows, int64_t cols) {
  const int64_t rings = std::max(rows / 2 + 1, cols / 2 + 1);
  auto r = (torch::arange(rows) - rows / 2).abs().view({-1, 1});
  auto c = (torch::arange(cols) - cols / 2).abs().view({1, -1});
  const torch::Tensor dist = torch::maximum(r, c);  // Chebyshev distance to the centre
  torch::Tensor blob = torch::zeros({rows, cols});
  for (int64_t k = 0; k < rings; ++k)
    blob += dist.le(k).to(torch::kFloat) / static_cast<double>((k + 1) * (k + 1));
  return blob / blob.norm();
}

/// Window masks [m,1,h,w] for per-sample top-left corners (vh, vw) of an s×s square.
torch::Tensor window_mask(const torch::Tensor& vh, const torch::Tensor& vw, int64_t s, int64_t h,
                          int64_t w) {
  auto opts = vh.options();
  auto rows = torch::arange(h, opts).view({1, -1, 1});
  auto cols = torch::arange(w, opts).view({1, 1, -1});
  auto in_r = rows.ge(vh.view({-1, 1, 1})) & rows.lt(vh.view({-1, 1, 1}) + s);
  auto in_c = cols.ge(vw.view({-1, 1, 1})) & cols.lt(vw.view({-1, 1, 1}) + s);
  return (in_r & in_c).unsqueeze(1);
}

/// `pattern` (s×s, or its transpose where `flip`) placed at each sample's window, zero
/// elsewhere: [m,1,h,w].
torch::Tensor place(const torch::Tensor& pattern, const torch::Tensor& vh, const torch::Tensor& vw,
                    const torch::Tensor& flip, int64_t h, int64_t w) {
  const int64_t s = pattern.size(0);
  auto opts = vh.options();
  auto ri = (torch::arange(h, opts).view({1, -1}) - vh.view({-1, 1})).clamp(0, s - 1);
  auto ci = (torch::arange(w, opts).view({1, -1}) - vw.view({-1, 1})).clamp(0, s - 1);
  auto p = pattern.to(vh.device());
  auto a = p.index({ri.unsqueeze(2), ci.unsqueeze(1)});
  auto b = p.t().index({ri.unsqueeze(2), ci.unsqueeze(1)});
  auto full = torch::where(flip.view({-1, 1, 1}), b, a);
  return (full * window_mask(vh, vw, s, h, w).squeeze(1)).unsqueeze(1);
}

}  // namespace

double Square::square_share(double p_init, int64_t query, int64_t queries, bool rescale) {
  const int64_t it =
      rescale ? static_cast<int64_t>(static_cast<double>(query) / queries * 10000) : query;
  static const int64_t bounds[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
  double p = p_init;
  for (int64_t b : bounds)
    if (it > b) p /= 2;
  return p;
}

torch::Tensor Square::l2_pattern(int64_t s) {
  torch::Tensor p = torch::zeros({s, s});
  p.slice(0, 0, s / 2) = centred_blob(s / 2, s);
  p.slice(0, s / 2, s) = -centred_blob(s - s / 2, s);
  return p / p.norm();
}

std::string Square::describe() const {
  const auto& o = options_;
  return fmt::format("square(norm={}, eps={:g}, queries={}, p_init={:g}, schedule={}, seed={})",
                     o.norm(), o.eps(), o.queries(), o.p_init(),
                     o.square_rescale() ? "rescaled" : "raw", o.seed());
}

void Square::perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                     const torch::Tensor& ids, AttackResult& r) const {
  torch::NoGradGuard no_grad;
  const torch::Tensor logits0 = clean_logits(model, x);
  const double eps = options_.eps();
  const bool linf = options_.norm() == "linf";
  const int64_t c = x.size(1), h = x.size(2), w = x.size(3);
  // The margin to push below zero, and the loss a proposal must lower to be kept: the margin
  // itself, or targeted, the cross-entropy to the target (as the reference's margin_and_loss).
  auto margin = [&](const torch::Tensor& logits, const Criterion& crit) {
    return crit.is_targeted() ? -logit_margin(logits, crit.targets())
                              : logit_margin(logits, crit.labels());
  };
  auto loss = [&](const torch::Tensor& logits, const Criterion& crit) {
    return crit.is_targeted()
               ? torch::nn::functional::cross_entropy(
                     logits, crit.targets(),
                     torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone))
               : margin(logits, crit);
  };
  const int64_t n = x.size(0);
  count_queries(r, torch::arange(n, x.options().dtype(torch::kLong)), n);  // the clean look
  torch::Tensor done = criterion.is_adversarial(logits0);
  torch::Tensor rows = done.nonzero().flatten();
  record_rows(r, rows, x.index_select(0, rows), logits0.index_select(0, rows),
              done.index_select(0, rows));
  rows = done.logical_not().nonzero().flatten();
  if (rows.numel() == 0 || eps == 0 || options_.queries() < 2) {
    record_rows(r, rows, x.index_select(0, rows), logits0.index_select(0, rows),
                done.index_select(0, rows));
    return;
  }
  SampleRandom rng(options_.seed(), ids);
  torch::Tensor x0 = x.index_select(0, rows);
  Criterion crit = criterion.select(rows);
  const auto dev = x.device();
  auto sign_of = [](const torch::Tensor& u) { return u.lt(0.5).to(torch::kFloat) * -2 + 1; };

  // Starting point.
  torch::Tensor best;
  if (linf) {
    best = (x0 + eps * sign_of(rng.uniform(rows.cpu(), {c, 1, w}, dev))).clamp(0, 1);
  } else {
    torch::Tensor delta = torch::zeros_like(x0);
    const int64_t s = std::max<int64_t>(h / 5, 1), start = (h - s * 5) / 2;
    const torch::Tensor blob = l2_pattern(s);
    for (int64_t bh = start; bh + s <= h; bh += s)
      for (int64_t bw = start; bw + s <= w; bw += s) {
        auto u = rng.uniform(rows.cpu(), {c + 1}, dev);
        auto vh = torch::full({rows.numel()}, bh, rows.options());
        auto vw = torch::full({rows.numel()}, bw, rows.options());
        delta += place(blob, vh, vw, u.select(1, c).lt(0.5), h, w) *
                 sign_of(u.slice(1, 0, c)).view({-1, c, 1, 1});
      }
    best = (x0 + eps * delta / l2_per_sample(delta).clamp_min(1e-12)).clamp(0, 1);
  }
  torch::Tensor logits = model.forward(best);
  count_queries(r, rows, n);
  torch::Tensor best_loss = loss(logits, crit), best_logits = logits;

  const int64_t chunk = 100, per_query = 5 + c;
  Progress progress("  square", options_.queries(), /*transient=*/true);
  torch::Tensor draws;
  for (int64_t q = 1;; ++q) {
    // Fooled samples leave.
    done = crit.is_adversarial(best_logits);
    if (done.any().item<bool>()) {
      const torch::Tensor idx = done.nonzero().flatten();
      record_rows(r, rows.index_select(0, idx), best.index_select(0, idx),
                  best_logits.index_select(0, idx), done.index_select(0, idx));
      const torch::Tensor keep = done.logical_not().nonzero().flatten();
      keep_rows(keep, {&rows, &x0, &best, &best_loss, &best_logits, &draws});
      crit = crit.select(keep);
    }
    if (rows.numel() == 0) return;
    // The clean look, the start and q - 1 proposals: q + 1 queries so far.
    if (q + 1 >= options_.queries()) break;
    if (q % 100 == 0) progress.update(q, fmt::format("{} unbroken", rows.numel()));
    if ((q - 1) % chunk == 0) draws = rng.uniform(rows.cpu(), {chunk, per_query}, dev);
    const torch::Tensor u = draws.select(1, (q - 1) % chunk);
    // Proposal q is the reference's iteration q - 1 (its first proposal is iteration 0).
    const double p =
        square_share(options_.p_init(), q - 1, options_.queries(), options_.square_rescale());
    int64_t s = std::lround(std::sqrt(p * h * w));
    torch::Tensor candidate;
    if (linf) {
      s = std::clamp<int64_t>(s, 1, std::max<int64_t>(std::min(h, w) - 1, 1));
      auto vh = (u.select(1, 0) * (h - s + 1)).floor().to(torch::kLong).clamp_max(h - s);
      auto vw = (u.select(1, 1) * (w - s + 1)).floor().to(torch::kLong).clamp_max(w - s);
      auto mask = window_mask(vh, vw, s, h, w).to(x.dtype());
      auto step = mask * (2 * eps) * sign_of(u.slice(1, 5, 5 + c)).view({-1, c, 1, 1});
      candidate = torch::min(torch::max(best + step, x0 - eps), x0 + eps).clamp(0, 1);
    } else {
      s = std::max<int64_t>(s, 3);
      if (s % 2 == 0) ++s;
      s = std::min(s, std::min(h, w));
      auto corner = [&](int64_t col, int64_t size) {
        return (u.select(1, col) * (size - s + 1)).floor().to(torch::kLong).clamp_max(size - s);
      };
      auto vh = corner(0, h), vw = corner(1, w), vh2 = corner(2, h), vw2 = corner(3, w);
      auto m1 = window_mask(vh, vw, s, h, w).to(x.dtype());
      auto m2 = window_mask(vh2, vw2, s, h, w).to(x.dtype());
      torch::Tensor delta = best - x0;
      auto window_norm = [](const torch::Tensor& t) { return t.pow(2).sum({2, 3}, true).sqrt(); };
      auto norm_w1 = window_norm(delta * m1);
      auto norm_image = l2_per_sample(delta);
      auto norm_windows = l2_per_sample(delta * torch::maximum(m1, m2));
      auto fresh = place(l2_pattern(s), vh, vw, u.select(1, 4).lt(0.5), h, w) *
                   sign_of(u.slice(1, 5, 5 + c)).view({-1, c, 1, 1});
      fresh = fresh + delta * m1 / (norm_w1 + 1e-12);
      const auto target =
          ((eps * eps - norm_image.pow(2)).clamp_min(0) / c + norm_windows.pow(2)).sqrt();
      fresh = fresh / window_norm(fresh).clamp_min(1e-12) * target;
      delta = delta * (1 - m2) * (1 - m1) + fresh * m1;
      candidate = (x0 + eps * delta / l2_per_sample(delta).clamp_min(1e-12)).clamp(0, 1);
    }
    logits = model.forward(candidate);
    count_queries(r, rows, n);
    const torch::Tensor cand_loss = loss(logits, crit);
    const torch::Tensor better = cand_loss.lt(best_loss) | crit.is_adversarial(logits);
    best = torch::where(better.view({-1, 1, 1, 1}), candidate, best);
    best_loss = torch::where(better, cand_loss, best_loss);
    best_logits = torch::where(better.view({-1, 1}), logits, best_logits);
  }
  record_rows(r, rows, best, best_logits, crit.is_adversarial(best_logits));
}

}  // namespace foil
