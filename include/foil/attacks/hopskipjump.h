#pragma once
/// @file
/// HopSkipJump (Chen, Jordan & Wainwright, IEEE S&P 2020): a decision-based attack that sees
/// only the model's top label and finds a small adversarial perturbation within a query budget.

#include "foil/attacks/attack.h"

namespace foil {

/// Untargeted or targeted HopSkipJump, L2 or Linf, as the authors' reference hsja.py. The
/// start: the first of `start_images` (in an order drawn from the sample's own stream, up to
/// 100 tries) that the model classifies as the target (untargeted: not as the label), as the
/// authors' targeted runs start from an image of the target class; `evaluate_attack` gives a
/// targeted run the attacked data as candidates. Else uniform noise that meets the criterion
/// (up to 100 draws). Either is blended towards the input by binary search (tolerance 0.001),
/// then per iteration t = 1, 2, ... (up to `steps`; the default, -1, is the CLI's 100000: the
/// query budget ends it):
///   binary search to the boundary (tolerance theta = gamma / (d sqrt d) for L2, gamma / d^2
///   for Linf, gamma = 1; Linf thresholds min(theta, theta * dist));
///   gradient-direction estimate from n_t = min(hsj_init_evals * sqrt(t), hsj_max_evals)
///   decisions at the boundary point plus delta * u (u uniform on the sphere for L2, in the
///   cube for Linf; delta = 0.1 at t = 1, then sqrt(d) theta dist (L2) or d theta dist (Linf)
///   of the last pre-search distance), baseline-subtracted;
///   geometric step-size search from dist / sqrt(t), halved until adversarial;
/// and the result per sample is the smallest perturbation found (min_norm; within eps it is
/// the returned example). Each sample stops at its query budget (options().queries(),
/// counted per image shown, the first look at the clean input and every start candidate
/// included): every phase is cut to the queries the sample has left, so item_queries never
/// exceed it. `start` says where each sample started (-1: nowhere, not attacked).
/// `norm_at_queries` records the best norm within 1, 2, 5, 10, ... queries. Labels only:
/// never reads a score. `pred` stays -1 (the evaluation's final check predicts; a query for
/// it would pass the budget).
/// Example: `HopSkipJump(AttackOptions().norm("l2").eps(1).queries(1000))`; targeted from
/// images of the target class: `HopSkipJump(AttackOptions().start_images(images)
/// .start_labels(labels)).run(model, x, Criterion::targeted(y, targets))`.
class HopSkipJump : public Attack {
 public:
  /// Checks the options it uses; steps -1 becomes `default_steps("hopskipjump")`.
  explicit HopSkipJump(AttackOptions options)
      : Attack(std::move(options), default_steps("hopskipjump")) {}
  /// "hopskipjump".
  std::string name() const override { return "hopskipjump"; }
  std::string describe() const override;
  /// Minimal norm.
  bool minimal_norm() const override { return true; }
  /// Labels.
  Access access() const override { return Access::kLabels; }
  /// The query counts norm_at_queries is read at: 1, 2, 5, 10, 20, ... below `budget`, and
  /// `budget`.
  static std::vector<int64_t> query_grid(int64_t budget);

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
