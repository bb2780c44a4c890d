// foil corrupt and the audit's corruption section, through the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::run_foil;

TEST(CorruptCli, WritesAFolderPerCorruptionAndSeverity) {
  const std::string dir = test::temp_dir("corrupt-cli") + "/out";
  auto r = run_foil(
      "--seed 2 corrupt --data fashion-mnist:test:10 --corruptions fog,saturate "
      "--severities 3 --out " +
      dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("skipped: saturate"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::is_directory(dir + "/fog-3/Trouser")) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/saturate-3"));
  const auto j = test::read_json(dir + "/corrupt.json");
  EXPECT_EQ(j["images"], 10);
  EXPECT_EQ(j["seed"], 2);
  // The folder is data for any command: the trained CNN reads its classes back by name.
  auto a = run_foil("attack --model " + test::trained_cnn() + " --data " + dir +
                    "/fog-3 --attack fgsm --eps 0.01");
  EXPECT_EQ(a.code, 0) << a.err;
}

TEST(CorruptCli, BadCorruptionsAndSeveritiesAreOneLine) {
  const std::string dir = test::temp_dir("corrupt-bad");
  expect_bad_input("corrupt --corruptions smog --out " + dir + "/o", "--corruptions");
  expect_bad_input("corrupt --corruptions '' --out " + dir + "/o", "--corruptions");
  expect_bad_input("corrupt --severities 0 --out " + dir + "/o", "--severities");
  expect_bad_input("corrupt --severities 2-6 --out " + dir + "/o", "--severities");
  const std::string audit = "audit --model " + test::trained_cnn() + " --out " + dir + "/a ";
  expect_bad_input(audit + "--corruptions none --baseline " + test::trained_cnn(), "--baseline");
  expect_bad_input(audit + "--corruptions fog,smog", "--corruptions");
  expect_bad_input(audit + "--severities 1-9", "--severities");
  EXPECT_FALSE(std::filesystem::exists(dir + "/o"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/a"));
}

TEST(CorruptCli, AuditAddsTheCorruptionSection) {
  const std::string dir = test::temp_dir("audit-corruptions") + "/out";
  const std::string cnn = test::trained_cnn();
  auto r = run_foil("audit --model " + cnn + " --data fashion-mnist:test:30 --attack fgsm " +
                    "--linf-eps 0.05 --l2-eps 0.5 --curve none --corruptions noise,contrast " +
                    "--severities 1,5 --baseline " + cnn + " --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mCE 100.00%"), std::string::npos) << r.out;
  const auto audit = test::read_json(dir + "/audit.json");
  EXPECT_DOUBLE_EQ(audit["corruptions"]["mce"].get<double>(), 1.0);
  const auto c = test::read_json(dir + "/corruptions.json");
  EXPECT_EQ(c["corruptions"].size(), 5u);  // gaussian, shot, impulse, contrast, speckle
  EXPECT_EQ(c["severities"], nlohmann::json({1, 5}));
  const std::string page = test::slurp(dir + "/report.html");
  EXPECT_NE(page.find("corruption"), std::string::npos);
}

// A patch trained with corruptions in its expectation, and evaluated under them.
TEST(CorruptCli, PatchTrainingWithEotCorruptions) {
  const std::string dir = test::temp_dir("eot-corruptions");
  const std::string m = "--model " + test::trained_cnn() + " --target 8 --cells 7 ";
  auto r = run_foil("patch train " + m + "--data fashion-mnist:train:64 --epochs 1 " +
                    "--eot-corruptions jpeg_compression,blur --eval-data fashion-mnist:test:40 " +
                    "--out " + dir + "/p");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/p/patch.pt"));
  expect_bad_input("patch train " + m + "--data fashion-mnist:train:20 --eot-corruptions smog " +
                       "--out " + dir + "/q",
                   "--eot-corruptions");
  expect_bad_input("patch train " + m + "--data fashion-mnist:train:20 --eot-corruptions " +
                       "saturate --out " + dir + "/q",
                   "--eot-corruptions");
}

}  // namespace
}  // namespace foil
