#pragma once
/// @file
/// The interface of every perturbation attack on classifiers (Foolbox `attacks/base.py`):
/// options, the result, and the non-virtual entry point `run`. The fixed-step gradient
/// family (FGSM, BIM, PGD, MI-FGSM) shares its loop in `gradient.h`; APGD, Square, FAB-T,
/// C&W, DeepFool and the AutoAttack ensemble each implement `perturb`.

#include <torch/arg.h>
#include <torch/types.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "foil/attacks/criterion.h"
#include "foil/attacks/norm.h"
#include "foil/models/access.h"

namespace foil {

class Model;

/// Options of all attacks, checked by `Attack`'s constructor; each attack reads the ones it
/// names in `describe()`.
struct AttackOptions {
  /// Radius of the threat model (pixels in [0,1]). Default 0.1.
  TORCH_ARG(double, eps) = 0.1;
  /// Step size. Default 0.01.
  TORCH_ARG(double, alpha) = 0.01;
  /// Iterations (>= 1); -1: the attack's own default, the one `foil attack` uses
  /// (`default_steps`) for HopSkipJump (100000: its query budget ends it) and SPSA (100), 10
  /// for the others. Default -1.
  TORCH_ARG(int64_t, steps) = -1;
  /// "linf" or "l2". Default "linf".
  TORCH_ARG(std::string, norm) = "linf";
  /// Start from a uniform random point of the eps-ball (PGD, SPSA; `foil attack` and
  /// `default_attack_options` turn it on). Default false.
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
  /// Seed of the per-sample random streams (APGD and FAB restarts, Square): each sample's
  /// stream is keyed by this seed and the sample's id, so results do not depend on the
  /// batch. Default 0.
  TORCH_ARG(uint64_t, seed) = 0;
  /// APGD loss: "ce" or "dlr" (difference of logits ratio). Default "ce".
  TORCH_ARG(std::string, loss) = "ce";
  /// APGD-T / FAB-T: target classes, the top-k of the clean logits other than the label;
  /// 0 = min(9, classes - 1). Default 0.
  TORCH_ARG(int64_t, targets) = 0;
  /// Query attacks (Square, SPSA, HopSkipJump): the most images each sample may show the
  /// model (>= 1; `--max-queries`). Default 5000.
  TORCH_ARG(int64_t, queries) = 5000;
  /// Square: initial share of the pixels a square covers, halved on the paper's schedule.
  /// Default 0.8.
  TORCH_ARG(double, p_init) = 0.8;
  /// Square: the schedule's steps (10, 50, ..., 8000 of 10000 queries) rescaled to `queries`
  /// (true, the reference SquareAttack's default), or at those raw query counts (false: as
  /// the reference's AutoAttack builds Square, `resc_schedule=False`; AutoAttack sets it).
  /// Default true.
  TORCH_ARG(bool, square_rescale) = true;
  /// C&W: confidence margin kappa (>= 0). Default 0.
  TORCH_ARG(double, kappa) = 0.0;
  /// C&W: binary search steps over the constant c (>= 1). Default 5.
  TORCH_ARG(int64_t, binary_steps) = 5;
  /// C&W: the constant c the binary search starts from (> 0). Default 1.
  TORCH_ARG(double, initial_const) = 1.0;
  /// DeepFool: overshoot of the final step (>= 0). Default 0.02.
  TORCH_ARG(double, overshoot) = 0.02;
  /// AutoAttack: "standard" (APGD-CE, APGD-T, FAB-T, Square), "fast" (APGD-CE, APGD-T
  /// over the top-3 targets; gradient attacks only: an upper bound) or "rand" (for
  /// randomised models: APGD-CE and APGD-DLR, each gradient averaged over 20 passes).
  /// Default "standard".
  TORCH_ARG(std::string, version) = "standard";
  /// DI (Xie et al. 2019): the probability of the random resize-and-pad of each gradient's
  /// input, in [0,1]; -1: the attack's own (0.5 for di-fgsm and ti-fgsm, else 0). Default -1.
  TORCH_ARG(double, input_diversity) = -1;
  /// DI: the smallest resize as a share of the image side, in (0,1]. Default 0.9.
  TORCH_ARG(double, diversity_resize) = 0.9;
  /// TI (Dong et al. 2019): the side of the Gaussian kernel (odd, >= 1) the gradient is
  /// smoothed with; -1: the attack's own (ti-fgsm: 15 at 299 px scaled to the image, odd,
  /// refused under kMinTiImage px where it cannot smooth; else 1). Default -1.
  TORCH_ARG(int64_t, ti_kernel) = -1;
  /// SI (Lin et al. 2020): the number of scale copies x/2^i averaged per gradient (>= 1);
  /// -1: the attack's own (5 for si-fgsm and sini-fgsm, else 1). Default -1.
  TORCH_ARG(int64_t, si_scales) = -1;
  /// VMI (Wang & He 2021): the neighbours sampled for the gradient variance (>= 0); -1: the
  /// attack's own (20 for vmi-fgsm, as Wang & He; torchattacks: 5; else 0). Default -1.
  TORCH_ARG(int64_t, vmi_samples) = -1;
  /// VMI: the neighbourhood's radius as a multiple of eps. Default 1.5.
  TORCH_ARG(double, vmi_beta) = 1.5;
  /// NI (Lin et al. 2020): take each gradient at the Nesterov look-ahead point (ni-fgsm
  /// always does). Default false.
  TORCH_ARG(bool, nesterov) = false;
  /// SPSA (Uesato et al. 2018): Rademacher directions per step (two queries each). Default 128.
  TORCH_ARG(int64_t, spsa_samples) = 128;
  /// SPSA: the finite-difference step. Default 0.01.
  TORCH_ARG(double, spsa_delta) = 0.01;
  /// HopSkipJump (Chen et al. 2020): queries of the first gradient estimate (grows with
  /// sqrt of the iteration). Default 100.
  TORCH_ARG(int64_t, hsj_init_evals) = 100;
  /// HopSkipJump: the most queries of one gradient estimate. Default 10000.
  TORCH_ARG(int64_t, hsj_max_evals) = 10000;
  /// HopSkipJump: candidate starting images (M x C x H x W, pixels in [0,1], on any device;
  /// `--starting-images`). A sample starts from the first of them, in an order drawn from
  /// its own random stream, that the model classifies as the target (untargeted: as not its
  /// label), trying up to 100, one query each. `evaluate_attack` fills them from the data
  /// it attacks for a targeted HopSkipJump that has none. Default none (uniform noise only).
  TORCH_ARG(torch::Tensor, start_images) = {};
  /// HopSkipJump: int64 M, the labels of `start_images` (-1: unknown). Candidates are those
  /// labelled the target (untargeted: not the sample's label) or unknown. Default none (all
  /// unknown).
  TORCH_ARG(torch::Tensor, start_labels) = {};
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
  int64_t queries = 0;               ///< forward-only passes counted per sample (query attacks)
  /// Query attacks (Square, SPSA, HopSkipJump): int64 per sample, the images it showed the
  /// model (never above options().queries()). Undefined for the other attacks.
  torch::Tensor item_queries;
  /// HopSkipJump: the query counts at which `norm_at_queries` is read (1, 2, 5, 10, ... up to
  /// the budget, and the budget).
  std::vector<int64_t> query_grid;
  /// HopSkipJump: int64 per sample, where its search started: 0 the input itself (it already
  /// met the criterion), 1 uniform noise, 2 one of AttackOptions::start_images, -1 nowhere
  /// (no adversarial start found within the budget: the sample was not attacked).
  torch::Tensor start;
  /// HopSkipJump: N x query_grid.size(), the smallest adversarial perturbation found within
  /// each query count (+inf where none yet, 0 where the input already meets the criterion).
  torch::Tensor norm_at_queries;
  /// Minimal-norm attacks (FAB-T, C&W, DeepFool): the size, in the attack's norm, of the
  /// smallest adversarial perturbation found per sample (+inf where none was found, 0 where
  /// the input already meets the criterion). `adv`/`success` hold it only where it is within
  /// eps. Undefined for the other attacks.
  torch::Tensor min_norm;
  /// Ensembles (AutoAttack): per sample, the index in `stage_names()` of the stage that
  /// broke it, -1 where none did. Undefined for the other attacks.
  torch::Tensor stage;
  /// APGD (and ensembles whose first stage is APGD): per sample, whether the loss rose above
  /// its value at the starting point (true where the sample was broken). Undefined otherwise.
  torch::Tensor loss_rose;
  /// Ensembles: per stage, the points a stage reported broken that the final check (the
  /// model run once more on the returned example) did not confirm; they stay robust.
  std::vector<int64_t> stage_unconfirmed;
};

/// Base class: `run` is the non-virtual entry point.
class Attack {
 public:
  /// Checks `options` (throws InputError naming the bad option); steps -1 becomes 10.
  explicit Attack(AttackOptions options);
  /// The same with steps -1 becoming `own_steps` (the attack's `default_steps`).
  Attack(AttackOptions options, int64_t own_steps);
  virtual ~Attack() = default;

