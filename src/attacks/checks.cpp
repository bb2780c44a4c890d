// The evaluation checks (see checks.h).
#include "foil/attacks/checks.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>

#include "foil/attacks/attack.h"
#include "foil/attacks/evaluate.h"
#include "foil/attacks/losses.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"

namespace foil {

nlohmann::json Flag::to_json() const {
  return {{"name", name}, {"fired", fired}, {"measured", measured}, {"meaning", meaning}};
}

namespace {

std::string percent(double v) { return fmt::format("{:.1f}%", 100 * v); }

}  // namespace

std::vector<Flag> check_model(Model& model, const Dataset& data, int64_t items, bool gradients) {
  const int64_t n = std::min<int64_t>(items, data.size());
  const torch::Tensor x = data.images.slice(0, 0, n).to(model.device());
  torch::Tensor y = data.labels.slice(0, 0, n).to(model.device());
  std::vector<torch::Tensor> outputs;
  std::vector<int64_t> right;
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 5; ++i) {
      const torch::Tensor out = model.forward(x).to(torch::kDouble);
      if (i == 0) y = torch::where(y.lt(0), out.argmax(1), y);
      outputs.push_back(out / (out.norm(2, 1, true) + 1e-10));
      right.push_back(out.argmax(1).eq(y).sum().item<int64_t>());
    }
  }
  std::vector<Flag> flags;
  // Randomised model.
  double spread = 0;
  for (size_t a = 0; a < outputs.size(); ++a)
    for (size_t b = a + 1; b < outputs.size(); ++b)
      spread = std::max(spread, (outputs[a] - outputs[b]).norm(2, 1).max().item<double>());
  const auto [lo, hi] = std::minmax_element(right.begin(), right.end());
  flags.push_back(
      {"randomised model", spread > 1e-4 || *lo != *hi,
       fmt::format("five passes of the same {} inputs: outputs differ by up to {:.3g} (L2 of "
                   "normalised rows), {}..{} right",
                   n, spread, *lo, *hi),
       "the model answers differently to the same input, so each gradient sees one random "
       "draw: evaluate with --version rand (APGD-CE and APGD-DLR with EOT over 20 passes), or "
       "make the model deterministic"});
  // Probability outputs.
  const torch::Tensor raw = [&] {
    torch::NoGradGuard no_grad;
    return model.forward(x).to(torch::kDouble);
  }();
  const bool probabilities = raw.min().item<double>() > -1e-5 &&
                             raw.max().item<double>() < 1 + 1e-5 &&
                             (raw.sum(1) - 1).abs().max().item<double>() < 1e-5;
  flags.push_back({"probability outputs", probabilities,
                   fmt::format("outputs in [{:.3g}, {:.3g}], row sums {:.6g}..{:.6g}",
                               raw.min().item<double>(), raw.max().item<double>(),
                               raw.sum(1).min().item<double>(), raw.sum(1).max().item<double>()),
                   "the model outputs probabilities, on which cross-entropy and margin losses "
                   "saturate and gradient attacks stall: attack its logits (the layer before "
                   "the softmax) for a number that means something"});
  if (!gradients) return flags;
  // Zero gradients.
  const torch::Tensor a = x.detach().requires_grad_(true);
  const torch::Tensor g = torch::autograd::grad({ce_loss(model.forward(a), y).sum()}, {a})[0];
  const torch::Tensor size = g.flatten(1).abs().sum(1);
  const int64_t dead = (size.eq(0) | size.isfinite().logical_not()).sum().item<int64_t>();
  flags.push_back(
      {"zero gradients", dead > 0,
       fmt::format("{} of {} points ({}) have an input gradient that is exactly zero or not "
                   "finite",
                   dead, n, percent(static_cast<double>(dead) / std::max<int64_t>(n, 1))),
       "gradient attacks cannot move these points (gradient masking: quantisation, a "
       "non-differentiable step, saturated outputs): trust only the standard version, whose "
       "Square stage needs no gradient, or an adaptive attack"});
  return flags;
}

std::vector<Flag> check_evaluation(const Evaluation& ev) {
  std::vector<Flag> flags;
  const auto square = std::find(ev.stage_names.begin(), ev.stage_names.end(), "square");
  if (square != ev.stage_names.end() && square != ev.stage_names.begin() &&
      ev.stage_robust_accuracy.size() == ev.stage_names.size()) {
    const size_t s = static_cast<size_t>(square - ev.stage_names.begin());
    const double before = ev.stage_robust_accuracy[s - 1], after = ev.stage_robust_accuracy[s];
    flags.push_back(
        {"Square beats the gradient attacks", after < before - 0.002,
         fmt::format("robust accuracy {} after the gradient stages, {} after Square",
                     percent(before), percent(after)),
         "a gradient-free attack broke points the gradient attacks could not: the signature of "
         "gradient masking. Run Square with more queries and restarts, or an adaptive attack; "
         "the robust accuracy is an upper bound"});
  }
  if (ev.loss_rose_n > 0) {
    const double share = static_cast<double>(ev.loss_rose) / ev.loss_rose_n;
    flags.push_back(
        {"no rise in loss", share < 0.5,
         fmt::format("APGD's loss rose above its starting value on {} of {} points ({})",
                     ev.loss_rose, ev.loss_rose_n, percent(share)),
         "the gradient does not lead uphill on most points (masked or obfuscated gradients, or "
         "a loss that does not fit the model's outputs): the robust accuracy is not "
         "trustworthy; check the outputs are logits and try an adaptive attack"});
  }
  return flags;
}

Flag check_unbounded(Model& model, const Dataset& data, const std::string& norm, uint64_t seed,
                     int64_t items, int64_t steps) {
  const Dataset head = data.head(items);
  const double eps = norm == "linf"
                         ? 0.5
                         : std::sqrt(static_cast<double>(data.images[0].numel()));  // a whole image
  auto attack = make_attack("apgd-ce", AttackOptions().norm(norm).eps(eps).steps(steps).seed(seed));
  const Evaluation ev = evaluate_attack(model, head, *attack, EvaluationOptions().seed(seed));
  return {"unbounded budget", ev.robust_accuracy > 0,
          fmt::format("robust accuracy {} under APGD-CE at {} eps {:.3g} ({} items, {} steps)",
                      percent(ev.robust_accuracy), norm, eps, head.size(), steps),
          "at a budget that can turn any image into any other the attack should break every "
          "point; it did not, so the attack is not working on this model (Carlini et al. "
          "2019): do not trust its robust accuracy at the real budgets"};
}

}  // namespace foil
