// The attacker without gradients: access levels, query counting, HopSkipJump, SPSA, and the
// transfer family's reduction to MI-FGSM.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "attack_test_util.h"
#include "foil/attacks/hopskipjump.h"
#include "foil/attacks/transfer.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/models/access.h"
#include "test_util.h"

namespace foil {
namespace {

/// Records how it was called: forwards with autograd on, backward passes through its output,
/// and the images it saw.
class SpyModel : public test::WrappedModel {
 public:
  using WrappedModel::WrappedModel;
  int64_t graph_forwards = 0, backwards = 0, images = 0;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override {
    images += x.size(0);
    TapOutputs out = inner().forward(x, taps);
    if (out.output.requires_grad()) {
      ++graph_forwards;
      out.output.register_hook([this](const torch::Tensor& g) {
        ++backwards;
        return g;
      });
    }
    return out;
  }
};

/// The inner model's logits changed without changing any ranking.
class RescaledModel : public test::WrappedModel {
 public:
  using WrappedModel::WrappedModel;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override {
    TapOutputs out = inner().forward(x, taps);
    out.output = out.output * 1024;  // exact in floating point: no label can change
    return out;
  }
};

/// A two-class linear model on 3x8x8 images whose boundary is at a known distance from each
/// of `x` (class 0 on the clean side): L2 distance margin / ||w||_2, Linf margin / ||w||_1.
struct LinearBoundary {
  std::shared_ptr<test::LinearModel> model;
  torch::Tensor x, labels, l2, linf;
};

LinearBoundary linear_boundary() {
  torch::manual_seed(3);
  const ImageShape shape{3, 8, 8};
  torch::Tensor w = torch::zeros({2, 192});
  w[1] = torch::randn({192});
  // x in the middle of the box, the boundary 0.4 (L2) away: the clipped box never binds.
  torch::Tensor x = 0.5 + 0.05 * (torch::rand({4, 3, 8, 8}) - 0.5);
  const double wn = w[1].norm().item<double>();
  const torch::Tensor score = x.flatten(1).matmul(w[1]);
  // w.x0 + b = -0.4 ||w||; the other items' margins follow from the shared bias.
  const double b = -(score[0] + 0.4 * wn).item<double>();
  torch::Tensor bias = torch::tensor({0.0, b});
  auto model = std::make_shared<test::LinearModel>(w, bias, shape);
  const torch::Tensor m = -(score + b);
  return {model, x, torch::zeros({4}, torch::kLong), m / wn, m / w[1].abs().sum()};
}

TEST(Access, BelowGradientsNoBackwardAndNoScoreIsRead) {
  auto base = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:6", base->info().input);
  const Criterion crit = Criterion::misclassification(data.labels);
  auto spy = std::make_shared<SpyModel>(base);
  QueryModel labels(spy, Access::kLabels);
  const auto hsj =
      make_attack("hopskipjump", AttackOptions().norm("l2").eps(2).queries(300).steps(1000));
  const AttackResult r = hsj->run(labels, data.images, crit);
  EXPECT_EQ(spy->graph_forwards, 0);
  EXPECT_EQ(spy->backwards, 0);
  // Every query counted, per item, within the budget, and the counts agree.
  EXPECT_EQ(labels.queries(), spy->images);
  EXPECT_EQ(labels.queries(), r.queries);
  EXPECT_EQ(r.item_queries.sum().item<int64_t>(), r.queries);
  EXPECT_LE(r.item_queries.max().item<int64_t>(), 300);
  EXPECT_GT(r.item_queries.min().item<int64_t>(), 1);
  // What a labels-level attacker sees: one-hot rows.
  const torch::Tensor seen = labels.forward(data.images);
  EXPECT_TRUE(seen.sum(1).eq(1).all().item<bool>());
  EXPECT_TRUE((seen.eq(0) | seen.eq(1)).all().item<bool>());
  // Scores changed without changing a label change nothing: they are never read.
  QueryModel rescaled(std::make_shared<RescaledModel>(base), Access::kLabels);
  const AttackResult again = hsj->run(rescaled, data.images, crit);
  EXPECT_TRUE(again.adv.equal(r.adv));
  EXPECT_TRUE(again.min_norm.equal(r.min_norm));
  EXPECT_TRUE(again.item_queries.equal(r.item_queries));

  // Scores: SPSA and Square never call backward either, and count exactly.
  QueryModel scores(spy, Access::kScores);
  for (const char* name : {"spsa", "square"}) {
    spy->images = 0;
    scores.reset_queries();
    const AttackResult s =
        make_attack(name, AttackOptions().eps(0.05).queries(700).spsa_samples(16))
            ->run(scores, data.images, crit);
    EXPECT_EQ(spy->backwards, 0) << name;
    EXPECT_EQ(spy->graph_forwards, 0) << name;
    EXPECT_EQ(scores.queries(), s.queries) << name;
    EXPECT_EQ(s.item_queries.sum().item<int64_t>(), s.queries) << name;
    EXPECT_LE(s.item_queries.max().item<int64_t>(), 700) << name;
  }
  // A white-box attack at a lower access level is one line naming both.
  try {
    make_attack("pgd", AttackOptions())->run(scores, data.images, crit);
    FAIL() << "pgd ran at --access scores";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--access scores"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_attack("square", AttackOptions())->run(labels, data.images, crit), InputError);
  EXPECT_THROW(parse_access("weights"), InputError);
  EXPECT_THROW(make_attack("spsa", AttackOptions().queries(0)), InputError);
}

TEST(HopSkipJump, ReachesTheLinearBoundaryAndItsNormFallsWithQueries) {
  const LinearBoundary lb = linear_boundary();
  const Criterion crit = Criterion::misclassification(lb.labels);
  ASSERT_TRUE(lb.model->forward(lb.x).argmax(1).eq(0).all().item<bool>());
  // Linf converges more slowly (sign updates; measured 1.07x the distance at 10k queries, still
  // falling): it gets 40k.
  for (const std::string norm : {"l2", "linf"}) {
    const torch::Tensor truth = norm == "l2" ? lb.l2 : lb.linf;
    const int64_t budget = norm == "l2" ? 10000 : 40000;
    const auto hsj = make_attack(
        "hopskipjump",
        AttackOptions().norm(norm).eps(10).queries(budget).steps(default_steps("hopskipjump")));
    const AttackResult r = hsj->run(*lb.model, lb.x, crit);
    ASSERT_TRUE(r.success.all().item<bool>()) << norm;
    const torch::Tensor ratio = r.min_norm / truth;
    // Never inside the true boundary (every point it returns was adversarial), and within a
    // few percent of it.
    EXPECT_GE(ratio.min().item<double>(), 1 - 1e-4) << norm << " " << ratio;
    EXPECT_LE(ratio.max().item<double>(), 1.05) << norm << " " << ratio;
    // The curve: never rising, and far above the end at 100 queries.
    const auto& grid = r.query_grid;
    ASSERT_EQ(grid.back(), budget);
    const torch::Tensor curve = r.norm_at_queries;
    EXPECT_TRUE((curve.slice(1, 1) <= curve.slice(1, 0, -1)).all().item<bool>()) << norm;
    const auto at = [&](int64_t q) {
      const auto i = std::find(grid.begin(), grid.end(), q) - grid.begin();
      return curve.select(1, i);
    };
    EXPECT_TRUE((at(100) > 1.2 * at(10000)).all().item<bool>()) << norm << at(100) << at(10000);
    EXPECT_TRUE(at(budget).equal(r.min_norm)) << norm;
  }
  // Batches do not change what an item gets.
  test::expect_reproducible_and_batch_independent(
      *make_attack("hopskipjump", AttackOptions().norm("l2").eps(1).queries(400)), *lb.model, lb.x,
      crit, "hopskipjump");
}

TEST(Spsa, BreaksALinearModelWithinEpsOnScoresAlone) {
  const LinearBoundary lb = linear_boundary();
  const Criterion crit = Criterion::misclassification(lb.labels);
  QueryModel scores(lb.model, Access::kScores);
  // eps above every item's Linf distance: SPSA must find the way across.
  const double eps = 1.5 * lb.linf.max().item<double>();
  const AttackResult r =
      make_attack("spsa",
                  AttackOptions().eps(eps).alpha(0.01).steps(300).queries(20000).spsa_samples(32))
          ->run(scores, lb.x, crit);
  EXPECT_TRUE(r.success.all().item<bool>());
  EXPECT_LE((r.adv - lb.x).abs().max().item<double>(), eps + 1e-6);
  EXPECT_THROW(make_attack("spsa", AttackOptions().norm("l2")), InputError);
  test::expect_reproducible_and_batch_independent(
      *make_attack("spsa", AttackOptions().eps(0.02).queries(200).spsa_samples(8)), *lb.model, lb.x,
      crit, "spsa");
}

TEST(Ensemble, FusesLogitsOrLossesAndRefusesModelsThatDoNotFit) {
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:4", model->info().input);
  EnsembleModel one({model}, Fusion::kLogits);
  EXPECT_TRUE(one.forward(data.images).equal(model->forward(data.images)));
  // Fused by loss, an ensemble of one follows the model's own cross-entropy.
  EnsembleModel loss({model}, Fusion::kLoss);
  const Criterion crit = Criterion::misclassification(data.labels);
  const AttackOptions o = AttackOptions().eps(0.1).steps(3);
  const torch::Tensor fused = make_attack("mifgsm", o)->run(loss, data.images, crit).adv;
  const torch::Tensor own = make_attack("mifgsm", o)->run(*model, data.images, crit).adv;
  EXPECT_LT((fused - own).abs().max().item<double>(), 1e-6);
  auto other = std::make_shared<test::LinearModel>(torch::zeros({10, 3 * 32 * 32}),
                                                   torch::zeros({10}), ImageShape{3, 32, 32});
  try {
    EnsembleModel bad({model, other}, Fusion::kLogits);
    FAIL() << "an ensemble of 1x28x28 and 3x32x32 models was built";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("--surrogate linear"), std::string::npos) << m;
    EXPECT_NE(m.find("3x32x32"), std::string::npos) << m;
    EXPECT_NE(m.find(model->info().name), std::string::npos) << m;
  }
  EXPECT_THROW(parse_fusion("mean"), InputError);
}

}  // namespace
}  // namespace foil
