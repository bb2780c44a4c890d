// The AutoAttack ensemble: at least as strong as each stage, no work on broken points,
// reproducible, independent of batching.
#include "foil/attacks/autoattack.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "attacks/attack_test_util.h"
#include "foil/attacks/evaluate.h"
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
      make_attack(name, AttackOptions().norm(name == "cw" || name == "fgm" ? "l2" : "linf"))
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

}  // namespace
}  // namespace foil
