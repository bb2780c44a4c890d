// Deletion and insertion curves of importance maps.
#include "foil/explain/faithfulness.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/models/model.h"
#include "methods.h"

namespace foil {
namespace F = torch::nn::functional;

void check_faithfulness_options(const FaithfulnessOptions& o) {
  check_input(o.steps >= 1 && o.steps <= 1000, "--faithfulness-steps", "an integer in 1..1000",
              std::to_string(o.steps));
  check_input(o.baseline == "blur" || o.baseline == "mean", "--baseline", "blur or mean",
              "'" + o.baseline + "'");
  check_input(o.batch >= 1, "--batch", "an integer >= 1", std::to_string(o.batch));
  check_input(o.protocol == "foil" || o.protocol == "rise", "--protocol", "foil or rise",
              "'" + o.protocol + "'");
}

torch::Tensor importance_rank(const torch::Tensor& maps) {
  const int64_t n = maps.size(0), hw = maps.numel() / std::max<int64_t>(1, n);
  // Descending and stable: tied pixels keep their position order on every device.
  const torch::Tensor order =
      std::get<1>(maps.reshape({n, hw}).sort(/*stable=*/true, 1, /*descending=*/true));
  return torch::empty_like(order)
      .scatter_(1, order, torch::arange(hw, order.options()).expand({n, hw}).contiguous())
      .view(maps.sizes());
}

torch::Tensor rise_blur(const torch::Tensor& x) {
  // scipy's gaussian_filter (sigma 5, truncated at 4 sigma, mode 'reflect') of an 11-tap delta,
  // as RISE builds its kernel: the 1-D weights folded back at the borders, then outer product.
  constexpr int64_t kLen = 11, kRadius = 20;
  constexpr double kSigma = 5;
  std::vector<double> w(2 * kRadius + 1), k1(kLen, 0.0);
  double total = 0;
  for (int64_t j = -kRadius; j <= kRadius; ++j)
    total += w[j + kRadius] = std::exp(-0.5 * static_cast<double>(j * j) / (kSigma * kSigma));
  for (int64_t i = 0; i < kLen; ++i)
    for (int64_t j = -kRadius; j <= kRadius; ++j) {
      int64_t p = (i + j) % (2 * kLen);  // reflect: period 2 len, d c b a | a b c d | d c b a
      if (p < 0) p += 2 * kLen;
      if (p >= kLen) p = 2 * kLen - 1 - p;
      if (p == kLen / 2) k1[i] += w[j + kRadius] / total;
    }
  const torch::Tensor k = torch::tensor(k1, torch::kDouble);
  const int64_t c = x.size(1);
  const torch::Tensor kernel =
      torch::outer(k, k).to(x.options()).view({1, 1, kLen, kLen}).repeat({c, 1, 1, 1});
  // Zero padding, as RISE's conv2d(padding=klen // 2).
  return F::conv2d(x, kernel, F::Conv2dFuncOptions().padding(kLen / 2).groups(c));
}

torch::Tensor removal_baseline(const torch::Tensor& x, const std::string& kind) {
  if (kind == "mean") return x.mean({2, 3}, true).expand_as(x).contiguous();
  // A separable Gaussian of sd a tenth of the smaller side, reflected at the border.
  const int64_t c = x.size(1);
  const double sd = std::max(0.5, static_cast<double>(std::min(x.size(2), x.size(3))) / 10);
  const int64_t radius = std::min<int64_t>(static_cast<int64_t>(std::ceil(2 * sd)),
                                           std::min(x.size(2), x.size(3)) - 1);
  const torch::Tensor t = torch::arange(-radius, radius + 1, x.options());
  torch::Tensor k = torch::exp(-t.pow(2) / (2 * sd * sd));
  k = k / k.sum();
  const torch::Tensor kh = k.view({1, 1, -1, 1}).repeat({c, 1, 1, 1});
  const torch::Tensor kw = k.view({1, 1, 1, -1}).repeat({c, 1, 1, 1});
  torch::Tensor y =
      F::pad(x, F::PadFuncOptions({radius, radius, radius, radius}).mode(torch::kReflect));
  y = F::conv2d(y, kh, F::Conv2dFuncOptions().groups(c));
  return F::conv2d(y, kw, F::Conv2dFuncOptions().groups(c));
}

FaithfulnessCurves faithfulness(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                                const torch::Tensor& maps, const FaithfulnessOptions& o) {
  check_faithfulness_options(o);
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), hw = h * w;
  check_input(maps.dim() == 3 && maps.size(0) == n && maps.size(1) == h && maps.size(2) == w,
              "maps", fmt::format("{}x{}x{}", n, h, w), fmt::format("{}", maps.sizes()));
  const torch::Tensor images = x.detach().to(model.device());
  const bool rise = o.protocol == "rise";
  // RISE works in the model's normalised space: deletion to 0 there (the mean colour),
  // insertion from the normalised image blurred with zero padding.
  torch::Tensor del_base, ins_base;
  if (rise) {
    del_base = detail::normalized_mask(model, images, torch::zeros_like(images));
    ins_base = del_base + rise_blur(images - del_base);
  } else {
    del_base = ins_base = removal_baseline(images, o.baseline);
  }
  const torch::Tensor cls = classes.to(model.device()).view({-1, 1});
  // Each pixel's rank in its map's order (0: most important), N×1×H×W.
  const torch::Tensor r = importance_rank(maps).view({n, 1, h, w}).to(images.device());
  // RISE: steps of one image row's worth of pixels (224 at 224 px), h of them.
  const int64_t steps = rise ? h : o.steps;
  FaithfulnessCurves c;
  auto prob = [&](const torch::Tensor& batch_x) {
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < n; b += o.batch) {
      const int64_t e = std::min(n, b + o.batch);
      parts.push_back(torch::softmax(model.forward(batch_x.slice(0, b, e)), 1)
                          .gather(1, cls.slice(0, b, e))
                          .squeeze(1)
                          .cpu());
    }
    return torch::cat(parts).to(torch::kDouble).mean().item<double>();
  };
  for (int64_t s = 0; s <= steps; ++s) {
    const double share = static_cast<double>(s) / static_cast<double>(steps);
    const auto k =
        rise ? s * w : static_cast<int64_t>(std::llround(share * static_cast<double>(hw)));
    const torch::Tensor top = r.lt(k).to(images.scalar_type());  // the k most important pixels
    c.shares.push_back(share);
    c.deletion.push_back(prob(images * (1 - top) + del_base * top));
    c.insertion.push_back(prob(ins_base * (1 - top) + images * top));
  }
  // Average drop and increase in confidence: the image seen through its map.
  {
    std::vector<torch::Tensor> p, pe;
    const torch::Tensor scaled = (maps / maps.flatten(1).amax(1).clamp_min(1e-12).view({-1, 1, 1}))
                                     .unsqueeze(1)
                                     .to(images.device());
    for (int64_t b = 0; b < n; b += o.batch) {
      const int64_t e = std::min(n, b + o.batch);
      auto probs = [&](const torch::Tensor& xs) {
        return torch::softmax(model.forward(xs), 1).gather(1, cls.slice(0, b, e)).squeeze(1).cpu();
      };
      p.push_back(probs(images.slice(0, b, e)));
      pe.push_back(
          probs(detail::normalized_mask(model, images.slice(0, b, e), scaled.slice(0, b, e))));
    }
    const torch::Tensor pa = torch::cat(p).to(torch::kDouble),
                        pb = torch::cat(pe).to(torch::kDouble);
    c.average_drop = (torch::relu(pa - pb) / pa.clamp_min(1e-12)).mean().item<double>();
    c.increase_in_confidence = pb.gt(pa).to(torch::kDouble).mean().item<double>();
  }
  auto area = [&](const std::vector<double>& y) {
    double a = 0;
    for (size_t i = 1; i < y.size(); ++i)
      a += (y[i] + y[i - 1]) / 2 * (c.shares[i] - c.shares[i - 1]);
    return a;
  };
  c.deletion_auc = area(c.deletion);
  c.insertion_auc = area(c.insertion);
  return c;
}

}  // namespace foil

