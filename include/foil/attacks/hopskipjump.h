#pragma once
/// @file
/// HopSkipJump (Chen, Jordan & Wainwright, IEEE S&P 2020): a decision-based attack that sees
/// only the model's top label and finds a small adversarial perturbation within a query budget.

#include "foil/attacks/attack.h"

namespace foil {

/// Untargeted or targeted HopSkipJump, L2 or Linf, as the authors' reference hsja.py:
/// start from uniform noise the model misclassifies (up to 100 draws), blended towards the
/// input by binary search (tolerance 0.001), then per iteration t = 1, 2, ...:
///   binary search to the boundary (tolerance theta = gamma / (d sqrt d) for L2, gamma / d^2
///   for Linf, gamma = 1; Linf thresholds min(theta, theta * dist));
///   gradient-direction estimate from n_t = min(hsj_init_evals * sqrt(t), hsj_max_evals)
///   decisions at the boundary point plus delta * u (u uniform on the sphere for L2, in the
///   cube for Linf; delta = 0.1 at t = 1, then sqrt(d) theta dist (L2) or d theta dist (Linf)
///   of the last pre-search distance), baseline-subtracted;
///   geometric step-size search from dist / sqrt(t), halved until adversarial;
/// and the result per sample is the smallest perturbation found (min_norm; within eps it is
/// the returned example). Each sample stops at its query budget (options().queries(),
/// counted per image shown, the first look at the clean input included): every phase is cut
/// to the queries the sample has left, so item_queries never exceed it. `norm_at_queries`
/// records the best norm within 1, 2, 5, 10, ... queries. Labels only: never reads a score.
/// `pred` stays -1 (the evaluation's final check predicts; a query for it would pass the budget).
/// Example: `HopSkipJump(AttackOptions().norm("l2").eps(1).queries(1000))`.
class HopSkipJump : public Attack {
 public:
  /// Checks the options it uses.
  explicit HopSkipJump(AttackOptions options) : Attack(std::move(options)) {}
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
