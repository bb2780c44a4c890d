// Properties every attack must have, on a tiny fixed model and on the trained CNN.
#include "foil/attacks/attack.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

using test::LinearModel;

struct Case {
  std::string attack, norm;
};

std::vector<Case> all_cases() {
  return {{"fgsm", "linf"}, {"fgm", "l2"}, {"bim", "linf"},    {"bim", "l2"},
          {"pgd", "linf"},  {"pgd", "l2"}, {"mifgsm", "linf"}, {"mifgsm", "l2"}};
}

TEST(Attack, FgsmOnLinearModelIsEpsTimesSignOfWeights) {
  torch::manual_seed(1);
  auto w = torch::randn({2, 16});
  LinearModel m(w);
  // Inputs in the middle of [0,1], so clipping does not interfere.
  auto x = torch::full({1, 1, 4, 4}, 0.5);
  auto y = torch::tensor({0}, torch::kLong);
  auto adv = make_attack("fgsm", AttackOptions().eps(0.05))
                 ->run(m, x, Criterion::misclassification(y))
                 .adv;
  // The loss gradient for label 0 of a 2-class linear model is p1 * (w1 - w0).
  auto expected = 0.05 * (w[1] - w[0]).sign().view({1, 1, 4, 4});
  EXPECT_TRUE((adv - x).allclose(expected, 1e-6, 1e-7));
}

TEST(Attack, PerturbationStaysInBallAndImageInRange) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:64");
  for (const auto& c : all_cases()) {
    const double eps = c.norm == "linf" ? 0.1 : 1.5;
    auto o = AttackOptions().eps(eps).alpha(eps / 4).steps(5).norm(c.norm).random_start(true);
    auto r = make_attack(c.attack, o)
                 ->run(*model, data.images, Criterion::misclassification(data.labels));
    auto delta = (r.adv - data.images).flatten(1);
    const double size =
        c.norm == "linf" ? delta.abs().max().item<double>() : delta.norm(2, 1).max().item<double>();
    EXPECT_LE(size, eps + 1e-5) << c.attack << " " << c.norm;
    EXPECT_GE(r.adv.min().item<float>(), 0.0f);
    EXPECT_LE(r.adv.max().item<float>(), 1.0f);
    EXPECT_GT(r.success.sum().item<int64_t>(), 0) << c.attack << " " << c.norm;
  }
}

TEST(Attack, InputIsNotMutated) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:16");
  auto copy = data.images.clone();
  make_attack("pgd", AttackOptions().eps(0.1).steps(3))
      ->run(*model, data.images, Criterion::misclassification(data.labels));
  EXPECT_TRUE(copy.equal(data.images));
}

TEST(Attack, EpsZeroIsIdentity) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:16");
  for (const auto& c : all_cases()) {
    auto r = make_attack(c.attack, AttackOptions().eps(0).steps(3).norm(c.norm).random_start(true))
                 ->run(*model, data.images, Criterion::misclassification(data.labels));
    EXPECT_TRUE(r.adv.equal(data.images)) << c.attack << " " << c.norm;
  }
}

TEST(Attack, BatchResultEqualsPerSampleResults) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:8");
  for (const auto& c : all_cases()) {
    const double eps = c.norm == "linf" ? 0.05 : 1.0;
    auto attack =
        make_attack(c.attack, AttackOptions().eps(eps).alpha(eps / 5).steps(4).norm(c.norm));
    auto batch = attack->run(*model, data.images, Criterion::misclassification(data.labels)).adv;
    for (int64_t i = 0; i < data.size(); ++i) {
      auto one = attack
                     ->run(*model, data.images.slice(0, i, i + 1),
                           Criterion::misclassification(data.labels.slice(0, i, i + 1)))
                     .adv;
      EXPECT_LT((one - batch.slice(0, i, i + 1)).abs().max().item<double>(), 1e-4)
          << c.attack << " " << c.norm << " item " << i;
    }
  }
}