namespace foil {

torch::Tensor linear_imputation(const torch::Tensor& x, const torch::Tensor& removed, double noise,
                                at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // One system per image and channel: N*C planes of 1×H×W.
  const torch::Tensor img = x.detach().reshape({n * c, 1, h, w}).to(torch::kDouble);
  const torch::Tensor u =
      removed.to(x.device()).to(torch::kDouble).unsqueeze(1).repeat_interleave(c, 0);
  const torch::Tensor kernel = torch::tensor({1.0 / 12, 1.0 / 6, 1.0 / 12, 1.0 / 6, 0.0, 1.0 / 6,
                                              1.0 / 12, 1.0 / 6, 1.0 / 12},
                                             img.options())
                                   .view({1, 1, 3, 3});
  auto neighbours = [&](const torch::Tensor& t) {  // weighted sum of the in-image neighbours
    return F::conv2d(t, kernel, F::Conv2dFuncOptions().padding(1));
  };
  const torch::Tensor s = neighbours(torch::ones_like(img));
  auto apply = [&](const torch::Tensor& v) { return u * (s * v - neighbours(u * v)); };
  auto dot = [](const torch::Tensor& a, const torch::Tensor& b) {
    return (a * b).sum({1, 2, 3}, /*keepdim=*/true);
  };
  // Conjugate gradients on the symmetric positive definite system of the removed pixels.
  const torch::Tensor b = u * neighbours((1 - u) * img);
  torch::Tensor v = torch::zeros_like(img), r = b.clone(), p = r.clone();
  torch::Tensor rr = dot(r, r);
  const double tol = 1e-20 * static_cast<double>(h * w);  // residual: 1e-10 per pixel
  for (int64_t it = 0; it < 20 * (h + w) && rr.max().item<double>() > tol; ++it) {
    const torch::Tensor ap = apply(p);
    const torch::Tensor pap = dot(p, ap);
    const torch::Tensor alpha = torch::where(pap > 0, rr / pap, torch::zeros_like(pap));
    v += alpha * p;
    r -= alpha * ap;
    const torch::Tensor next = dot(r, r);
    p = r + torch::where(rr > 0, next / rr, torch::zeros_like(rr)) * p;
    rr = next;
  }
  // No known pixel to lean on: the mean colour.
  const torch::Tensor all = u.amin({1, 2, 3}, true).gt(0.5);
  v = torch::where(all, img.mean({1, 2, 3}, true).expand_as(img), v);
  torch::Tensor filled = img * (1 - u) + u * v;
  if (noise > 0)
    filled = filled + u * noise * torch::randn({n * c, 1, h, w}, gen).to(filled.options());
  return filled.view({n, c, h, w}).to(x.scalar_type());
}

RoadCurves road(Model& model, const torch::Tensor& x, const torch::Tensor& classes,
                const torch::Tensor& maps, int64_t batch, uint64_t seed) {
  check_input(batch >= 1, "--batch", "an integer >= 1", std::to_string(batch));
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), hw = h * w;
  const torch::Tensor images = x.detach().to(model.device());
  const torch::Tensor cls = classes.to(model.device()).view({-1, 1});
  const torch::Tensor r = importance_rank(maps).view({n, h, w}).to(images.device());
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto prob = [&](const torch::Tensor& xs) {
    std::vector<torch::Tensor> parts;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t e = std::min(n, b + batch);
      parts.push_back(torch::softmax(model.forward(xs.slice(0, b, e)), 1)
                          .gather(1, cls.slice(0, b, e))
                          .squeeze(1)
                          .cpu());
    }
    return torch::cat(parts).to(torch::kDouble).mean().item<double>();
  };
  RoadCurves c;
  for (int k = 1; k <= 9; ++k) {
    const double share = k / 10.0;
    const auto count = static_cast<int64_t>(std::llround(share * static_cast<double>(hw)));
    c.shares.push_back(share);
    c.morf.push_back(prob(linear_imputation(images, r.lt(count), 0.01, gen)));
    c.lerf.push_back(prob(linear_imputation(images, r.ge(hw - count), 0.01, gen)));
  }
  for (size_t i = 0; i < c.shares.size(); ++i) {
    c.morf_mean += c.morf[i] / static_cast<double>(c.shares.size());
    c.lerf_mean += c.lerf[i] / static_cast<double>(c.shares.size());
  }
  return c;
}

}  // namespace foil
