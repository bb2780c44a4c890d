// A run killed part-way and run again gives what an uninterrupted run gives.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

TEST(ResumeCli, KilledTrainingResumesToTheSameModel) {
  const std::string dir = foil::test::temp_dir("kill-train");
  const std::string args =
      "--seed 3 train --arch mlp --data fashion-mnist:train:6000 --test '' "
      "--epochs 3 --batch 100 --out ";
  ASSERT_EQ(foil::test::run_foil(args + dir + "/straight.foil").code, 0);
  ASSERT_TRUE(foil::test::run_until(args + dir + "/killed.foil", dir + "/log.txt", "epoch   1/3"));
  ASSERT_FALSE(std::filesystem::exists(dir + "/killed.foil"));
  const auto r = foil::test::run_foil(args + dir + "/killed.foil");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  const auto x = foil::load_data("fashion-mnist:test:50").images;
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(foil::load_model(dir + "/killed.foil")
                  ->forward(x)
                  .allclose(foil::load_model(dir + "/straight.foil")->forward(x), 1e-4, 1e-5));
}

TEST(ResumeCli, KilledPatchTrainingResumesToTheSamePatch) {
  const std::string dir = foil::test::temp_dir("kill-patch");
  const std::string args = "--seed 5 patch train --model " + foil::test::trained_cnn() +
                           " --data fashion-mnist:test:400 --eval-data fashion-mnist:train:20 "
                           "--epochs 3 --batch 50 --out ";
  ASSERT_EQ(foil::test::run_foil(args + dir + "/straight").code, 0);
  ASSERT_TRUE(foil::test::run_until(args + dir + "/killed", dir + "/log.txt", "epoch   1"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/killed"));  // nothing that looks complete
  const auto r = foil::test::run_foil(args + dir + "/killed");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  EXPECT_EQ(foil::test::slurp(dir + "/killed/patch.pt"),
            foil::test::slurp(dir + "/straight/patch.pt"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/killed.partial"));
}

// Issue "Nothing lost, nothing leaked", item 3: a finished transfer patch is reused only when
// it was made from the same work, not because a file of its position exists.
TEST(ResumeCli, TransferReusesOnlyTheSameWork) {
  const std::string dir = foil::test::temp_dir("transfer-reuse");
  const std::string a = dir + "/a.foil", b = dir + "/b.foil";
  std::filesystem::copy_file(foil::test::trained_cnn(), a);
  ASSERT_EQ(foil::test::run_foil("train --arch mlp --data fashion-mnist:train:200 --epochs 1 "
                                 "--out " +
                                 b)
                .code,
            0);
  auto transfer = [&](const std::string& models, int target) {
    return foil::test::run_foil("patch transfer" + models +
                                " --data fashion-mnist:test:40 --losses ce --epochs 1 "
                                "--repeats 1 --target " +
                                std::to_string(target) + " --out " + dir + "/t");
  };
  auto reused = [](const foil::test::Run& r) {
    size_t n = 0;
    for (size_t at = r.out.find(": reusing"); at != std::string::npos;
         at = r.out.find(": reusing", at + 1))
      ++n;
    return n;
  };
  auto r = transfer(" --model " + a + " --model " + b, 1);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(reused(r), 0u);
  r = transfer(" --model " + a + " --model " + b, 1);  // the same work: both reused
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(reused(r), 2u) << r.out;
  r = transfer(" --model " + b + " --model " + a, 1);  // order swapped: neither
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(reused(r), 0u) << r.out;
  EXPECT_NE(r.out.find("made from other work"), std::string::npos) << r.out;
  r = transfer(" --model " + b + " --model " + a, 2);  // another target: neither
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(reused(r), 0u) << r.out;
  ASSERT_EQ(foil::test::run_foil("train --arch mlp --data fashion-mnist:train:200 --epochs 1 "
                                 "--seed 9 --no-resume --out " +
                                 b)
                .code,
            0);
  r = transfer(" --model " + b + " --model " + a, 2);  // b's file changed: only a's reused
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(reused(r), 1u) << r.out;
  EXPECT_NE(r.out.find("reusing " + dir + "/t.partial/patch-ce-1.pt"), std::string::npos) << r.out;
}
