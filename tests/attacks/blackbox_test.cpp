// The attacker without gradients: access levels, query counting, HopSkipJump, SPSA, and the
// transfer family's reduction to MI-FGSM.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "attack_test_util.h"
#include "foil/attacks/evaluate.h"
#include "foil/attacks/hopskipjump.h"
#include "foil/attacks/spsa.h"
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

/// The images of its first forward pass (an attack's first iterate).
class FirstLook : public test::WrappedModel {
 public:
  using WrappedModel::WrappedModel;
  torch::Tensor first;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override {
    if (!first.defined()) first = x.clone();
    return inner().forward(x, taps);
  }
};

/// Three classes on 3x8x8 images by the mean pixel m alone: 0 below 0.3, 2 above 0.8625 (where
/// 100 (m - 0.75) passes 20 (m - 0.3)), 1 between. Uniform noise (m near 0.5) is never class
/// 2; `dark` items (m near 0.2) are class 0, `bright` ones (m near 0.9) class 2, and the L2
/// distance from a dark item to class 2 is (0.8625 - m) sqrt(192).
struct MeanModel {
  std::shared_ptr<test::LinearModel> model;
  torch::Tensor dark, bright;
};

MeanModel mean_model() {
  torch::manual_seed(5);
  const double d = 192;
  const torch::Tensor w =
      torch::stack({torch::zeros({192}), torch::full({192}, 20 / d), torch::full({192}, 100 / d)});
  const torch::Tensor b = torch::tensor({0.0, -6.0, -75.0});
  return {std::make_shared<test::LinearModel>(w, b, ImageShape{3, 8, 8}),
          0.2 + 0.1 * (torch::rand({4, 3, 8, 8}) - 0.5),
          0.95 + 0.1 * (torch::rand({4, 3, 8, 8}) - 0.5)};
}

