#include "foil/train/trainer.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>

#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/models/zoo.h"
#include "test_util.h"

namespace foil {
namespace {

TEST(Trainer, ShortRunClearsAccuracyThreshold) {
  auto train = load_data("fashion-mnist:train:6000");
  auto test = load_data("fashion-mnist:test:1000");
  auto model = train_model(TrainOptions().arch("mlp").epochs(2).progress(""), train, test);
  EXPECT_GE(model->info().test_accuracy, 0.75);
  EXPECT_NEAR(evaluate_clean(*model, test), model->info().test_accuracy, 1e-9);
}

TEST(Trainer, DivergingRunStopsWithoutModelOrCheckpoint) {
  const std::string ckpt = test::temp_dir("diverge") + "/m.ckpt";
  auto train = load_data("fashion-mnist:test:256");
  try {
    train_model(TrainOptions().arch("mlp").epochs(2).batch(64).lr(1e30).checkpoint(ckpt), train,
                {});
    FAIL() << "a learning rate of 1e30 trained to the end";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--lr"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(ckpt));
  EXPECT_THROW(check_finite_loss(std::nan(""), 1, 1, 1, ""), InputError);
  EXPECT_NO_THROW(check_finite_loss(2.5, 1, 1, 1, ""));
}

// Losses stay on the device between read-backs; a non-finite one is still named by its own
// batch, and the sums weigh each step by its size.
TEST(Trainer, LossTallyReadsBackInBlocksAndNamesTheFirstBadBatch) {
  LossTally tally(0.1, 3, "", 2);
  tally.add(torch::tensor(1.0f), 3, torch::tensor(2));
  EXPECT_EQ(tally.items(), 0);  // one step pending
  tally.add(torch::tensor(2.0f), 1, torch::tensor(1));
  EXPECT_EQ(tally.items(), 4);  // read back at `every`
  EXPECT_DOUBLE_EQ(tally.loss_sum(), 5.0);
  EXPECT_EQ(tally.correct(), 3);
  tally.add(torch::tensor(0.5f), 2);
  tally.flush();
  EXPECT_DOUBLE_EQ(tally.loss_sum(), 6.0);
  EXPECT_EQ(tally.items(), 6);
  LossTally bad(0.1, 2, "", 10);
  for (const float l : {1.0f, 2.0f, std::nanf(""), INFINITY}) bad.add(torch::tensor(l), 1);
  try {
    bad.flush();
    FAIL() << "a NaN loss was read back without an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch 2, batch 3"), std::string::npos) << e.what();
  }
}

TEST(Trainer, InterruptedRunResumesToTheSameModel) {
  const std::string dir = test::temp_dir("resume");
  auto train = load_data("fashion-mnist:train:1000");
  auto test = load_data("fashion-mnist:test:200");
  auto o = TrainOptions().arch("cnn").epochs(2).batch(100).progress("");
  auto straight = train_model(o, train, test);

  // Epoch 1 of 2 "crashes" after its checkpoint; the rerun picks up at epoch 2.
  auto ck = TrainOptions(o).checkpoint(dir + "/ck");
  try {
    train_model(ck, train, test, [](const EpochStats& s) {
      if (s.epoch == 1) throw std::runtime_error("interrupted");
    });
  } catch (const std::runtime_error&) {
  }
  ASSERT_TRUE(std::filesystem::exists(dir + "/ck"));
  std::vector<int64_t> epochs_run;
  auto resumed =
      train_model(ck, train, test, [&](const EpochStats& s) { epochs_run.push_back(s.epoch); });
  EXPECT_EQ(epochs_run, std::vector<int64_t>{2});
  auto x = test.images.slice(0, 0, 20);
  EXPECT_TRUE(resumed->forward(x).allclose(straight->forward(x), 1e-4, 1e-5));
}

TEST(Trainer, MismatchedCheckpointIsRefused) {
  const std::string dir = test::temp_dir("mismatch");
  auto train = load_data("fashion-mnist:train:300");
  auto o = TrainOptions().arch("mlp").epochs(1).progress("").checkpoint(dir + "/ck");
  train_model(o, train, Dataset{});
  EXPECT_THROW(train_model(TrainOptions(o).lr(0.5), train, Dataset{}), InputError);
}

TEST(Trainer, AdversarialTrainingRaisesRobustAccuracy) {
  auto train = load_data("fashion-mnist:train:3000");
  auto test = load_data("fashion-mnist:test:300");
  auto o = TrainOptions().arch("mlp").epochs(3).progress("");
  auto plain = train_model(o, train, test);
  auto robust =
      train_model(TrainOptions(o).adv_train("pgd").adv_eps(0.1).adv_steps(3), train, test);
  auto pgd = make_attack("pgd", AttackOptions().eps(0.1).alpha(0.025).steps(10).random_start(true));
  const double plain_robust = evaluate_attack(*plain, test, *pgd).robust_accuracy;
  const double adv_robust = evaluate_attack(*robust, test, *pgd).robust_accuracy;
  EXPECT_GT(adv_robust, plain_robust + 0.15) << plain_robust << " vs " << adv_robust;
}

TEST(Trainer, CutoutCutsTwoClippedSquareHoles) {
  torch::manual_seed(1);
  const torch::Tensor x = torch::ones({200, 2, 16, 16});
  const torch::Tensor y = cutout(x, 0.25, 2);               // holes of 4 x 4, clipped at the border
  const torch::Tensor hidden = y.eq(0).sum({1, 2, 3}) / 2;  // per image, both channels alike
  EXPECT_TRUE(y.select(1, 0).equal(y.select(1, 1)));
  EXPECT_LE(hidden.max().item<int64_t>(), 32);
  EXPECT_GE(hidden.min().item<int64_t>(), 4);   // a corner-clipped hole keeps 2 x 2
  EXPECT_GT(hidden.max().item<int64_t>(), 16);  // two holes, mostly apart
  EXPECT_TRUE(y.eq(0).logical_or(y.eq(1)).all().item<bool>());
  EXPECT_TRUE(cutout(x, 0.25, 0).equal(x));
}

TEST(Trainer, BadOptionsAreInputErrors) {
  auto train = load_data("fashion-mnist:train:10");
  EXPECT_THROW(train_model(TrainOptions().arch("transformer"), train, Dataset{}), InputError);
  EXPECT_THROW(train_model(TrainOptions().epochs(0), train, Dataset{}), InputError);
  EXPECT_THROW(train_model(TrainOptions().adv_train("fgsm"), train, Dataset{}), InputError);
  EXPECT_THROW(train_model(TrainOptions().cutout(1.5), train, Dataset{}), InputError);
}

}  // namespace
}  // namespace foil
