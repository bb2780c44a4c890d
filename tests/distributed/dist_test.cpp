// Several foil processes as one job (foil launch, c10d over Gloo on 127.0.0.1): the same
// numbers and adversarial examples as one process, and one clear line when the job cannot form.
#include "foil/distributed/dist.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "foil/distributed/launch.h"
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

// A results file without its timings ("seconds", "jacobian_seconds" anywhere), which differ
// from run to run.
nlohmann::json numbers(const std::string& path) {
  nlohmann::json j = test::read_json(path);
  std::function<void(nlohmann::json&)> drop = [&](nlohmann::json& v) {
    if (v.is_object())
      for (const char* timing : {"seconds", "jacobian_seconds"}) v.erase(timing);
    if (v.is_object() || v.is_array())
      for (auto& child : v) drop(child);
  };
  drop(j);
  return j;
}

// audit, defend, regions, a query attack and the transfer matrix share their batches out too:
// 90 items in batches of 30 over 2 processes (1 + 2 batches); explain its 9 images in batches of 3
// (1 + 2), keypoints attack its 8 in batches of 3 (1 + 2). Every number they write equals one
// process's.
TEST(Dist, SharedOutCommandsGiveTheSingleProcessNumbers) {
  const std::string dir = test::temp_dir("dist-commands");
  const std::string m =
      " --model " + test::trained_cnn() + " --data fashion-mnist:test:90 --batch 30";
  const std::vector<std::pair<std::string, std::string>> jobs = {
      {"audit" + m + " --linf-eps 0.1 --l2-eps 1 --steps 5 --out ", "audit.json"},
      {"defend" + m + " --eps 0.05 --alpha 0.01 --steps 5 --out ", "defend.json"},
      {"regions" + m + " --eps 0.1 --alpha 0.02 --steps 5 --out ", "regions.json"},
      {"explain --model " + test::trained_cnn() +
           " --data fashion-mnist:test:9 --batch 3 --attacked --eps 0.1 --alpha 0.025 --out ",
       "explain.json"},
      {"attack" + m +
           " --access labels --attack hopskipjump --norm l2 --eps 1 --max-queries 60 "
           "--out ",
       "attack.json"},
      {"transfer --models " + test::trained_cnn() + "," + test::fixture("fashion_cnn.pt") +
           " --attacks vmi-fgsm --steps 2 --data fashion-mnist:test:90 --batch 30 --out ",
       "transfer.json"},
      {"keypoints attack --model " + std::string(FOIL_TEST_MODELS) +
           "/posenet.foil --data pose:test:8 --batch 3 --eps 0.1 --alpha 0.02 --norm l2 --out ",
       "keypoints.json"}};
  for (const auto& [args, file] : jobs) {
    auto r1 = test::run_foil("--threads 1 " + args + dir + "/one");
    ASSERT_EQ(r1.code, 0) << r1.err;
    auto r2 = test::run_foil("launch -n 2 -- --threads 1 " + args + dir + "/two");
    ASSERT_EQ(r2.code, 0) << r2.err;
    EXPECT_EQ(numbers(dir + "/two/" + file), numbers(dir + "/one/" + file)) << file;
  }
  EXPECT_EQ(test::slurp(dir + "/two/regions.csv"), test::slurp(dir + "/one/regions.csv"));
}

TEST(Dist, AJobThatCannotFormIsOneLineExit2) {
  const std::string a =
      "--dist-timeout 2 attack --model " + test::trained_cnn() + " --data fashion-mnist:test:10";
  // Unreachable master; a WORLD_SIZE larger than the processes started; ranks that do not fit.
  test::expect_bad_input("--rank 1 --world-size 2 --master 127.0.0.1:1 " + a, "cannot reach");
  test::expect_bad_input("--rank 0 --world-size 2 --master 127.0.0.1:0 " + a, "HOST:PORT");
  test::expect_bad_input("--rank 1 --world-size 2 --master no-such-host.invalid:29500 " + a,
                         "an unknown host 'no-such-host.invalid'");
  {  // A busy port: one line of foil's, no glog lines from c10d.
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof at;
    ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
    ASSERT_EQ(listen(fd, 1), 0);
    getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len);
    test::expect_bad_input("--rank 0 --world-size 2 --master 127.0.0.1:" +
                               std::to_string(ntohs(at.sin_port)) + " " + a,
                           "a port in use on this machine");
    close(fd);
  }
  test::expect_bad_input("--rank 2 --world-size 2 --master 127.0.0.1:29500 " + a,
                         "--rank: expected 0..1 (--world-size 2), got 2");
  // Two processes started for a job of three: each waits out the timeout, then says so.
  auto r = test::run_foil("launch -n 2 -- --world-size 3 " + a);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("2 of WORLD_SIZE 3 processes arrived"), std::string::npos) << r.err;
}

