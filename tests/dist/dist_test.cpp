// Several foil processes as one job (foil launch, c10d over Gloo on 127.0.0.1): the same
// numbers and adversarial examples as one process, and one clear line when the job cannot form.
#include "foil/dist/dist.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace foil {
namespace {

torch::Tensor read_tensor(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return torch::pickle_load(bytes).toTensor();
}

// 100 items in batches of 30: 4 batches, shared 2+2 or 1+1+2 (one rank gets an empty share
// when there are more ranks than batches, which the -n 3 run with batch 60 covers).
TEST(Dist, LaunchedJobsGiveTheSingleProcessResults) {
  const std::string dir = test::temp_dir("dist-attack");
  const std::string common = "attack --model " + test::trained_cnn() +
                             " --data fashion-mnist:test:100 --attack pgd --eps 0.1 --steps 5";
  // One thread per process everywhere: the same float summation order as the launched ranks.
  auto one = test::run_foil("--threads 1 " + common + " --batch 30 --json " + dir +
                            "/one.json --save-adv " + dir + "/one.pt --out " + dir + "/one");
  ASSERT_EQ(one.code, 0) << one.err;
  const auto j1 = test::read_json(dir + "/one.json");
  const auto adv1 = read_tensor(dir + "/one.pt");
  for (const auto& [n, batch] : {std::pair<int, int>{2, 30}, {3, 60}}) {
    const std::string tag = std::to_string(n);
    auto r = test::run_foil("launch -n " + tag + " -- --threads 1 " + common + " --batch " +
                            std::to_string(batch) + " --json " + dir + "/" + tag +
                            ".json --save-adv " + dir + "/" + tag + ".pt --out " + dir + "/" + tag);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("[1] "), std::string::npos) << "output prefixed by rank";
    const auto j = test::read_json(dir + "/" + tag + ".json");
    for (const char* k : {"n", "clean_accuracy", "robust_accuracy", "attack_success_rate",
                          "gradient_evaluations", "perturbation", "per_item"})
      EXPECT_EQ(j[k], j1[k]) << k << " with " << n << " processes";
    EXPECT_TRUE(torch::equal(read_tensor(dir + "/" + tag + ".pt"), adv1)) << n << " processes";
    // Rank 0 alone wrote the results folder; no other rank left one behind.
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + tag + "/attack.json"));
    for (int rank = 1; rank < n; ++rank)
      EXPECT_FALSE(
          std::filesystem::exists(dir + "/" + tag + ".partial.rank" + std::to_string(rank)));
  }
}

TEST(Dist, AJobThatCannotFormIsOneLineExit2) {
  const std::string a =
      "--dist-timeout 2 attack --model " + test::trained_cnn() + " --data fashion-mnist:test:10";
  // Unreachable master; a WORLD_SIZE larger than the processes started; ranks that do not fit.
  test::expect_bad_input("--rank 1 --world-size 2 --master 127.0.0.1:1 " + a, "cannot reach");
  test::expect_bad_input("--rank 0 --world-size 2 --master 127.0.0.1:0 " + a, "HOST:PORT");
  test::expect_bad_input("--rank 2 --world-size 2 --master 127.0.0.1:29500 " + a, "RANK");
  // Two processes started for a job of three: each waits out the timeout, then says so.
  auto r = test::run_foil("launch -n 2 -- --world-size 3 " + a);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("2 of WORLD_SIZE 3 processes arrived"), std::string::npos) << r.err;
}

TEST(Dist, AFailingRankFailsTheWholeLaunch) {
  // The ranks fail on their options before joining: launch stops the job, names the first
  // failure and passes its exit code on.
  const auto t0 = std::chrono::steady_clock::now();
  auto r = test::run_foil("launch -n 2 -- --dist-timeout 5 attack --model " + test::trained_cnn() +
                          " --data fashion-mnist:test:10 --batch 0");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("foil launch: rank"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
}

TEST(Dist, ShardsAreContiguousAndCoverEverything) {
  // A single process owns everything.
  EXPECT_EQ(dist::size(), 1);
  EXPECT_EQ(dist::shard(7), (std::pair<int64_t, int64_t>{0, 7}));
  const torch::Tensor t = torch::arange(6).view({3, 2});
  EXPECT_TRUE(torch::equal(dist::all_gather_rows(t), t));
}

}  // namespace
}  // namespace foil
