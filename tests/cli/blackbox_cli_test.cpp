// The attacker without gradients through the command line: --access, --surrogate, foil
// transfer and the audit's threat table.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "foil/attacks/hopskipjump.h"
#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::run_foil;

std::string cnn() { return " --model " + test::trained_cnn(); }
std::string surrogate() { return test::fixture("fashion_cnn.pt"); }

TEST(BlackBoxCli, QueryAttacksTransferAndTheThreatTable) {
  const std::string dir = test::temp_dir("blackbox-cli");
  // Labels only: HopSkipJump within its budget, its curve in the JSON and on the page.
  auto r = run_foil("attack" + cnn() +
                    " --data fashion-mnist:test:8 --access labels --attack hopskipjump --norm l2 "
                    "--eps 2 --max-queries 150 --out " +
                    dir + "/hsj");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = test::read_json(dir + "/hsj/attack.json");
  EXPECT_EQ(j["threat"]["access"], "labels");
  EXPECT_LE(j["queries_per_item"]["max"].get<int64_t>(), 150);
  EXPECT_EQ(j["norm_by_queries"]["curve"].back()["queries"], 150);
  EXPECT_TRUE(std::filesystem::exists(dir + "/hsj/norm_by_queries.svg"));
  // Transfer: crafted on the TorchScript CNN, judged on the foil CNN.
  r = run_foil("attack" + cnn() + " --data fashion-mnist:test:12 --attack vmi-fgsm --steps 3 " +
               "--surrogate " + surrogate() + " --json " + dir + "/t.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("crafted on ensemble(fashion_cnn.pt)"), std::string::npos) << r.out;
  EXPECT_TRUE(test::read_json(dir + "/t.json")["threat"]["crafted_on"].is_string());
  // The matrix: two models, two attacks.
  r = run_foil(
      "transfer --models " + test::trained_cnn() + "," + surrogate() +
      " --attacks mifgsm,ti-fgsm --ti-kernel 5 --steps 3 --data fashion-mnist:test:16 --out " +
      dir + "/transfer");
  ASSERT_EQ(r.code, 0) << r.err;
  j = test::read_json(dir + "/transfer/transfer.json");
  ASSERT_EQ(j["matrices"].size(), 2u);
  EXPECT_EQ(j["matrices"][1]["success_rate"].size(), 2u);
  EXPECT_EQ(j["noise_success_rate"].size(), 2u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/transfer/transfer-ti-fgsm.png"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/transfer/report.html"));
  // The audit by threat: one table, shown first on the page.
  r = run_foil("audit" + cnn() +
               " --data fashion-mnist:test:10 --linf-eps 0.05,0.1 --l2-eps 1 --steps 3 "
               "--curve none --corruptions none --threats white-box,transfer,scores,labels "
               "--max-queries 40 --surrogate " +
               surrogate() + " --out " + dir + "/audit");
  ASSERT_EQ(r.code, 0) << r.err;
  j = test::read_json(dir + "/audit/audit.json");
  ASSERT_EQ(j["threats"].size(), 4u);
  EXPECT_EQ(j["threats"][0]["threat"], "white-box");
  EXPECT_EQ(j["threats"][0]["eps"], 0.1);
  EXPECT_EQ(j["threats"][3]["threat"], "labels");
  EXPECT_LE(j["threats"][3]["queries_per_item"].get<double>(), 40);
  const std::string page = test::slurp(dir + "/audit/report.html");
  const auto threats = page.find("id=\"threats\""), headline = page.find("id=\"headline\"");
  ASSERT_NE(threats, std::string::npos);
  EXPECT_LT(threats, headline);
}