  /// Attacks `x` (pixels in [0,1], not modified) against `criterion`. `ids` (int64 per
  /// sample, default 0..N-1) key the per-sample random streams: pass the items' positions
  /// in the dataset to make results independent of batching.
  AttackResult run(Model& model, const torch::Tensor& x, const Criterion& criterion,
                   const torch::Tensor& ids = {}) const;

  /// The attack's name as `make_attack` takes it.
  virtual std::string name() const = 0;
  /// One line: the name and every option the attack uses.
  virtual std::string describe() const;
  /// Ensembles: the names of their stages, in order (empty otherwise).
  virtual std::vector<std::string> stage_names() const { return {}; }
  /// Minimal-norm attacks report `AttackResult::min_norm`.
  virtual bool minimal_norm() const { return false; }
  /// What the attack needs of the model: gradients (white box), scores or labels. `run`
  /// refuses a model opened at a lower access level (QueryModel).
  virtual Access access() const { return Access::kGradients; }
  /// The options it was built with.
  const AttackOptions& options() const { return options_; }

 protected:
  /// Attacks `x` (on the model's device) and fills `result`, which `run` has set to the
  /// input itself, no success and prediction -1. `ids` are on the CPU.
  virtual void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
                       const torch::Tensor& ids, AttackResult& result) const = 0;

