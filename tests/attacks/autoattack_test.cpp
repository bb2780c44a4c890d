// The AutoAttack ensemble: at least as strong as each stage, no work on broken points,
// reproducible, independent of batching.
#include "foil/attacks/autoattack.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "attacks/attack_test_util.h"
#include "foil/attacks/apgd.h"
#include "foil/attacks/evaluate.h"
#include "foil/attacks/square.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

AttackOptions options(const std::string& version) {
  return AttackOptions().eps(0.03).steps(20).version(version).seed(1);
}

TEST(AutoAttack, NeverAboveAnyStageAndBrokenPointsAreNotAttackedAgain) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:60");
  auto crit = Criterion::misclassification(data.labels);
  auto aa = make_attack("autoattack", options("standard").steps(10).queries(100));
  ASSERT_EQ(aa->stage_names(), (std::vector<std::string>{"apgd-ce", "apgd-t", "fab-t", "square"}));
  auto r = aa->run(*model, data.images, crit);
  const auto robust = [&](const AttackResult& x) {
    return (x.pred.eq(data.labels) & x.success.logical_not()).sum().item<int64_t>();
  };
  // Each stage alone, on every point, with the same options.
  auto o = options("standard").steps(10).queries(100).random_start(true).early_stop(true);
  std::vector<AttackResult> alone;
  for (const std::string name : {"apgd-ce", "apgd-t", "fab-t", "square"}) {
    alone.push_back(make_attack(name, o)->run(*model, data.images, crit));
    EXPECT_LE(robust(r), robust(alone.back())) << name;
  }
  // The stage that broke a point did break it, and every point broken by a stage alone
  // is broken in the ensemble too.
  for (int64_t i = 0; i < data.size(); ++i) {
    const int64_t s = r.stage[i].item<int64_t>();
    if (s >= 0) EXPECT_TRUE(alone[s].success[i].item<bool>()) << i;
    for (const auto& a : alone)
      if (a.success[i].item<bool>()) EXPECT_TRUE(r.success[i].item<bool>()) << i;
  }
  // Stage 2 runs only on what stage 1 left: the ensemble's gradient count equals APGD-CE on
  // all points plus APGD-T on exactly those (the fast version: no other stage).
  auto fast = make_attack("autoattack", options("fast"));
  auto rf = fast->run(*model, data.images, crit);
  auto ce = make_attack("apgd-ce", options("fast").random_start(true).early_stop(true));
  auto first = ce->run(*model, data.images, crit);
  const auto left = first.success.logical_not().nonzero().flatten();
  // (the fast version's APGD-T: the top-3 targets)
  auto second =
      make_attack("apgd-t", options("fast").targets(3).random_start(true).early_stop(true))
          ->run(*model, data.images.index_select(0, left), crit.select(left), left);
  EXPECT_EQ(rf.gradient_evaluations, first.gradient_evaluations + second.gradient_evaluations);
  EXPECT_LT(second.gradient_evaluations, make_attack("apgd-t", options("fast").targets(3))
                                             ->run(*model, data.images, crit)
                                             .gradient_evaluations);
}

TEST(AutoAttack, EvaluationReportsEveryStage) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:100");
  auto ev = evaluate_attack(*model, data, *make_attack("autoattack", options("fast")),
                            EvaluationOptions().batch(40));
  ASSERT_EQ(ev.stage_robust_accuracy.size(), 2u);
  EXPECT_GE(ev.clean_accuracy, ev.stage_robust_accuracy[0]);
  EXPECT_GE(ev.stage_robust_accuracy[0], ev.stage_robust_accuracy[1]);
  EXPECT_DOUBLE_EQ(ev.stage_robust_accuracy[1], ev.robust_accuracy);
  // broken_by agrees with the accuracies.
  const auto correct = ev.clean_pred.eq(ev.labels);
  EXPECT_EQ(ev.broken_by.eq(-2).sum().item<int64_t>(), (~correct).sum().item<int64_t>());
  EXPECT_NEAR(ev.broken_by.eq(-1).sum().item<double>() / ev.n, ev.robust_accuracy, 1e-12);
  auto j = ev.to_json();
  EXPECT_EQ(j["broken_by"].size(), 100u);
  EXPECT_EQ(j["stages"][1]["stage"], "apgd-t");
}

TEST(AutoAttack, SameSeedSameResultAndBatchEqualsPerSample) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:5");
  auto aa = make_attack("autoattack", options("standard").steps(10).queries(40).eps(0.02));
  test::expect_reproducible_and_batch_independent(
      *aa, *model, data.images, Criterion::misclassification(data.labels), "autoattack");
}

/// A "model" whose output is an image, not class logits.
class ImageOut : public Model {
 public:
  ImageOut() { info_.name = "image-out"; }
  std::vector<std::string> layer_names() const override { return {"out"}; }
  void to(c10::Device) override {}

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    return {x * 2, {}};
  }
};