TEST(BlackBoxCli, TargetedHopSkipJumpStartsFromTheTargetClass) {
  const std::string dir = test::temp_dir("blackbox-cli-hsj");
  // Target 3: the four 3s among the first 40 test items are the candidates; eps 100 (L2) is
  // beyond any image, so success is reaching the target at all.
  const std::string hsj =
      " --access labels --attack hopskipjump --norm l2 --eps 100 --targeted 3 --max-queries 120";
  auto r = run_foil("attack" + cnn() + " --data fashion-mnist:test:40" + hsj + " --json " + dir +
                    "/data.json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = test::read_json(dir + "/data.json");
  EXPECT_EQ(j["starting_points"]["from_image"].get<int64_t>() +
                j["starting_points"]["at_input"].get<int64_t>(),
            36)
      << j["starting_points"];
  // (The final check runs the model once more on points at the boundary: allow a slip.)
  EXPECT_GE(j["attack_success_rate"].get<double>(), 0.9);
  EXPECT_LE(j["queries_per_item"]["max"].get<int64_t>(), 120);
  // The table's starts line carries the JSON's counts.
  EXPECT_NE(
      r.out.find(fmt::format("{} without a start", j["starting_points"]["none"].get<int64_t>())),
      std::string::npos)
      << r.out;
  // The library's default iterations are the command line's.
  EXPECT_EQ(j["attack"]["steps"].get<int64_t>(), HopSkipJump(AttackOptions()).options().steps());
  // --starting-images: candidates from elsewhere (no 3 among the first 8 test items).
  r = run_foil("attack" + cnn() + " --data fashion-mnist:test:8" + hsj +
               " --starting-images fashion-mnist:train:300 --json " + dir + "/train.json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = test::read_json(dir + "/train.json");
  EXPECT_EQ(j["starting_points"]["none"], 0) << j["starting_points"];
  EXPECT_GE(j["attack_success_rate"].get<double>(), 0.85);
  const std::string data = " --data fashion-mnist:test:4";
  // A spec that names nothing: the error names the flag it came from.
  expect_bad_input("attack" + cnn() + data + " --attack hopskipjump --access labels " +
                       "--targeted 3 --starting-images " + dir + "/none",
                   "--starting-images " + dir + "/none");
  expect_bad_input("attack" + cnn() + data + " --attack pgd --starting-images fashion-mnist:test:2",
                   "--starting-images");
  expect_bad_input("attack" + cnn() + data + " --attack hopskipjump --hsj-init-evals 20000",
                   "--hsj-init-evals");
  r = run_foil("attack --help");
  EXPECT_NE(r.out.find("--hsj-max-evals"), std::string::npos);
  EXPECT_NE(r.out.find("SPSA"), std::string::npos);
}

TEST(BlackBoxCli, BadThreatsAreOneLine) {
  const std::string data = " --data fashion-mnist:test:4";
  expect_bad_input("attack" + cnn() + data + " --access labels --attack pgd", "--access labels");
  expect_bad_input("attack" + cnn() + data + " --access scores --attack autoattack",
                   "--access scores");
  expect_bad_input("attack" + cnn() + data + " --access weights", "--access");
  expect_bad_input("attack" + cnn() + data + " --attack spsa --max-queries 0", "--max-queries");
  expect_bad_input("attack" + cnn() + data + " --surrogate " + test::trained_cnn(), "--surrogate");
  expect_bad_input("attack" + cnn() + data + " --attack pgd --ensemble loss", "--ensemble");
  expect_bad_input("attack" + cnn() + data + " --surrogate " + surrogate() + " --ensemble mean",
                   "--ensemble");
  // A surrogate that cannot take the target's images: one line naming both.
  expect_bad_input("attack" + cnn() + data + " --surrogate " + test::fixture("resnet18.pt"),
                   "resnet18.pt");
  expect_bad_input("audit" + cnn() + data + " --threats transfer", "--threats transfer");
  expect_bad_input("audit" + cnn() + data + " --threats oracle", "--threats");
  expect_bad_input("audit" + cnn() + data + " --threats labels --surrogate " + surrogate(),
                   "--surrogate");
  expect_bad_input(
      "audit" + cnn() + data + " --threats transfer --surrogate " + test::trained_cnn(),
      "--surrogate");
  expect_bad_input("transfer --models " + test::trained_cnn() + " --attacks nope" + data,
                   "--attack");
  expect_bad_input("transfer --models " + test::trained_cnn() + " --attack pgd" + data, "--attack");
}

}  // namespace
}  // namespace foil
