// The transfer family: its reduction to MI-FGSM, each name's composition as torchattacks' class
// of that name, DI's resize range and TI's kernel.
#include "foil/attacks/transfer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <map>

#include "attack_test_util.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(TransferAttacks, NeutralSettingsAreMiFgsmBitForBit) {
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:8", model->info().input);
  const Criterion crit = Criterion::misclassification(data.labels);
  const AttackOptions o = AttackOptions().eps(0.1).alpha(0.02).steps(5).seed(4);
  const AttackResult mi = make_attack("mifgsm", o)->run(*model, data.images, crit);
  const AttackOptions neutral =
      AttackOptions(o).input_diversity(0).ti_kernel(1).si_scales(1).vmi_samples(0);
  for (const char* name : {"di-fgsm", "ti-fgsm", "si-fgsm", "vmi-fgsm"}) {
    const AttackResult r = make_attack(name, neutral)->run(*model, data.images, crit);
    EXPECT_TRUE(r.adv.equal(mi.adv)) << name;
    // Their own settings change the examples (each component is really used); TI needs an
    // explicit kernel on 28-px images.
    const AttackResult own =
        make_attack(name, AttackOptions(o).ti_kernel(std::string(name) == "ti-fgsm" ? 5 : -1))
            ->run(*model, data.images, crit);
    EXPECT_FALSE(own.adv.equal(mi.adv)) << name;
    EXPECT_LE((own.adv - data.images).abs().max().item<double>(), 0.1 + 1e-6) << name;
  }
  for (const char* name : {"ni-fgsm", "sini-fgsm"})
    EXPECT_FALSE(make_attack(name, o)->run(*model, data.images, crit).adv.equal(mi.adv)) << name;
  test::expect_reproducible_and_batch_independent(
      *make_attack("vmi-fgsm", AttackOptions(o).input_diversity(0.7).vmi_samples(3)), *model,
      data.images, crit, "vmi-di-fgsm");
}

TEST(TransferAttacks, EachNameIsTorchattacksComposition) {
  const AttackOptions o = AttackOptions().eps(0.1).alpha(0.02).steps(5);
  // TIFGSM includes DI; SINIFGSM is NI + SI; si-fgsm is SI alone; VMI as Wang & He: 20.
  const TransferFgsm ti("ti-fgsm", o), sini("sini-fgsm", o), si("si-fgsm", o), di("di-fgsm", o),
      vmi("vmi-fgsm", o), ni("ni-fgsm", o);
  EXPECT_DOUBLE_EQ(ti.diversity(), 0.5);
  EXPECT_DOUBLE_EQ(di.diversity(), 0.5);
  EXPECT_DOUBLE_EQ(sini.diversity(), 0.0);
  EXPECT_TRUE(sini.nesterov());
  EXPECT_EQ(sini.scales(), 5);
  EXPECT_FALSE(si.nesterov());
  EXPECT_EQ(si.scales(), 5);
  EXPECT_TRUE(ni.nesterov());
  EXPECT_EQ(ni.scales(), 1);
  EXPECT_EQ(vmi.variance_samples(), 20);
  EXPECT_EQ(di.variance_samples(), 0);
  EXPECT_EQ(TransferFgsm("vmi-fgsm", AttackOptions(o).vmi_samples(5)).variance_samples(), 5);
  EXPECT_NE(make_attack("sini-fgsm", o)->describe().find("nesterov=true"), std::string::npos);
}

TEST(TransferAttacks, DiverseSizesAreTorchattacksRangeAndNeverTheNoOp) {
  // randint(int(side * 0.9), side): 28 px -> 25, 26 or 27, each about a third of the draws.
  std::map<int64_t, int> seen;
  torch::manual_seed(3);
  const torch::Tensor u = torch::rand({3000}, torch::kDouble);
  for (int64_t i = 0; i < u.size(0); ++i) ++seen[diversity_side(28, 0.9, u[i].item<double>())];
  ASSERT_EQ(seen.size(), 3u);
  for (int64_t side : {25, 26, 27}) {
    EXPECT_GT(seen[side], 900) << side;
    EXPECT_LT(seen[side], 1100) << side;
  }
  // The ends of the draw, and images under 10 px still resized (int(9 * 0.9) = 8).
  EXPECT_EQ(diversity_side(28, 0.9, 0.0), 25);
  EXPECT_EQ(diversity_side(28, 0.9, 0.999999), 27);
  EXPECT_EQ(diversity_side(9, 0.9, 0.5), 8);
  EXPECT_EQ(diversity_side(299, 0.9, 0.0), 269);
  EXPECT_EQ(diversity_side(2, 1.0, 0.3), 1);  // resize 1: still never the no-op size
}

TEST(TransferAttacks, TiKernelScalesAndIsRefusedWhereItCannotSmooth) {
  const AttackOptions o = AttackOptions().eps(0.1).alpha(0.02).steps(5);
  const TransferFgsm ti("ti-fgsm", o);
  EXPECT_EQ(ti.kernel(299), 15);
  EXPECT_EQ(ti.kernel(224), 11);
  EXPECT_EQ(ti.kernel(kMinTiImage), kMinTiKernel);
  EXPECT_THROW(ti.kernel(kMinTiImage - 1), InputError);
  EXPECT_THROW(ti.kernel(28), InputError);
  EXPECT_EQ(TransferFgsm("ti-fgsm", AttackOptions(o).ti_kernel(3)).kernel(28), 3);
  EXPECT_EQ(TransferFgsm("di-fgsm", o).kernel(28), 1);
  // On a model of 28-px images the refusal names the flag before any result.
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:2", model->info().input);
  try {
    make_attack("ti-fgsm", o)->run(*model, data.images, Criterion::misclassification(data.labels));
    ADD_FAILURE() << "ti-fgsm on 28 px ran without a kernel";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--ti-kernel"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace foil
