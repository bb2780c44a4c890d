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
/// the top-3 targets (`targets` overrides both), gradient attacks only, so an upper bound;
/// "rand" (for randomised models, as the reference's): APGD-CE and APGD-DLR with EOT over 20
/// passes. Every stage attacks only the points still robust, with early stop, random starts
/// and the per-sample streams of `seed`; `steps` (default 100) is the stages' iteration
/// count, `restarts` theirs too. Inside the ensemble Square's schedule follows the raw query
/// count, as the reference builds it. A point is robust unless a stage's returned example,
/// run through the model once more, fools it (the reference's final check; the stage's
/// successes that fail it are counted in `stage_unconfirmed`); robust points come back as
/// the clean input; `stage` in the result says which stage broke each point. Untargeted only.
/// Example: `AutoAttack(AttackOptions().eps(8.0 / 255).steps(100).version("standard"))`.
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
