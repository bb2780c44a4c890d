#pragma once
/// @file
/// Randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019): the smoothed classifier
/// g(x) = argmax_c P(f(x + N(0, sigma^2 I)) = c), its Monte-Carlo CERTIFY (a class and an L2
/// radius within which no perturbation changes g, with probability 1 - alpha over the noise)
/// and PREDICT (a class or an abstention), and the statistics both rest on.
///
/// Example:
///   foil::SmoothingOptions o = foil::SmoothingOptions().sigma(0.25).n(10000);
///   auto certs = foil::certify_smoothed(*model, images, torch::arange(images.size(0)), o);
///   // certs[i].prediction (-1: abstain), certs[i].radius

#include <torch/arg.h>
#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "foil/models/model.h"
#include "foil/models/wrapper.h"

namespace foil {

/// The smoothing and its Monte-Carlo budget (defaults as the paper).
struct SmoothingOptions {
  /// Standard deviation of the Gaussian noise, in pixels of [0,1] (> 0). Default 0.25.
  TORCH_ARG(double, sigma) = 0.25;
  /// CERTIFY: noise samples that pick the class (>= 1). Default 100.
  TORCH_ARG(int64_t, n0) = 100;
  /// Noise samples that estimate its probability (CERTIFY) or decide (PREDICT) (>= 1).
  /// Default 100000.
  TORCH_ARG(int64_t, n) = 100000;
  /// The probability, over the noise, that an answer is wrong: in (0, 1). Default 0.001.
  TORCH_ARG(double, alpha) = 0.001;
  /// Noisy copies per forward pass (>= 1). Default 1000.
  TORCH_ARG(int64_t, batch) = 1000;
  /// Seed of each item's noise stream (keyed by the seed and the item's id). Default 0.
  TORCH_ARG(uint64_t, seed) = 0;
};

/// Throws InputError naming the flag for sigma <= 0 or not finite, n0 or n outside 1..1e9,
/// alpha outside (0, 1) or batch outside 1..100000.
void check_smoothing_options(const SmoothingOptions& options);

/// The regularized incomplete beta function I_x(a, b) (a, b > 0, x in [0, 1]).
double incomplete_beta(double x, double a, double b);
/// The one-sided (1 - alpha) Clopper-Pearson lower confidence bound on a binomial proportion
/// from `successes` of `trials`: the alpha quantile of Beta(successes, trials - successes + 1),
/// 0 when there are no successes (Cohen et al.'s LowerConfBound).
double clopper_pearson_lower(int64_t successes, int64_t trials, double alpha);
/// The exact two-sided binomial test of p = 1/2 for `successes` of `trials`: its p-value.
double binomial_test_half(int64_t successes, int64_t trials);
/// The standard normal quantile Phi^-1(p), p in (0, 1).
double normal_quantile(double p);

/// Per item: how often each class won over `num` noisy copies (N x K, int64), the copies drawn
/// from each item's own stream (`ids`, int64 per item), `skip` draws into it.
torch::Tensor noise_counts(Model& model, const torch::Tensor& images, const torch::Tensor& ids,
                           int64_t num, int64_t skip, const SmoothingOptions& options);

/// One item's certificate.
struct SmoothedCertificate {
  int64_t prediction = -1;  ///< the certified class; -1: abstain
  double radius = 0;        ///< certified L2 radius (0 when abstaining)
  double p_lower = 0;       ///< the lower confidence bound on the class's probability
  int64_t count = 0;        ///< the class's wins among the n estimation samples
};

/// CERTIFY for each of `images`: the class that wins most of n0 noisy copies, the
/// Clopper-Pearson lower bound pA on its probability from n more copies, and radius
/// sigma * Phi^-1(pA) when pA > 1/2, else an abstention.
std::vector<SmoothedCertificate> certify_smoothed(Model& model, const torch::Tensor& images,
                                                  const torch::Tensor& ids,
                                                  const SmoothingOptions& options);

/// PREDICT for each of `images`: the top class of n noisy copies when a two-sided binomial test
/// of its count against the runner-up's rejects a tie at alpha, else -1 (abstain).
std::vector<int64_t> predict_smoothed(Model& model, const torch::Tensor& images,
                                      const torch::Tensor& ids, const SmoothingOptions& options);

/// The smoothed soft classifier an attacker differentiates (Salman et al. 2019's SmoothAdv):
/// forward(x) = log of the mean softmax of the base model over `samples` Gaussian copies of x
/// (fresh noise on every call, from LibTorch's seeded generator), so the cross-entropy an
/// attack follows is -log of the smoothed probability of the class.
class SmoothedSoftModel : public ModelWrapper {
 public:
  /// Wraps `base` with noise of `sigma` and `samples` copies per forward (>= 1).
  SmoothedSoftModel(std::shared_ptr<Model> base, double sigma, int64_t samples);
  /// No taps.
  std::vector<std::string> layer_names() const override { return {}; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  double sigma_;
  int64_t samples_;
};

}  // namespace foil
