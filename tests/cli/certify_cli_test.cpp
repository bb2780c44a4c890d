// foil certify (smoothing and patches) and foil train --noise-sd/--cutout through the command
// line.
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
  EXPECT_NE(test::slurp(dir + "/c/report.html").find("id=\"certificate\""), std::string::npos);
  // Gaussian data augmentation for the base classifier.
  r = run_foil(
      "train --arch mlp --data fashion-mnist:train:300 --test '' --epochs 1 "
      "--noise-sd 0.25 --out " +
      dir + "/noisy.foil");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Gaussian noise sd 0.25"), std::string::npos) << r.out;
}

TEST(CertifyCli, PatchCertificateBesideThePatchAttacks) {
  const std::string dir = test::temp_dir("certify-patch-cli");
  auto r = run_foil("certify --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:6 --patch 0.05 --masks 3 --per-image-steps 3 "
                    "--positions 2 --patch-data fashion-mnist:train:40 --attack-epochs 1 --out " +
                    dir + "/p");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = test::read_json(dir + "/p/patch_certify.json");
  ASSERT_EQ(j["patch"].size(), 1u);
  const auto& row = j["patch"][0];
  EXPECT_EQ(row["patch_side"], 7);  // ceil(sqrt(0.05 * 784))
  EXPECT_EQ(row["masks"], 9);
  ASSERT_EQ(row["attacks"].size(), 4u);  // per-image and universal, plain and through masks
  EXPECT_GE(row["best_attack_accuracy"].get<double>(), row["certified_accuracy"].get<double>());
  EXPECT_EQ(row["certified_items_fooled"], 0);
  double plain = 1;  // the plain model's lowest accuracy under the four patches
  for (const auto& a : row["attacks"])
    plain = std::min(plain, a["undefended_accuracy"].get<double>());
  EXPECT_EQ(row["best_attack_undefended_accuracy"].get<double>(), plain);
  const std::string page = test::slurp(dir + "/p/report.html");
  EXPECT_NE(page.find("id=\"patch-certificate\""), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir + "/p/patch_certified.svg"));
  // Masked training for the base model.
  r = run_foil(
      "train --arch mlp --data fashion-mnist:train:300 --test '' --epochs 1 "
      "--cutout 0.4 --out " +
      dir + "/masked.foil");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Cutout 0.4"), std::string::npos) << r.out;
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
  expect_bad_input(c + "--n 1e12", "--n");
  expect_bad_input("train --noise-sd -1 --out /tmp/x.foil", "--noise-sd");
  expect_bad_input("train --cutout 2 --out /tmp/x.foil", "--cutout");
  // Patches: an area outside (0, 1), smoothing flags beside --patch, patch flags alone, the
  // attack data from the certified items' own source.
  expect_bad_input(c + "--patch 0", "--patch");
  expect_bad_input(c + "--patch 1.5", "--patch");
  expect_bad_input(c + "--patch 0.05 --sigma 0.5", "--sigma");
  expect_bad_input(c + "--masks 3", "--patch");
  expect_bad_input(c + "--patch 0.05 --patch-data fashion-mnist:test:50", "--patch-data");
}

}  // namespace
}  // namespace foil