  /// The model's logits for `x` without gradient; throws InputError unless the model gives
  /// N×K class logits with K >= `min_classes`.
  torch::Tensor clean_logits(Model& model, const torch::Tensor& x, int64_t min_classes = 2) const;
  /// Minimal-norm attacks: records `best` (the smallest adversarial found, `found` per
  /// sample) as min_norm, and as the result where it is within eps.
  void keep_within_eps(Model& model, const torch::Tensor& x, const torch::Tensor& best,
                       const torch::Tensor& found, const Criterion& criterion,
                       AttackResult& result) const;

  AttackOptions options_;       ///< as given to the constructor
  std::unique_ptr<Norm> norm_;  ///< the threat model of options_.norm()
};

/// Throws InputError naming the attack and both levels when `attack` needs more of a model
/// than `has` (a white-box attack on a model opened with --access scores, ...).
void check_access(const Attack& attack, Access has);

/// Keeps rows `keep` (int64 indices) of every tensor in `tensors` (undefined ones are
/// skipped): the active set of an early-stopping attack shrinks in one place.
void keep_rows(const torch::Tensor& keep, std::initializer_list<torch::Tensor*> tensors);

/// Records `adv` (one row per entry of `rows`, the batch positions) with its `logits` into
/// `result`: the example, the prediction and `success`.
void record_rows(AttackResult& result, const torch::Tensor& rows, const torch::Tensor& adv,
                 const torch::Tensor& logits, const torch::Tensor& success);

/// Counts one query for each of `rows` (batch positions): AttackResult::queries and
/// item_queries (created on first use).
void count_queries(AttackResult& result, const torch::Tensor& rows, int64_t n);

/// Checks that `logits` are N×K class scores with K >= `min_classes`, naming `attack`.
void check_logits(const torch::Tensor& logits, const std::string& attack, int64_t min_classes);

/// The attacks `make_attack` knows: fgsm, fgm (FGM-L2), bim, pgd, mifgsm, the transfer family
/// di-fgsm, ti-fgsm, ni-fgsm, si-fgsm, vmi-fgsm, apgd-ce, apgd-dlr, apgd-t, fab-t, square,
/// spsa, hopskipjump, cw, deepfool, autoattack.
const std::vector<std::string>& attack_names();

/// The number of steps an attack runs when none is asked for: 10 for the fixed-step family,
/// 100 for APGD, FAB-T, C&W (per binary search step) and AutoAttack, 50 for DeepFool and
/// 100 for SPSA (which also stops at its query budget); 100000 for HopSkipJump, whose query
/// budget ends it first.
int64_t default_steps(const std::string& name);

/// The options `foil attack` starts from for attack `name`: `default_steps(name)`, Linf (L2
/// for fgm and cw), a random start (taken by pgd), every other option at its default.
AttackOptions default_attack_options(const std::string& name);

/// Builds an attack by name. fgsm/fgm force one step of size eps without random start;
/// bim and mifgsm never start at random; `pgd` keeps `random_start` as given; apgd-ce and
/// apgd-dlr are APGD with that loss, apgd-t is targeted DLR over the top-k classes. Throws
/// InputError for unknown names or bad options.
std::unique_ptr<Attack> make_attack(const std::string& name, AttackOptions options);

}  // namespace foil
