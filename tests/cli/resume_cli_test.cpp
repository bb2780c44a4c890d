// A run killed part-way and run again gives what an uninterrupted run gives.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "foil/data/dataset.h"
#include "foil/models/model.h"
#include "test_util.h"

extern char** environ;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Starts `foil ARGS` (stdout to `log`), waits until `log` holds `marker`, kills it (SIGKILL).
void run_until(const std::string& args, const std::string& log, const std::string& marker) {
  const std::string cmd = "exec " + std::string(FOIL_BINARY) + " " + args + " >" + log + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (slurp(log).find(marker) == std::string::npos) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, WNOHANG), 0) << "finished before '" << marker << "'";
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
}

}  // namespace

TEST(ResumeCli, KilledTrainingResumesToTheSameModel) {
  const std::string dir = foil::test::temp_dir("kill-train");
  const std::string args =
      "--seed 3 train --arch mlp --data fashion-mnist:train:6000 --test '' "
      "--epochs 3 --batch 100 --out ";
  ASSERT_EQ(foil::test::run_foil(args + dir + "/straight.foil").code, 0);
  run_until(args + dir + "/killed.foil", dir + "/log.txt", "epoch   1/3");
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
  run_until(args + dir + "/killed", dir + "/log.txt", "epoch   1");
  EXPECT_FALSE(std::filesystem::exists(dir + "/killed"));  // nothing that looks complete
  const auto r = foil::test::run_foil(args + dir + "/killed");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("resuming"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(dir + "/killed/patch.pt"), slurp(dir + "/straight/patch.pt"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/killed.partial"));
}
