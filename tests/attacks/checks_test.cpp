// The evaluation checks on hand-made models: each fires on the model built to trip it and
// stays quiet on the trained CNN (issue #36, "The checks").
#include "foil/attacks/checks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "attacks/attack_test_util.h"
#include "foil/attacks/attack.h"
#include "foil/attacks/evaluate.h"
#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

namespace foil {
namespace {

/// The trained CNN with something done to its input or output.
class Wrapped : public test::WrappedModel {
 public:
  enum class Kind { kProbabilities, kDropout, kQuantised };
  Wrapped(std::shared_ptr<Model> inner, Kind kind) : WrappedModel(std::move(inner)), kind_(kind) {}

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>&) override {
    switch (kind_) {
      case Kind::kProbabilities:  // a softmax left on the output
        return {torch::softmax(inner().forward(x), 1), {}};
      case Kind::kDropout:  // dropout left on at test time
        return {inner().forward(torch::dropout(x, 0.3, /*train=*/true)), {}};
      case Kind::kQuantised:  // 4-level quantisation: the gradient is zero almost everywhere
        return {inner().forward((x * 3).round() / 3), {}};
    }
    return {};
  }

 private:
  Kind kind_;
};

bool fired(const std::vector<Flag>& flags, const std::string& name) {
  for (const Flag& f : flags)
    if (f.name == name) return f.fired;
  ADD_FAILURE() << "no check " << name;
  return false;
}

TEST(Checks, QuietOnTheTrainedCnn) {
  auto model = test::cnn_model();
  auto data = load_data("fashion-mnist:test:40");
  for (const Flag& f : check_model(*model, data)) EXPECT_FALSE(f.fired) << f.name << f.measured;
  EXPECT_FALSE(check_unbounded(*model, data, "linf", 0, 40).fired);
  EXPECT_FALSE(check_unbounded(*model, data, "l2", 0, 40).fired);
  auto ev = evaluate_attack(
      *model, data,
      *make_attack("autoattack", AttackOptions().eps(0.05).steps(10).queries(200).targets(3)));
  for (const Flag& f : check_evaluation(ev)) EXPECT_FALSE(f.fired) << f.name << f.measured;
}

TEST(Checks, ProbabilityOutputsAndRandomisedModels) {
  auto data = load_data("fashion-mnist:test:40");
  Wrapped probabilities(test::cnn_model(), Wrapped::Kind::kProbabilities);
  const auto p = check_model(probabilities, data);
  EXPECT_TRUE(fired(p, "probability outputs"));
  EXPECT_FALSE(fired(p, "randomised model"));
  Wrapped dropout(test::cnn_model(), Wrapped::Kind::kDropout);
  const auto d = check_model(dropout, data);
  EXPECT_TRUE(fired(d, "randomised model"));
  EXPECT_FALSE(fired(d, "probability outputs"));
  // The rand version the flag points to: APGD-CE and APGD-DLR with EOT over 20 passes.
  const auto rand = make_attack("autoattack", AttackOptions().eps(0.05).version("rand"));
  EXPECT_EQ(rand->stage_names(), (std::vector<std::string>{"apgd-ce", "apgd-dlr"}));
  EXPECT_NE(rand->describe().find("eot_samples=20"), std::string::npos) << rand->describe();
}

TEST(Checks, GradientMaskingTripsTheGradientChecks) {
  auto data = load_data("fashion-mnist:test:40");
  Wrapped masked(test::cnn_model(), Wrapped::Kind::kQuantised);
  const auto m = check_model(masked, data);
  EXPECT_TRUE(fired(m, "zero gradients"));
  EXPECT_TRUE(check_unbounded(masked, data, "linf", 0, 40).fired);
  auto ev = evaluate_attack(
      masked, data, *make_attack("autoattack", AttackOptions().eps(0.3).steps(10).queries(300)));
  const auto e = check_evaluation(ev);
  EXPECT_TRUE(fired(e, "no rise in loss"));
  EXPECT_TRUE(fired(e, "Square beats the gradient attacks"));
  for (const Flag& f : e) EXPECT_FALSE(f.meaning.empty());
}

}  // namespace
}  // namespace foil
