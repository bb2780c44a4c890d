#pragma once
/// @file
/// The transfer-enhancing family built on MI-FGSM: input diversity (DI, Xie et al. 2019),
/// translation invariance (TI, Dong et al. 2019), Nesterov look-ahead and scale invariance
/// (NI, SI, Lin et al. 2020) and variance tuning (VMI, Wang & He 2021), composable as in the
/// papers. Crafted on a surrogate (or an EnsembleModel of several), evaluated on the target.
///
/// Each name is the composition of torchattacks' class of that name, defaults beside the
/// papers':
///   di-fgsm   DIFGSM: MI + DI (q 0.5, resize 0.9; Xie et al.: q 0.5, 299 grown to < 330 px)
///   ti-fgsm   TIFGSM: MI + DI + TI (15 px kernel at 299 px, scaled; Dong et al.: 15 px).
///             torchattacks' TIFGSM defaults to decay 0; foil keeps --decay (1.0, TI-DIM).
///   ni-fgsm   NIFGSM: MI + NI
///   si-fgsm   MI + SI (5 scales): Lin et al.'s SIM alone, not torchattacks' SINIFGSM
///   sini-fgsm SINIFGSM: MI + NI + SI (5 scales, as Lin et al.)
///   vmi-fgsm  VMIFGSM: MI + VMI with 20 neighbours, beta 1.5 as Wang & He and their code
///             (torchattacks defaults to 5 neighbours)

#include <string>

#include "foil/attacks/attack.h"

namespace foil {

/// Whether `name` is one of di-fgsm, ti-fgsm, ni-fgsm, si-fgsm, sini-fgsm, vmi-fgsm.
bool is_transfer_attack(const std::string& name);

/// The smallest TI kernel side that smooths (a 3-px kernel sampled over +-3 sigma keeps 96% of
/// its weight in the centre).
inline constexpr int64_t kMinTiKernel = 5;
/// The smallest image side ti-fgsm's scaled kernel reaches kMinTiKernel at; below it ti-fgsm
/// needs an explicit `ti_kernel`.
inline constexpr int64_t kMinTiImage = 70;

/// DI's resized side for an image side `side`, the share `resize` and a uniform draw `u` in
/// [0,1): lo + floor(u * (side - lo)) with lo = floor(resize * side) (at least 1), at most
/// side - 1, as torchattacks' randint(int(side * resize), side). `side` >= 2.
int64_t diversity_side(int64_t side, double resize, double u);

/// MI-FGSM with the transfer components; each step, from x_t with momentum g_t:
///   p = x_t + alpha * decay * g_t with NI, else x_t;
///   h = (1/m) sum_{i<m} grad L(DI(p / 2^i)) (SI: m scales; DI: with probability `q` a
///       bilinear resize of the image to a side drawn from [floor(resize * side), side - 1],
///       zero-padded back to its size at a random place, per sample);
///   u = TI(h + v_t): h plus VMI's variance, smoothed by a k x k Gaussian (sigma = k/6);
///   g_{t+1} = u / mean|u| + decay * g_t;  x_{t+1} = clip(x + Proj_eps(x_t + alpha dir(g) - x));
///   v_{t+1} = (1/N) sum_{j<N} h(x_t + r_j) - h(x_t), r_j uniform in [-beta eps, beta eps].
/// With q = 0, k = 1, m = 1, N = 0 and no NI it is MI-FGSM bit for bit. DI shrinks and pads
/// (as torchattacks) rather than growing to 330 px as Xie et al. on 299 px Inception, so the
/// model takes the image at its own size. Random draws come from each sample's stream
/// (torchattacks draws DI once per batch). TI's default kernel on images under kMinTiImage px
/// is refused: give `ti_kernel`.
/// Example: `TransferFgsm("vmi-fgsm", AttackOptions().eps(0.1).alpha(0.01).steps(10))`.
class TransferFgsm : public Attack {
 public:
  /// `name` picks which components are on by default (see AttackOptions: -1 = the attack's own).
  TransferFgsm(std::string name, AttackOptions options);
  /// The name `make_attack` takes.
  std::string name() const override { return name_; }
  std::string describe() const override;
  /// DI's probability, as resolved.
  double diversity() const { return diversity_; }
  /// TI's kernel side for images of height `height`, as resolved.
  int64_t kernel(int64_t height) const;
  /// SI's number of scales, as resolved.
  int64_t scales() const { return scales_; }
  /// VMI's number of neighbours, as resolved.
  int64_t variance_samples() const { return variance_samples_; }
  /// Whether NI's look-ahead is on.
  bool nesterov() const { return nesterov_; }

 protected:
  void perturb(Model& model, const torch::Tensor& x, const Criterion& criterion,
               const torch::Tensor& ids, AttackResult& result) const override;

 private:
  std::string name_;
  double diversity_;
  int64_t scales_, variance_samples_;
  bool nesterov_;
};

}  // namespace foil
