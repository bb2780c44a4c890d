// The model cache under concurrent first use: two processes, one training run, one file.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "foil/data/dataset.h"
#include "foil/models/zoo.h"
#include "foil/train/default_model.h"
#include "foil/train/trainer.h"
#include "test_util.h"

namespace fs = std::filesystem;

// Run by CachedModel.TwoProcessesTrainOnce in child processes (FOIL_CACHE_TEST_DIR set):
// takes the cached model, training a small MLP when it is missing and logging each training.
TEST(CachedModel, DISABLED_ChildProcess) {
  const char* dir = std::getenv("FOIL_CACHE_TEST_DIR");
  if (!dir) GTEST_SKIP();
  auto model = foil::cached_model(std::string(dir) + "/cached.foil", [&](const std::string& ckpt) {
    std::ofstream(std::string(dir) + "/trainings.log", std::ios::app) << ::getpid() << "\n";
    foil::TrainOptions o;
    o.arch("mlp").epochs(1).checkpoint(ckpt);
    auto m = foil::train_model(o, foil::load_data("fashion-mnist:test:500"), {});
    std::this_thread::sleep_for(std::chrono::seconds(1));  // keep the other process waiting
    return m;
  });
  ASSERT_TRUE(model);
  torch::NoGradGuard no_grad;
  const auto out = model->forward(foil::load_data("fashion-mnist:test:4").images);
  std::ofstream(std::string(dir) + "/out-" + std::to_string(::getpid()) + ".txt")
      << out.sum().item<double>();
}

TEST(CachedModel, TwoProcessesTrainOnce) {
  const std::string dir = foil::test::temp_dir("cache");
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string child = "FOIL_CACHE_TEST_DIR=" + dir + " " + self +
                            " --gtest_also_run_disabled_tests "
                            "--gtest_filter=CachedModel.DISABLED_ChildProcess >/dev/null 2>&1";
  const std::string both = "(" + child + ") & (" + child + ") & wait";
  ASSERT_EQ(std::system(("bash -c '" + both + "'").c_str()), 0);
  std::ifstream log(dir + "/trainings.log");
  int trainings = 0;
  for (std::string line; std::getline(log, line);) ++trainings;
  EXPECT_EQ(trainings, 1);
  // Both processes got the same model; nothing temporary is left.
  std::vector<std::string> outs;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    EXPECT_EQ(name.find(".tmp"), std::string::npos) << name;
    EXPECT_EQ(name.find(".ckpt"), std::string::npos) << name;
    if (name.rfind("out-", 0) == 0) {
      std::ifstream in(e.path());
      outs.emplace_back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
  }
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0], outs[1]);
  EXPECT_TRUE(foil::try_load_zoo_model(dir + "/cached.foil"));
}