TEST(Attack, TargetedAttackReachesTheTarget) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:100");
  auto targets = (data.labels + 3).remainder(10);
  auto r = make_attack("pgd", AttackOptions().eps(0.2).alpha(0.02).steps(20))
               ->run(*model, data.images, Criterion::targeted(data.labels, targets));
  EXPECT_GE(r.pred.eq(targets).to(torch::kFloat).mean().item<double>(), 0.9);
  EXPECT_TRUE(r.success.equal(r.pred.eq(targets)));
}

TEST(Attack, EarlyStopKeepsEverySuccessAndReportsPredictions) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:200");
  auto o = AttackOptions().eps(0.1).alpha(0.01).steps(10).random_start(false);
  auto crit = Criterion::misclassification(data.labels);
  auto full = make_attack("pgd", o)->run(*model, data.images, crit);
  auto early = make_attack("pgd", o.early_stop(true))->run(*model, data.images, crit);
  // Early stop stores each sample's first successful iterate: still adversarial.
  torch::NoGradGuard g;
  auto pred = model->forward(early.adv).argmax(1);
  EXPECT_TRUE(pred.equal(early.pred));
  EXPECT_TRUE(early.success.equal(pred.ne(data.labels)));
  EXPECT_LT(early.gradient_evaluations, full.gradient_evaluations);
  EXPECT_GE(early.success.sum().item<int64_t>(), full.success.sum().item<int64_t>() - 2);
}

TEST(Attack, TargetSpecsParseAndPickValidTargets) {
  EXPECT_EQ(TargetSpec::parse("", 10).mode, TargetSpec::Mode::kNone);
  EXPECT_EQ(TargetSpec::parse("7", 10).label, 7);
  EXPECT_THROW(TargetSpec::parse("12", 10), InputError);
  EXPECT_THROW(TargetSpec::parse("most-likely", 10), InputError);
  auto labels = torch::arange(10, torch::kLong);
  auto logits = torch::randn({10, 10});
  auto random = make_criterion(TargetSpec::parse("random", 10), labels, logits, 0, 0);
  EXPECT_TRUE(random.targets().ne(labels).all().item<bool>());
  // Random targets do not depend on how the data is batched.
  auto second_half =
      make_criterion(TargetSpec::parse("random", 10), labels.slice(0, 5), logits.slice(0, 5), 0, 5);
  EXPECT_TRUE(second_half.targets().equal(random.targets().slice(0, 5)));
  auto ll = make_criterion(TargetSpec::parse("least-likely", 10), labels, logits, 0, 0);
  EXPECT_TRUE(ll.targets().equal(logits.argmin(1)));
}

TEST(Attack, L2WithZeroGradientOrEpsZeroStaysFinite) {
  // A zero gradient (all-zero weights) without random start leaves delta = 0; the L2
  // projection must not turn 0/0 into NaN.
  LinearModel m(torch::zeros({2, 16}));
  auto x = torch::full({2, 1, 4, 4}, 0.5);
  auto y = torch::tensor({0, 1}, torch::kLong);
  for (double eps : {0.0, 0.5})
    for (const std::string name : {"pgd", "bim", "fgm"}) {
      auto r = make_attack(name, AttackOptions().eps(eps).norm("l2").random_start(false))
                   ->run(m, x, Criterion::misclassification(y));
      EXPECT_TRUE(r.adv.equal(x)) << name << " eps " << eps;
    }
}

TEST(Attack, AmbiguousOptionsAreRefused) {
  // Restarts without a random start would repeat one deterministic attack.
  EXPECT_THROW(make_attack("pgd", AttackOptions().restarts(3).random_start(false)), InputError);
  EXPECT_THROW(make_attack("bim", AttackOptions().restarts(2)), InputError);
  EXPECT_NO_THROW(make_attack("pgd", AttackOptions().restarts(3).random_start(true)));
  // fgm is the L2 form: Linf would silently run L2.
  EXPECT_THROW(make_attack("fgm", AttackOptions().norm("linf")), InputError);
  EXPECT_EQ(make_attack("fgm", AttackOptions().norm("l2"))->name(), "fgm");
}

