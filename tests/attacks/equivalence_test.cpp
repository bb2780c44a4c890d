// foil's attacks against the same attacks written as torchattacks writes them, run by
// python3-torch on the same TorchScript model and inputs (scripts/make_fixtures.py).
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "foil/attacks/attack.h"
#include "foil/models/torchscript.h"
#include "test_util.h"

namespace foil {
namespace {

torch::Tensor ref(const std::string& name) {
  static torch::jit::Module holder = torch::jit::load(test::fixture("reference.pt"));
  return holder.attr(name).toTensor();
}

/// Max abs difference between foil's and the reference adversarial examples.
double diff(const std::string& attack, AttackOptions o, const std::string& key,
            bool targeted = false) {
  TorchScriptModel model(test::fixture("small_cnn.pt"));
  const auto x = ref("cnn_x"), y = ref("cnn_y");
  const Criterion c =
      targeted ? Criterion::targeted(y, ref("cnn_t")) : Criterion::misclassification(y);
  const auto adv = make_attack(attack, o)->run(model, x, c).adv;
  return (adv - ref(key)).abs().max().item<double>();
}

TEST(Equivalence, FgsmMatchesReference) {
  EXPECT_LT(diff("fgsm", AttackOptions().eps(0.1), "adv_fgsm"), 1e-5);
}

TEST(Equivalence, BimMatchesReference) {
  EXPECT_LT(diff("bim", AttackOptions().eps(0.1).alpha(0.02).steps(5), "adv_bim"), 1e-5);
}

TEST(Equivalence, PgdWithoutRandomStartMatchesReference) {
  auto o = AttackOptions().eps(0.1).alpha(0.02).steps(5).random_start(false);
  EXPECT_LT(diff("pgd", o, "adv_pgd"), 1e-5);
  EXPECT_LT(diff("pgd", o, "adv_pgd_targeted", /*targeted=*/true), 1e-5);
}

TEST(Equivalence, PgdL2MatchesReference) {
  auto o = AttackOptions().eps(1.0).alpha(0.3).steps(5).norm("l2").random_start(false);
  EXPECT_LT(diff("pgd", o, "adv_pgdl2"), 1e-5);
}

TEST(Equivalence, MiFgsmMatchesReference) {
  auto o = AttackOptions().eps(0.1).alpha(0.02).steps(5).decay(1.0);
  EXPECT_LT(diff("mifgsm", o, "adv_mifgsm"), 1e-5);
}

}  // namespace
}  // namespace foil