TEST(Dist, AFailingRankFailsTheWholeLaunch) {
  // The ranks fail on their options before joining: launch stops the job, says the failure
  // once (every rank would say the same) and passes its exit code on.
  const auto t0 = std::chrono::steady_clock::now();
  test::expect_bad_input("launch -n 2 -- --dist-timeout 5 attack --model " + test::trained_cnn() +
                             " --data fashion-mnist:test:10 --batch 0",
                         "--batch: expected an integer in 1..100000");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  // Training a model is not shared out: a job of several processes is told so.
  auto r = test::run_foil("launch -n 2 -- train --data fashion-mnist:test:100 --out " +
                          test::temp_dir("dist-train") + "/m.foil");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("'foil train': expected one process"), std::string::npos) << r.err;
}

// Data-parallel patch training: 300 images in batches of 50 (each split 25+25 or 16+17+17),
// EOT placements with noise, and the ot loss, whose batch-wide feature distribution is gathered
// from every process. The same patch as one process up to float summation order, which Adam
// amplifies where a pixel's gradient is near zero (it divides by the gradient's own size). The
// yardstick is one process against itself with 2 threads instead of 1: measured after 18 steps,
// ce on 2 processes 1.2e-7 from one process, ot on 3 processes 3.2e-3, exactly what 2 threads
// give for ot. Tolerance: 1e-4 + twice that yardstick.
const char* const kPatchTrain =
    " patch train --data fashion-mnist:test:300 --eval-data fashion-mnist:train:100 --batch 50 "
    "--eot";

double patch_gap(const std::string& a, const std::string& b) {
  return (read_tensor(a + "/patch.pt") - read_tensor(b + "/patch.pt")).abs().max().item<double>();
}

TEST(Dist, DataParallelPatchTrainingGivesTheSinglePatch) {
  const std::string dir = test::temp_dir("dist-patch");
  for (const auto& [n, loss] : {std::pair<int, std::string>{2, "ce"}, {3, "ot --target 3"}}) {
    const std::string args =
        kPatchTrain + (" --epochs 3 --model " + test::trained_cnn()) + " --loss " + loss;
    const std::string one = dir + "/one-" + std::to_string(n), many = dir + "/many";
    auto r1 = test::run_foil("--threads 1" + args + " --out " + one);
    ASSERT_EQ(r1.code, 0) << r1.err;
    ASSERT_EQ(test::run_foil("--threads 2" + args + " --out " + dir + "/threads").code, 0);
    auto r = test::run_foil("launch -n " + std::to_string(n) + " -- --threads 1" + args +
                            " --out " + many + "-" + std::to_string(n));
    ASSERT_EQ(r.code, 0) << r.err;
    const double yardstick = patch_gap(one, dir + "/threads");
    EXPECT_LT(patch_gap(one, many + "-" + std::to_string(n)), 1e-4 + 2 * yardstick)
        << loss << " on " << n << " processes; 2 threads: " << yardstick;
    const auto l1 = test::read_json(one + "/summary.json")["epoch_loss"];
    const auto ln = test::read_json(many + "-" + std::to_string(n) + "/summary.json")["epoch_loss"];
    ASSERT_EQ(l1.size(), 3u);
    for (size_t e = 0; e < l1.size(); ++e)
      EXPECT_NEAR(ln[e].get<double>(), l1[e].get<double>(), 1e-5) << loss << " epoch " << e;
  }
  // patch eval on shares of the batches (3 processes, 2 batches: one gets none): the numbers of
  // one process, exactly.
  const std::string eval = "patch eval --model " + test::trained_cnn() + " --patch " + dir +
                           "/one-2/patch.pt --data fashion-mnist:test:300 --repeats 3 --eot";
  ASSERT_EQ(test::run_foil("--threads 1 " + eval + " --json " + dir + "/e1.json").code, 0);
  auto r = test::run_foil("launch -n 3 -- --threads 1 " + eval + " --json " + dir + "/e3.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(test::read_json(dir + "/e3.json"), test::read_json(dir + "/e1.json"));
}

TEST(Dist, PatchTrainingResumesWithAnotherProcessCount) {
  const std::string dir = test::temp_dir("dist-resume");
  const std::string args = kPatchTrain + (" --epochs 3 --model " + test::trained_cnn());
  ASSERT_EQ(test::run_foil("--threads 1" + args + " --out " + dir + "/straight").code, 0);
  // One process killed after its first epoch's checkpoint; two processes finish the job.
  ASSERT_TRUE(test::run_until("--threads 1" + args + " --out " + dir + "/job", dir + "/log.txt",
                              "epoch   1"));
  auto r = test::run_foil("launch -n 2 -- --threads 1" + args + " --out " + dir + "/job");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("[0] patch"), std::string::npos);
  EXPECT_NE(r.out.find("(resuming)"), std::string::npos) << r.out;
  EXPECT_LT(patch_gap(dir + "/straight", dir + "/job"), 1e-4);
  // The loss curve holds every step, the first epoch's from the checkpoint.
  const std::string steps = test::slurp(dir + "/job/loss.csv");
  EXPECT_EQ(std::count(steps.begin(), steps.end(), '\n'), 1 + 3 * 6);
}

