#include "foil/attacks/transfer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/models/model.h"
#include "grad_score.h"

namespace foil {
namespace {

/// k x k Gaussian over [-3, 3] sigmas (Dong et al.'s kernel), summing to 1.
torch::Tensor gaussian_kernel(int64_t k) {
  const torch::Tensor t = torch::linspace(-3, 3, k, torch::kDouble);
  const torch::Tensor g = torch::exp(-0.5 * t * t);
  const torch::Tensor k2 = torch::outer(g, g);
  return (k2 / k2.sum()).to(torch::kFloat);
}

/// DI as torchattacks' DIFGSM computes it: with probability `q` a bilinear resize (half-pixel
/// centres) to a side drawn uniformly from [floor(resize * side), side - 1] (never the no-op
/// size), zero-padded back to the image's size at an offset drawn from [0, side - resized - 1].
/// The draws are per sample, from its own stream (torchattacks draws once per batch), so a
/// sample's result does not depend on its batch. Images of side 1 are left as they are.
torch::Tensor diverse(const torch::Tensor& x, double q, double resize, SampleRandom& rng,
                      const torch::Tensor& rows) {
  namespace F = torch::nn::functional;
  const int64_t h = x.size(2), w = x.size(3);
  const torch::Tensor u = rng.uniform(rows, {4}, torch::kCPU).to(torch::kDouble);
  const auto a = u.accessor<double, 2>();
  std::vector<torch::Tensor> out;
  for (int64_t k = 0; k < x.size(0); ++k) {
    const torch::Tensor xk = x.slice(0, k, k + 1);
    if (a[k][0] >= q || h < 2 || w < 2) {
      out.push_back(xk);
      continue;
    }
    const int64_t rh = diversity_side(h, resize, a[k][1]), rw = diversity_side(w, resize, a[k][1]);
    const torch::Tensor small = F::interpolate(xk, F::InterpolateFuncOptions()
                                                       .size(std::vector<int64_t>{rh, rw})
                                                       .mode(torch::kBilinear)
                                                       .align_corners(false));
    const auto top =
        std::min(h - rh - 1, static_cast<int64_t>(a[k][2] * static_cast<double>(h - rh)));
    const auto left =
        std::min(w - rw - 1, static_cast<int64_t>(a[k][3] * static_cast<double>(w - rw)));
    out.push_back(torch::constant_pad_nd(small, {left, w - rw - left, top, h - rh - top}, 0));
  }
  return torch::cat(out);
}

}  // namespace

int64_t diversity_side(int64_t side, double resize, double u) {
  // At least 1 px (a small --di-resize on a small image), at most side - 1.
  const int64_t lo = std::clamp<int64_t>(
      static_cast<int64_t>(std::floor(resize * static_cast<double>(side))), 1, side - 1);
  return std::min(side - 1, lo + static_cast<int64_t>(u * static_cast<double>(side - lo)));
}

bool is_transfer_attack(const std::string& name) {
  return name == "di-fgsm" || name == "ti-fgsm" || name == "ni-fgsm" || name == "si-fgsm" ||
         name == "sini-fgsm" || name == "vmi-fgsm";
}

TransferFgsm::TransferFgsm(std::string name, AttackOptions options)
    : Attack(std::move(options)), name_(std::move(name)) {
  check_input(is_transfer_attack(name_), "--attack",
              "di-fgsm, ti-fgsm, ni-fgsm, si-fgsm, sini-fgsm or vmi-fgsm", "'" + name_ + "'");
  const auto& o = options_;
  // Each name's composition is torchattacks' class of that name (TIFGSM includes DI,
  // SINIFGSM NI); si-fgsm is MI-FGSM with SI alone (Lin et al.'s SIM).
  const bool di = name_ == "di-fgsm" || name_ == "ti-fgsm";
  diversity_ = o.input_diversity() >= 0 ? o.input_diversity() : (di ? 0.5 : 0.0);
  const bool si = name_ == "si-fgsm" || name_ == "sini-fgsm";
  scales_ = o.si_scales() >= 1 ? o.si_scales() : (si ? 5 : 1);
  // Wang & He and their code (JHL-HUST/VT) sample 20 neighbours; torchattacks defaults to 5.
  variance_samples_ = o.vmi_samples() >= 0 ? o.vmi_samples() : (name_ == "vmi-fgsm" ? 20 : 0);
  nesterov_ = o.nesterov() || name_ == "ni-fgsm" || name_ == "sini-fgsm";
}

int64_t TransferFgsm::kernel(int64_t height) const {
  if (options_.ti_kernel() >= 1) return options_.ti_kernel();
  if (name_ != "ti-fgsm") return 1;
  // Dong et al.: 15 px on 299 px images; the same share of a smaller image, odd.
  auto k = static_cast<int64_t>(std::lround(15.0 * static_cast<double>(height) / 299.0));
  if (k % 2 == 0) ++k;
  // Sampled over +-3 sigma, a 3-px kernel keeps 96% of the weight in its centre and a 1-px one
  // all of it: TI cannot act, and a ti-fgsm number would be DI-MI-FGSM's under TI's name.
  check_input(k >= kMinTiKernel, "--ti-kernel",
              fmt::format("an explicit odd kernel side for ti-fgsm on {}-px images (Dong et al.'s "
                          "15 px of 299 scales to {} px, too small to smooth; it needs images of "
                          "at least {} px)",
                          height, k, kMinTiImage),
              "none");
  return k;
}
std::string TransferFgsm::describe() const {
  const auto& o = options_;
  return fmt::format(
      "{}(norm={}, eps={:g}, alpha={:g}, steps={}, decay={:g}, di_prob={:g}, di_resize={:g}, "
      "ti_kernel={}, si_scales={}, vmi_samples={}, vmi_beta={:g}, nesterov={}, seed={})",
      name_, o.norm(), o.eps(), o.alpha(), o.steps(), o.decay(), diversity_, o.diversity_resize(),
      options_.ti_kernel() >= 1 ? std::to_string(options_.ti_kernel())
                                : (name_ == "ti-fgsm" ? "15 of 299 px, scaled" : "1"),
      scales_, variance_samples_, o.vmi_beta(), nesterov_, o.seed());
}

void TransferFgsm::perturb(Model& model, const torch::Tensor& x, const Criterion& crit,
                           const torch::Tensor& ids, AttackResult& r) const {
  const int64_t n = x.size(0), c = x.size(1);
  const double eps = options_.eps(), alpha = options_.alpha(), decay = options_.decay();
  const double sign = crit.is_targeted() ? -1.0 : 1.0;
  const int64_t k = kernel(x.size(2));
  SampleRandom rng(options_.seed(), ids);
  const torch::Tensor rows = torch::arange(n);
  const torch::Tensor smooth =
      k > 1 ? gaussian_kernel(k).to(x.device()).view({1, 1, k, k}).repeat({c, 1, 1, 1})
            : torch::Tensor();

  // h(p): the loss gradient at p, averaged over SI's scales, each through DI.
  auto h = [&](const torch::Tensor& p) {
    torch::Tensor total;
    for (int64_t i = 0; i < scales_; ++i) {
      torch::Tensor a = p.detach().clone().requires_grad_(true);
      torch::Tensor in = i == 0 ? a : a / std::pow(2.0, static_cast<double>(i));
      if (diversity_ > 0) in = diverse(in, diversity_, options_.diversity_resize(), rng, rows);
      const torch::Tensor logits = model.forward(in);
      check_logits(logits, name_, 2);
      r.gradient_evaluations += n;
      const torch::Tensor loss =
          sign * attack_cross_entropy(model, in, logits, crit.loss_classes());
      torch::Tensor g = torch::autograd::grad({loss}, {a})[0];
      total = i == 0 ? g : total + g;
    }
    return scales_ > 1 ? total / static_cast<double>(scales_) : total;
  };

  torch::Tensor adv = x.clone(), momentum = torch::zeros_like(x), variance;
  for (int64_t s = 0; s < options_.steps(); ++s) {
    const torch::Tensor at = nesterov_ ? adv + alpha * decay * momentum : adv;
    const torch::Tensor grad = h(at);
    add_abs_over_channels(r.grad_score, grad);
    torch::Tensor u = variance.defined() ? grad + variance : grad;
    if (k > 1)
      u = torch::conv2d(u, smooth, /*bias=*/{}, /*stride=*/1, /*padding=*/k / 2, /*dilation=*/1,
                        /*groups=*/c);
    torch::Tensor g = u / u.abs().mean({1, 2, 3}, /*keepdim=*/true).clamp_min(1e-12);
    g = g + decay * momentum;
    momentum = g;
    if (variance_samples_ > 0) {
      torch::Tensor sum;
      for (int64_t j = 0; j < variance_samples_; ++j) {
        const torch::Tensor noise =
            (rng.uniform(rows, {c, x.size(2), x.size(3)}, x.device()) * 2 - 1) *
            (options_.vmi_beta() * eps);
        const torch::Tensor gj = h(adv + noise);
        sum = j == 0 ? gj : sum + gj;
      }
      variance = sum / static_cast<double>(variance_samples_) - grad;
    }
    const torch::Tensor next = adv + alpha * norm_->direction(g);
    adv = (x + norm_->project(next - x, eps)).clamp(0, 1).detach();
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor logits = model.forward(adv);
  record_rows(r, rows.to(x.device()), adv, logits, crit.is_adversarial(logits));
}

}  // namespace foil
