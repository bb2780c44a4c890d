#pragma once
/// @file
/// Auto-PGD (Croce & Hein, ICML 2020, "Reliable evaluation of adversarial robustness
/// with an ensemble of diverse parameter-free attacks", Algorithm 1): APGD-CE, APGD-DLR and
/// the targeted APGD-T.

#include "foil/attacks/attack.h"

namespace foil {

/// APGD's step-size rule. Checkpoints after 22% of the steps, then at intervals shrinking by
/// 3% of the steps down to 6%. At a checkpoint a sample's step size is halved (and the
/// attack goes back to its best point) when (1) the loss rose in at most 75% of the steps
/// since the last checkpoint, or (2) the step was not halved at the last checkpoint and the
/// best loss has not improved since.
class ApgdSchedule {
 public:
  /// `step` per sample (initially 2·eps); `start_loss` the loss at the starting point.
  ApgdSchedule(int64_t steps, torch::Tensor step, torch::Tensor start_loss);
  /// Records the loss after one more iteration and the best loss so far; returns, per
  /// sample, whether the step was halved here (all false between checkpoints).
  torch::Tensor record(const torch::Tensor& loss, const torch::Tensor& best_loss);
  /// Whether the last record() was at a checkpoint (known on the host: no read-back).
  bool at_checkpoint() const { return checked_; }
  /// The current step size per sample.
  const torch::Tensor& step() const { return step_; }
  /// Keeps the samples `keep` (int64 indices).
  void keep(const torch::Tensor& keep);

 private:
  int64_t interval_, decrease_, min_interval_, since_check_ = 0;
  bool checked_ = false;
  torch::Tensor step_, last_loss_, increases_, best_at_check_, halved_at_check_;
};

/// APGD: from a random point of the eps-sphere, `steps` iterations of a projected step
/// along sign(grad) (Linf) or grad/||grad||_2 (L2) with momentum 0.75 and the step size of
/// `ApgdSchedule`, starting at 2·eps; the point of highest loss is kept per sample, and a
/// sample leaves the batch as soon as one iterate fools the model. `loss` "ce" or "dlr"
/// (targeted criteria use targeted CE / targeted DLR). `targeted_dlr` makes it APGD-T:
/// untargeted success, reached by targeted DLR runs towards each of the top-k classes of
/// the clean logits in turn (options().targets(), 0 = min(9, classes - 1)). Restarts attack
/// the samples still unbroken. With eot_samples > 1 each gradient is the mean over that many
/// passes (randomised defences). It always starts at a random point, as the paper and the
/// reference do (options().random_start() is set). Example:
/// `Apgd(AttackOptions().eps(8.0 / 255).steps(100).loss("ce"))`.
class Apgd : public Attack {
 public:
  /// `targeted_dlr`: APGD-T (targeted DLR over the top-k classes).
  Apgd(AttackOptions options, bool targeted_dlr);
  /// "apgd-ce", "apgd-dlr" or "apgd-t".
  std::string name() const override;
  std::string describe() const override;

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;

 private:
  class Run;
  bool targeted_dlr_;
};

}  // namespace foil