TEST(Dist, APeerThatDiesMidJobEndsTheOthers) {
  const std::string dir = test::temp_dir("dist-dies");
  // Joined through a FileStore (a shared file instead of rank 0's TCP store).
  const std::string args = " --threads 1 --world-size 2 --dist-timeout 60 --store-file " + dir +
                           "/store" + kPatchTrain + " --epochs 20 --model " + test::trained_cnn() +
                           " --out " + dir;
  const int rank0 = test::start_foil("--rank 0" + args + "/0", dir + "/0.log");
  const int rank1 = test::start_foil("--rank 1" + args + "/1", dir + "/1.log");
  ASSERT_TRUE(test::wait_for_text(rank1, dir + "/1.log", "epoch   1"));
  const auto t0 = std::chrono::steady_clock::now();
  kill(rank1, SIGKILL);
  test::wait_exit(rank1);
  // Rank 0 was in an exchange with it: one line, exit 1, well before the 60 s timeout.
  EXPECT_EQ(test::wait_exit(rank0), 1);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 30);
  const std::string log = test::slurp(dir + "/0.log");
  EXPECT_NE(log.find("rank 0: lost a peer process during"), std::string::npos) << log;
  EXPECT_FALSE(std::filesystem::exists(dir + "/0"));  // nothing that looks complete
}

TEST(Dist, ARankKilledByASignalIsNamedAsSuch) {
  const std::string dir = test::temp_dir("dist-signal");
  const int launch =
      test::start_foil(std::string("launch -n 2 -- --threads 1 --dist-timeout 60") + kPatchTrain +
                           " --epochs 20 --model " + test::trained_cnn() + " --out " + dir + "/p",
                       dir + "/log");
  ASSERT_TRUE(test::wait_for_text(launch, dir + "/log", "epoch   1"));
  const std::string task = "/proc/" + std::to_string(launch) + "/task/" + std::to_string(launch);
  std::istringstream children(test::slurp(task + "/children"));
  std::vector<int> ranks{std::istream_iterator<int>(children), std::istream_iterator<int>()};
  ASSERT_EQ(ranks.size(), 2u);
  kill(ranks[1], SIGKILL);
  EXPECT_EQ(test::wait_exit(launch), 1);
  const std::string log = test::slurp(dir + "/log");
  EXPECT_NE(log.find("foil launch: rank 1 was killed by signal 9 (Killed); the job was stopped"),
            std::string::npos)
      << log;
}

// The library's launcher runs any program as ranks of one job: torchrun's variables set, the
// first failing rank's exit code returned.
TEST(Dist, LaunchLocalRunsAnyProgramAsRanks) {
  const std::string dir = test::temp_dir("launch_local");
  dist::LaunchOptions o;
  o.processes = 3;
  o.program = "/bin/sh";
  o.name = "sh";
  o.args = {"-c", "echo $RANK/$WORLD_SIZE/$LOCAL_RANK $MASTER_ADDR > " + dir + "/$RANK"};
  EXPECT_EQ(dist::launch_local(o), 0);
  for (int r = 0; r < 3; ++r) {
    std::ifstream f(dir + "/" + std::to_string(r));
    std::string line;
    std::getline(f, line);
    EXPECT_EQ(line, std::to_string(r) + "/3/" + std::to_string(r) + " 127.0.0.1");
  }
  o.args = {"-c", "[ $RANK = 1 ] && exit 7; exec sleep 30"};
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(dist::launch_local(o), 7);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20))
      << "the other ranks were not stopped";
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
