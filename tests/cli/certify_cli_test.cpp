// foil certify and foil train --noise-sd through the command line.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::run_foil;

TEST(CertifyCli, WritesCertificatesAndTheAttackBesideThem) {
  const std::string dir = test::temp_dir("certify-cli");
  auto r = run_foil("certify --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:5 --sigma 0.25 --n0 20 --n 300 --alpha 0.01 "
                    "--attack-eps 0.25 --attack-steps 3 --out " +
                    dir + "/c");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("abstained"), std::string::npos) << r.out;
  const auto j = test::read_json(dir + "/c/certify.json");
  EXPECT_EQ(j["per_item"].size(), 5u);
  EXPECT_EQ(j["smoothing"]["n"], 300);
  ASSERT_EQ(j["empirical"].size(), 1u);
  EXPECT_GE(j["empirical"][0]["smoothed_accuracy"].get<double>(),
            j["empirical"][0]["certified_accuracy"].get<double>());
  EXPECT_TRUE(std::filesystem::exists(dir + "/c/certified_accuracy.svg"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/c/report.html"));
  // Gaussian data augmentation for the base classifier.
  r = run_foil(
      "train --arch mlp --data fashion-mnist:train:300 --test '' --epochs 1 "
      "--noise-sd 0.25 --out " +
      dir + "/noisy.foil");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Gaussian noise sd 0.25"), std::string::npos) << r.out;
}

TEST(CertifyCli, BadSmoothingIsOneLine) {
  const std::string c = "certify --model " + test::trained_cnn() + " --data fashion-mnist:test:2 ";
  expect_bad_input(c + "--sigma 0", "--sigma");
  expect_bad_input(c + "--sigma nan", "--sigma");
  expect_bad_input(c + "--n0 0", "--n0");
  expect_bad_input(c + "--n 0", "--n");
  expect_bad_input(c + "--alpha 1", "--alpha");
  expect_bad_input(c + "--alpha 0", "--alpha");
  expect_bad_input(c + "--attack-eps -1", "--attack-eps");
  expect_bad_input("train --noise-sd -1 --out /tmp/x.foil", "--noise-sd");
}

}  // namespace
}  // namespace foil
