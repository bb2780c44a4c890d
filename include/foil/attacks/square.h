#pragma once
/// @file
/// Square attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020): a score-based
/// black-box attack. It never calls backward, so it also judges models whose gradient is
/// missing or misleading (gradient masking).

#include "foil/attacks/attack.h"

namespace foil {

/// Random search over square-shaped updates. Linf: starts from vertical stripes of ±eps and
/// sets a random square (per sample, all channels, a random sign each) to ±eps; L2: starts
/// from a grid of centred pseudo-Gaussian blobs and moves perturbation mass from one random
/// square to another, always with norm eps. A proposal is kept when it lowers the margin
/// z_y - max_{i != y} z_i (targeted: lowers the cross-entropy to the target, as the reference),
/// or fools the model; the square covers a share p of the pixels, p_init (0.8) halved after
/// 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10000 queries (rescaled to `queries`
/// unless options().square_rescale() is false, as inside AutoAttack). One query = one forward
/// pass per sample, the first look at the clean input included, so a sample makes at most
/// `queries` of them (the start and queries - 2 proposals; the reference does not count its
/// clean look and makes one proposal more); a sample stops once fooled. Every sample has its own
/// random stream (options().seed() and its id). Example:
/// `Square(AttackOptions().eps(0.05).queries(5000))`.
class Square : public Attack {
 public:
  /// Checks the options it uses.
  explicit Square(AttackOptions options) : Attack(std::move(options)) {}
  /// The name `make_attack` takes.
  std::string name() const override { return "square"; }
  std::string describe() const override;
  /// Scores.
  Access access() const override { return Access::kScores; }

  /// The share of pixels the square of proposal `query` (0-based) covers, the schedule
  /// rescaled to `queries` when `rescale` (the reference's p_selection).
  static double square_share(double p_init, int64_t query, int64_t queries, bool rescale = true);
  /// The L2 update pattern on an s×s window: its top half a centred blob, its bottom half
  /// the negative one, unit L2 norm.
  static torch::Tensor l2_pattern(int64_t s);

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;
};

}  // namespace foil
