#pragma once
/// @file
/// The AutoAttack ensemble (Croce & Hein, ICML 2020): diverse parameter-free attacks
/// run in cascade, each on the points the earlier ones left robust.

#include <memory>
#include <vector>

#include "foil/attacks/attack.h"

namespace foil {

/// AutoAttack. "standard": APGD-CE, APGD-T (top-9 targets), FAB-T (top-9 targets), Square
/// (5000 queries), in that order; "fast" (foil's, for quick audits): APGD-CE and APGD-T over
/// the top-3 targets (`targets` overrides both). Every stage attacks only
/// the points still robust, with early stop, random starts and the per-sample streams of
/// `seed`; `steps` (default 100) is the stages' iteration count, `restarts` theirs too.
/// A point is robust only when it is classified correctly and no stage broke it; `stage`
/// in the result says which stage broke each point. Untargeted only. Example:
/// `AutoAttack(AttackOptions().eps(8.0 / 255).steps(100).version("standard"))`.
class AutoAttack : public Attack {
 public:
  /// Builds the stages of options.version().
  explicit AutoAttack(AttackOptions options);
  /// "autoattack".
  std::string name() const override { return "autoattack"; }
  std::string describe() const override;
  std::vector<std::string> stage_names() const override;

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;

 private:
  std::vector<std::unique_ptr<Attack>> stages_;
};

}  // namespace foil