TEST(Attack, GradientScoreAccumulatesOverSteps) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:8");
  auto one = make_attack("bim", AttackOptions().eps(0.1).alpha(0.01).steps(1))
                 ->run(*model, data.images, Criterion::misclassification(data.labels));
  auto five = make_attack("bim", AttackOptions().eps(0.1).alpha(0.01).steps(5))
                  ->run(*model, data.images, Criterion::misclassification(data.labels));
  ASSERT_EQ(one.grad_score.sizes(), (std::vector<int64_t>{8, 28, 28}));
  EXPECT_TRUE(one.grad_score.ge(0).all().item<bool>());
  // The first step's score is |grad| summed over channels at the clean image.
  auto x = data.images.clone().requires_grad_(true);
  auto loss = torch::nn::functional::cross_entropy(
      model->forward(x), data.labels,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  auto g = torch::autograd::grad({loss}, {x})[0].abs().sum(1);
  EXPECT_TRUE(one.grad_score.allclose(g, 1e-4, 1e-7));
  EXPECT_TRUE(five.grad_score.ge(one.grad_score - 1e-6).all().item<bool>());
}

TEST(Attack, BadOptionsAreInputErrors) {
  EXPECT_THROW(make_attack("pgd", AttackOptions().eps(-0.1)), InputError);
  EXPECT_THROW(make_attack("pgd", AttackOptions().steps(0)), InputError);
  EXPECT_THROW(make_attack("pgd", AttackOptions().alpha(0)), InputError);
  EXPECT_THROW(make_attack("pgd", AttackOptions().norm("l1")), InputError);
  EXPECT_THROW(make_attack("cw", AttackOptions()), InputError);
}

TEST(Evaluate, CountsMatchPerSampleResults) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:300");
  auto attack = make_attack("fgsm", AttackOptions().eps(0.05));
  auto ev = evaluate_attack(*model, data, *attack, EvaluationOptions().batch(64).keep_adv(true));
  EXPECT_EQ(ev.n, 300);
  EXPECT_EQ(ev.adv.size(0), 300);
  torch::NoGradGuard g;
  auto clean = model->forward(data.images).argmax(1);
  auto adv = model->forward(ev.adv).argmax(1);
  EXPECT_NEAR(ev.clean_accuracy, clean.eq(data.labels).to(torch::kDouble).mean().item<double>(),
              1e-9);
  EXPECT_NEAR(ev.robust_accuracy, adv.eq(data.labels).to(torch::kDouble).mean().item<double>(),
              1e-9);
  EXPECT_LE(ev.linf_max, 0.05 + 1e-6);
  EXPECT_LT(ev.robust_accuracy, ev.clean_accuracy);
}

TEST(Evaluate, RobustNeedsCleanCorrectAndTargetedLeavesOutItemsAlreadyOfTheTarget) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:300");
  // Target 8 ("Bag"): items labelled 8 would count as free successes.
  auto attack = make_attack("pgd", AttackOptions().eps(0.1).alpha(0.02).steps(5).early_stop(true));
  auto ev = evaluate_attack(*model, data, *attack,
                            EvaluationOptions().target(TargetSpec::parse("8", 10)).keep_adv(true));
  const auto is_target = data.labels.eq(8);
  EXPECT_EQ(ev.excluded_already_target, is_target.sum().item<int64_t>());
  ASSERT_GT(ev.excluded_already_target, 0);
  torch::NoGradGuard g;
  const auto clean = model->forward(data.images).argmax(1);
  const auto adv = model->forward(ev.adv).argmax(1);
  const auto hits = (~is_target & adv.eq(8)).sum().item<double>();
  EXPECT_NEAR(ev.attack_success_rate, hits / (~is_target).sum().item<double>(), 1e-9);
  const auto robust = (clean.eq(data.labels) & adv.eq(data.labels)).to(torch::kDouble).mean();
  EXPECT_NEAR(ev.robust_accuracy, robust.item<double>(), 1e-9);
  // Robust accuracy never exceeds clean accuracy, whatever the attack does to wrong items.
  EXPECT_LE(ev.robust_accuracy, ev.clean_accuracy);
}

}  // namespace
}  // namespace foil