TEST(HopSkipJump, TargetedReachesTheTargetFromAnImageOfTheTargetClass) {
  const MeanModel mm = mean_model();
  ASSERT_TRUE(mm.model->forward(mm.dark).argmax(1).eq(0).all().item<bool>());
  ASSERT_TRUE(mm.model->forward(mm.bright).argmax(1).eq(2).all().item<bool>());
  const Criterion crit =
      Criterion::targeted(torch::zeros({4}, torch::kLong), torch::full({4}, 2, torch::kLong));
  const torch::Tensor truth = (0.8625 - mm.dark.flatten(1).mean(1)) * std::sqrt(192.0);
  const AttackOptions o = AttackOptions().norm("l2").eps(20).queries(2000);
  // From noise alone it never starts (noise is class 1): nothing reached, and said so.
  const AttackResult noise = HopSkipJump(o).run(*mm.model, mm.dark, crit);
  EXPECT_FALSE(noise.success.any().item<bool>());
  EXPECT_TRUE(noise.start.eq(-1).all().item<bool>()) << noise.start;
  EXPECT_LE(noise.item_queries.max().item<int64_t>(), 2000);
  // Candidates: two dark ones labelled 2 that the model calls 0 (one query each, refused) and
  // the bright ones; each item starts from a bright one and ends near the boundary.
  const torch::Tensor pool = torch::cat({mm.dark.slice(0, 0, 2), mm.bright});
  const torch::Tensor labels = torch::full({6}, 2, torch::kLong);
  const HopSkipJump hsj(AttackOptions(o).start_images(pool).start_labels(labels));
  const AttackResult r = hsj.run(*mm.model, mm.dark, crit);
  ASSERT_TRUE(r.success.all().item<bool>());
  EXPECT_TRUE(r.start.eq(2).all().item<bool>()) << r.start;
  EXPECT_TRUE(mm.model->forward(r.adv).argmax(1).eq(2).all().item<bool>());
  EXPECT_LE(r.item_queries.max().item<int64_t>(), 2000);
  const torch::Tensor ratio = r.min_norm / truth;
  EXPECT_GE(ratio.min().item<double>(), 1 - 1e-4) << ratio;
  EXPECT_LE(ratio.max().item<double>(), 1.1) << ratio;
  test::expect_reproducible_and_batch_independent(hsj, *mm.model, mm.dark, crit, "hsj-targeted");
  // Candidates labelled otherwise are not tried; checking them never passes the budget.
  const AttackResult other =
      HopSkipJump(AttackOptions(o).start_images(pool).start_labels(labels - 1))
          .run(*mm.model, mm.dark, crit);
  EXPECT_TRUE(other.start.eq(-1).all().item<bool>());
  const AttackResult tight = HopSkipJump(AttackOptions(o)
                                             .queries(2)
                                             .start_images(pool.slice(0, 0, 2))
                                             .start_labels(labels.slice(0, 0, 2)))
                                 .run(*mm.model, mm.dark, crit);
  EXPECT_TRUE(tight.item_queries.eq(2).all().item<bool>()) << tight.item_queries;
  EXPECT_TRUE(tight.start.eq(-1).all().item<bool>()) << tight.start;
  EXPECT_THROW(HopSkipJump(AttackOptions().start_images(pool).start_labels(labels.slice(0, 1))),
               InputError);

  // The evaluation takes its starts from the data it attacks: every dark item reaches class 2.
  Dataset data;
  data.images = torch::cat({mm.dark, mm.bright});
  data.labels = torch::tensor({0, 0, 0, 0, 2, 2, 2, 2}, torch::kLong);
  data.source = "dark and bright";
  const Evaluation ev = evaluate_attack(*mm.model, data, HopSkipJump(o),
                                        EvaluationOptions().target(TargetSpec::parse("2", 3)));
  EXPECT_EQ(ev.attack_success_rate, 1.0);
  EXPECT_EQ(ev.started_from_image, 4);
  EXPECT_TRUE(ev.without_start.empty());
  const nlohmann::json j = ev.to_json();
  EXPECT_EQ(j["starting_points"]["from_image"], 4);
  EXPECT_EQ(j["starting_points"]["none"], 0);
  // Without candidates of the target class the items without a start are named.
  const Evaluation none =
      evaluate_attack(*mm.model, data.head(4), HopSkipJump(AttackOptions(o).queries(50)),
                      EvaluationOptions().target(TargetSpec::parse("2", 3)));
  EXPECT_EQ(none.attack_success_rate, 0.0);
  EXPECT_EQ(none.without_start, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(none.to_json()["starting_points"]["none_items"].size(), 4u);
}

TEST(QueryAttacks, LibraryDefaultsAreTheCommandLines) {
  // `foil attack` starts from default_attack_options; built directly, the attacks take the
  // same number of iterations (HopSkipJump used to stop after 10).
  for (const char* name : {"hopskipjump", "spsa"})
    EXPECT_EQ(make_attack(name, AttackOptions())->options().steps(),
              default_attack_options(name).steps())
        << name;
  EXPECT_EQ(HopSkipJump(AttackOptions()).options().steps(), default_steps("hopskipjump"));
  EXPECT_EQ(Spsa(AttackOptions()).options().steps(), default_steps("spsa"));
  EXPECT_EQ(HopSkipJump(AttackOptions().steps(7)).options().steps(), 7);
  // The others keep their 10.
  EXPECT_EQ(make_attack("pgd", AttackOptions())->options().steps(), 10);
  // With the library's defaults HopSkipJump runs until its query budget ends it.
  const LinearBoundary lb = linear_boundary();
  const AttackResult r = HopSkipJump(AttackOptions().norm("l2").eps(10))
                             .run(*lb.model, lb.x, Criterion::misclassification(lb.labels));
  EXPECT_TRUE(r.item_queries.eq(AttackOptions().queries()).all().item<bool>()) << r.item_queries;
  // The options' check names real flags.
  try {
    HopSkipJump(AttackOptions().hsj_init_evals(20000));
    FAIL() << "init evals above max evals were taken";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--hsj-init-evals"), std::string::npos) << e.what();
  }
  EXPECT_THROW(HopSkipJump(AttackOptions().hsj_max_evals(0)), InputError);
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
  test::expect_reproducible_and_batch_independent(
      *make_attack("spsa",
                   AttackOptions().eps(0.02).queries(200).spsa_samples(8).random_start(true)),
      *lb.model, lb.x, crit, "spsa random start");
}

TEST(Spsa, RandomStartIsUniformInTheBallAndWithinTheBox) {
  const LinearBoundary lb = linear_boundary();
  // Items at the box's edge too: the start stays in [0,1].
  const torch::Tensor x = torch::cat({lb.x, torch::zeros({1, 3, 8, 8}), torch::ones({1, 3, 8, 8})});
  const Criterion crit6 = Criterion::misclassification(torch::zeros({6}, torch::kLong));
  const double eps = 0.03;
  const AttackOptions o = AttackOptions().eps(eps).queries(100).spsa_samples(4);
  // The CLI's options (the reference's default: cleverhans always starts at random).
  EXPECT_TRUE(default_attack_options("spsa").random_start());
  auto first = [&](const AttackOptions& opts) {
    FirstLook look(lb.model);
    Spsa(opts).run(look, x, crit6);
    return look.first - x;
  };
  const torch::Tensor d = first(AttackOptions(o).random_start(true));
  EXPECT_LE(d.abs().max().item<double>(), eps + 1e-6);
  EXPECT_TRUE((x + d).ge(0).all().item<bool>());
  EXPECT_TRUE((x + d).le(1).all().item<bool>());
  // Not zero anywhere it can move, and spread over the ball: mean |d| near eps / 2.
  const torch::Tensor inner = d.slice(0, 0, 4);
  EXPECT_TRUE(inner.ne(0).all().item<bool>());
  EXPECT_NEAR(inner.abs().mean().item<double>(), eps / 2, eps / 10);
  EXPECT_TRUE(d[4].ge(0).all().item<bool>());
  EXPECT_TRUE(d[5].le(0).all().item<bool>());
  // Different per sample, and --no-random-start starts at the input.
  EXPECT_FALSE(inner[0].equal(inner[1]));
  EXPECT_TRUE(first(AttackOptions(o).random_start(false)).eq(0).all().item<bool>());
  EXPECT_NE(Spsa(AttackOptions(o).random_start(true)).describe().find("random_start=true"),
            std::string::npos);
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