TEST(AutoAttack, RejectsTargetsAndModelsWithoutLogits) {
  ImageOut image_out;
  auto x = torch::rand({2, 1, 4, 4});
  auto y = torch::zeros({2}, torch::kLong);
  for (const auto& name : attack_names()) {
    try {
      // (ti-fgsm needs its kernel given on images this small: another refusal)
      make_attack(name, AttackOptions()
                            .norm(name == "cw" || name == "fgm" ? "l2" : "linf")
                            .ti_kernel(name == "ti-fgsm" ? 3 : -1))
          ->run(image_out, x, Criterion::misclassification(y));
      ADD_FAILURE() << name << " accepted a model without class logits";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("class logits"), std::string::npos) << name;
    }
  }
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:4");
  auto targeted = Criterion::targeted(data.labels, (data.labels + 1).remainder(10));
  EXPECT_THROW(make_attack("autoattack", options("fast"))->run(*model, data.images, targeted),
               InputError);
  EXPECT_THROW(make_attack("autoattack", options("thorough")), InputError);
  EXPECT_THROW(make_attack("apgd-t", options("fast").targets(10))
                   ->run(*model, data.images, Criterion::misclassification(data.labels)),
               InputError);
}

/// Fooled only inside an attack's loop: with gradients on for the input it answers with the
/// scores rolled by one class; run plainly (the final check, the clean pass) it is the CNN.
class FooledOnlyInTheLoop : public test::WrappedModel {
 public:
  using WrappedModel::WrappedModel;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    const torch::Tensor y = inner().forward(x);
    return {x.requires_grad() ? y.roll(1, 1) : y, {}};
  }
};

// Issue #36 item 1: robust accuracy comes from the final check, per stage and in total.
TEST(AutoAttack, InLoopSuccessesThatFailTheFinalCheckStayRobust) {
  FooledOnlyInTheLoop model(test::cnn_model());
  auto data = load_data("fashion-mnist:test:30");
  auto ev = evaluate_attack(model, data, *make_attack("autoattack", options("fast").steps(5)),
                            EvaluationOptions().batch(16));
  EXPECT_GT(ev.in_loop_successes, 0);
  EXPECT_EQ(ev.unconfirmed, ev.in_loop_successes);
  EXPECT_DOUBLE_EQ(ev.robust_accuracy, ev.clean_accuracy);
  ASSERT_EQ(ev.stage_unconfirmed.size(), 2u);
  EXPECT_GT(ev.stage_unconfirmed[0], 0);
  EXPECT_EQ(ev.broken, 0);
  const auto j = ev.to_json();
  EXPECT_TRUE(j["perturbation"]["linf_max"].is_null());
  EXPECT_EQ(j["final_check"]["unconfirmed"].get<int64_t>(), ev.unconfirmed);
  EXPECT_EQ(j["stages"][0]["unconfirmed"].get<int64_t>(), ev.stage_unconfirmed[0]);
  // A plain attack is judged the same way.
  auto pgd = evaluate_attack(
      model, data, *make_attack("pgd", AttackOptions().eps(0.1).steps(3).early_stop(true)),
      EvaluationOptions());
  EXPECT_GT(pgd.unconfirmed, 0);
  EXPECT_DOUBLE_EQ(pgd.robust_accuracy, pgd.clean_accuracy);
}

// Item 5: robust points come back as the clean input; perturbation sizes are over the broken.
TEST(AutoAttack, RobustPointsComeBackCleanAndSizesAreOverTheBroken) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:40");
  auto crit = Criterion::misclassification(data.labels);
  auto r = make_attack("autoattack", options("fast").steps(5))->run(*model, data.images, crit);
  const auto robust = r.success.logical_not().nonzero().flatten();
  ASSERT_GT(robust.numel(), 0);
  EXPECT_TRUE(r.adv.index_select(0, robust).equal(data.images.index_select(0, robust)));
  auto ev = evaluate_attack(*model, data, *make_attack("autoattack", options("fast").steps(5)),
                            EvaluationOptions().keep_adv(true));
  ASSERT_GT(ev.broken, 0);
  const auto broken = (ev.clean_pred.eq(ev.labels) & ev.adv_pred.ne(ev.labels));
  EXPECT_EQ(ev.broken, broken.sum().item<int64_t>());
  const auto l2 = (ev.adv - data.images).flatten(1).to(torch::kDouble).norm(2, 1);
  EXPECT_NEAR(ev.l2_mean, l2.masked_select(broken).mean().item<double>(), 1e-9);
}

// Item 2: inside AutoAttack, Square follows the raw query count (resc_schedule=False); alone
// it rescales its schedule to its budget (the reference SquareAttack's default).
TEST(AutoAttack, SquareInsideFollowsTheRawSchedule) {
  const auto aa = make_attack("autoattack", options("standard"));
  EXPECT_NE(aa->describe().find("schedule=raw"), std::string::npos) << aa->describe();
  EXPECT_NE(make_attack("square", options("standard"))->describe().find("schedule=rescaled"),
            std::string::npos);
  EXPECT_TRUE(AttackOptions().square_rescale());
  // By hand from the reference's p_selection: proposal 4999 of 5000 is past 4000 raw
  // (p_init / 128) but past 8000 once rescaled to 10000 (p_init / 512).
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 4999, 5000, false), 0.8 / 128);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 4999, 5000, true), 0.8 / 512);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 10, 5000, false), 0.8);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 11, 5000, false), 0.4);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 300, 5000, false), 0.1);
  EXPECT_DOUBLE_EQ(Square::square_share(0.8, 300, 5000, true), 0.8 / 16);
}

// Item 7: APGD built through the C++ API starts at a random point, as the paper.
TEST(AutoAttack, ApgdStartsAtRandomByDefault) {
  Apgd apgd(AttackOptions().eps(0.05).steps(1), false);
  EXPECT_TRUE(apgd.options().random_start());
  EXPECT_NE(apgd.describe().find("random_start=true"), std::string::npos);
}

}  // namespace
}  // namespace foil