#include "foil/certify/smoothing.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/models/model.h"

namespace foil {
namespace {

/// The continued fraction of I_x(a, b) (modified Lentz), for x < (a + 1) / (a + b + 2).
double beta_fraction(double a, double b, double x) {
  constexpr double kTiny = 1e-300, kEps = 1e-15;
  auto guard = [](double v) { return std::abs(v) < kTiny ? kTiny : v; };
  double c = 1, d = 1 / guard(1 - (a + b) * x / (a + 1)), h = d;
  for (int m = 1; m <= 100000; ++m) {
    const double m2 = 2.0 * m;
    double num = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
    d = 1 / guard(1 + num * d);
    c = guard(1 + num / c);
    h *= d * c;
    num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
    d = 1 / guard(1 + num * d);
    c = guard(1 + num / c);
    h *= d * c;
    if (std::abs(d * c - 1) < kEps) break;
  }
  return h;
}

/// The x in [0, 1] where the increasing function f reaches `target` (bisection to the last bit).
template <typename F>
double solve_increasing(F f, double target, double lo, double hi) {
  for (int i = 0; i < 200 && hi - lo > 0; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    (f(mid) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// Per item, the class counts of `num` noisy copies drawn from `rng`'s streams.
torch::Tensor counts_from(Model& model, const torch::Tensor& images, int64_t num, SampleRandom& rng,
                          const SmoothingOptions& o) {
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  const auto shape = images.sizes().slice(1);
  torch::Tensor counts;
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor row = torch::tensor({i});
    const torch::Tensor x = images.slice(0, i, i + 1).to(model.device());
    for (int64_t done = 0; done < num; done += o.batch()) {
      const int64_t b = std::min(o.batch(), num - done);
      std::vector<int64_t> dims = {b};
      dims.insert(dims.end(), shape.begin(), shape.end());
      const torch::Tensor noise = rng.normal(row, dims, model.device())[0] * o.sigma();
      const torch::Tensor logits = model.forward(x + noise);
      check_input(logits.dim() == 2 && logits.size(1) >= 2, "model " + model.info().name,
                  "class scores N x K (K >= 2) to smooth",
                  fmt::format("an output with {} dimensions", logits.dim()));
      if (!counts.defined()) counts = torch::zeros({n, logits.size(1)}, torch::kLong);
      counts[i] += torch::bincount(logits.argmax(1).cpu(), {}, logits.size(1));
    }
  }
  return counts;
}

}  // namespace

void check_smoothing_options(const SmoothingOptions& o) {
  auto real = [](double v) { return fmt::format("{}", v); };
  check_input(std::isfinite(o.sigma()) && o.sigma() > 0, "--sigma", "a finite value > 0",
              real(o.sigma()));
  // Upper bounds keep a typo from asking for years of work (1e9 samples: hours per item).
  check_input(o.n0() >= 1 && o.n0() <= 1000000000, "--n0", "an integer in 1..1e9",
              std::to_string(o.n0()));
  check_input(o.n() >= 1 && o.n() <= 1000000000, "--n", "an integer in 1..1e9",
              std::to_string(o.n()));
  check_input(o.alpha() > 0 && o.alpha() < 1, "--alpha", "a value in (0, 1)", real(o.alpha()));
  check_input(o.batch() >= 1 && o.batch() <= 100000, "--batch", "an integer in 1..100000",
              std::to_string(o.batch()));
}

double incomplete_beta(double x, double a, double b) {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const double front = std::exp(std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) +
                                a * std::log(x) + b * std::log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
  return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

double clopper_pearson_lower(int64_t k, int64_t n, double alpha) {
  if (k <= 0) return 0;
  const double a = static_cast<double>(k), b = static_cast<double>(n - k + 1);
  return solve_increasing([&](double x) { return incomplete_beta(x, a, b); }, alpha, 0, 1);
}

double binomial_test_half(int64_t k, int64_t n) {
  // P(X >= j) for X ~ Binomial(n, 1/2) is I_{1/2}(j, n - j + 1).
  auto at_least = [&](int64_t j) {
    if (j <= 0) return 1.0;
    if (j > n) return 0.0;
    return incomplete_beta(0.5, static_cast<double>(j), static_cast<double>(n - j + 1));
  };
  const double upper = at_least(k), lower = 1 - at_least(k + 1);
  return std::min(1.0, 2 * std::min(upper, lower));
}

double normal_quantile(double p) {
  return solve_increasing([](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }, p, -40,
                          40);
}

torch::Tensor noise_counts(Model& model, const torch::Tensor& images, const torch::Tensor& ids,
                           int64_t num, int64_t skip, const SmoothingOptions& o) {
  SampleRandom rng(o.seed(), ids);
  if (skip > 0) counts_from(model, images, skip, rng, o);
  return counts_from(model, images, num, rng, o);
}

std::vector<SmoothedCertificate> certify_smoothed(Model& model, const torch::Tensor& images,
                                                  const torch::Tensor& ids,
                                                  const SmoothingOptions& o) {
  check_smoothing_options(o);
  SampleRandom rng(o.seed(), ids);
  // Selection and estimation draw separate copies: the n0 first, then n more.
  const torch::Tensor pick = counts_from(model, images, o.n0(), rng, o).argmax(1);
  const torch::Tensor counts = counts_from(model, images, o.n(), rng, o);
  std::vector<SmoothedCertificate> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    SmoothedCertificate c;
    const int64_t cls = pick[i].item<int64_t>();
    c.count = counts[i][cls].item<int64_t>();
    c.p_lower = clopper_pearson_lower(c.count, o.n(), o.alpha());
    if (c.p_lower > 0.5) {
      c.prediction = cls;
      c.radius = o.sigma() * normal_quantile(c.p_lower);
    }
    out.push_back(c);
  }
  return out;
}

std::vector<int64_t> predict_smoothed(Model& model, const torch::Tensor& images,
                                      const torch::Tensor& ids, const SmoothingOptions& o) {
  check_smoothing_options(o);
  SampleRandom rng(o.seed(), ids);
  const torch::Tensor counts = counts_from(model, images, o.n(), rng, o);
  const auto top2 = counts.topk(2, 1);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < images.size(0); ++i) {
    const int64_t a = std::get<0>(top2)[i][0].item<int64_t>();
    const int64_t b = std::get<0>(top2)[i][1].item<int64_t>();
    out.push_back(
        binomial_test_half(a, a + b) <= o.alpha() ? std::get<1>(top2)[i][0].item<int64_t>() : -1);
  }
  return out;
}

SmoothedSoftModel::SmoothedSoftModel(std::shared_ptr<Model> base, double sigma, int64_t samples)
    : ModelWrapper(std::move(base)), sigma_(sigma), samples_(samples) {
  check_input(samples_ >= 1, "--attack-samples", "an integer >= 1", std::to_string(samples_));
  info_.name = fmt::format("smoothed({}, sigma {:g})", inner().info().name, sigma_);
}

TapOutputs SmoothedSoftModel::run(const torch::Tensor& x, const std::vector<std::string>&) {
  const int64_t n = x.size(0);
  // All copies in one pass: [samples * n] images, copy-major.
  const torch::Tensor copies = x.repeat({samples_, 1, 1, 1});
  const torch::Tensor probs =
      torch::softmax(inner().forward(copies + torch::randn_like(copies) * sigma_), 1);
  return {torch::log(probs.view({samples_, n, -1}).mean(0).clamp_min(1e-30)), {}};
}

}  // namespace foil
