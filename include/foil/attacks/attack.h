#pragma once
/// @file The shared machinery of gradient attacks on classifiers (Foolbox `attacks/base.py`):
/// bounds, projection, clipping, restarts, success tracking and early stop live here once;
/// each attack implements one protected `step`.

#include <torch/arg.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "foil/attacks/criterion.h"
#include "foil/attacks/norm.h"

namespace foil {

class Model;

/// Options shared by all gradient attacks, checked by `Attack`'s constructor.
struct AttackOptions {
  /// Radius of the threat model (pixels in [0,1]). Default 0.1.
  TORCH_ARG(double, eps) = 0.1;
  /// Step size. Default 0.01.
  TORCH_ARG(double, alpha) = 0.01;
  /// Iterations (>= 1). Default 10.
  TORCH_ARG(int64_t, steps) = 10;
  /// "linf" or "l2". Default "linf".
  TORCH_ARG(std::string, norm) = "linf";
  /// Start from a uniform random point of the eps-ball (PGD). Default false.
  TORCH_ARG(bool, random_start) = false;
  /// Number of random restarts (>= 1); later restarts attack only the samples still
  /// unbroken. Default 1.
  TORCH_ARG(int64_t, restarts) = 1;
  /// Momentum decay (MI-FGSM). Default 1.0.
  TORCH_ARG(double, decay) = 1.0;
  /// Drop samples from the batch as soon as they succeed (robust-accuracy evaluation:
  /// any successful iterate counts and is kept). Default false.
  TORCH_ARG(bool, early_stop) = false;
  /// Expectation over transformation (Athalye et al. 2018): the gradient of each step is the
  /// mean over this many forward+backward passes, for models with random parts (a randomised
  /// defence). Default 1.
  TORCH_ARG(int64_t, eot_samples) = 1;
};

/// Result of attacking a batch.
struct AttackResult {
  torch::Tensor adv;      ///< adversarial examples, same shape as the input, in [0,1]
  torch::Tensor success;  ///< bool per sample: adv meets the criterion
  torch::Tensor pred;     ///< int64 per sample: the model's prediction on adv
  /// N×H×W: |loss gradient| summed over channels and accumulated over the steps that led to
  /// `adv` (a continuous per-pixel attack score; Region of Attack). Zero for eps = 0.
  torch::Tensor grad_score;
  int64_t gradient_evaluations = 0;  ///< forward+backward passes counted per sample
};

/// Base class: `run` is the non-virtual entry point.
class Attack {
 public:
  explicit Attack(AttackOptions options);
  virtual ~Attack() = default;

  /// Attacks `x` (pixels in [0,1], not modified) against `criterion`.
  AttackResult run(Model& model, const torch::Tensor& x, const Criterion& criterion) const;

  virtual std::string name() const = 0;
  /// One line: the name and every option.
  std::string describe() const;
  const AttackOptions& options() const { return options_; }

 protected:
  /// One update from `adv` with loss gradient `grad` (ascent direction: for targeted
  /// attacks the sign is already flipped). `state` is per-sample memory (momentum), kept
  /// aligned with the active samples by the base class. Returns the new point before
  /// projection and clipping.
  virtual torch::Tensor step(const torch::Tensor& adv, const torch::Tensor& grad,
                             torch::Tensor& state) const = 0;

  AttackOptions options_;
  std::unique_ptr<Norm> norm_;
};

/// The attacks `make_attack` knows: fgsm, fgm (FGM-L2), bim, pgd, mifgsm.
const std::vector<std::string>& attack_names();

/// Builds an attack by name. fgsm/fgm force one step of size eps without random start;
/// bim and mifgsm never start at random; `pgd` keeps `random_start` as given. Throws InputError for
/// unknown names or bad options.
std::unique_ptr<Attack> make_attack(const std::string& name, AttackOptions options);

}  // namespace foil
