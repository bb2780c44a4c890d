// The foil CLI end to end: real runs on a few hundred images, and every bad-input case
// ending in a one-line message and exit code 2.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "foil/data/dataset.h"
#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::read_json;
using test::run_foil;

TEST(Cli, AttackWritesJsonAndTorchLoadableTensor) {
  const std::string dir = test::temp_dir("cli-attack");
  auto r =
      run_foil("attack --model " + test::trained_cnn() +
               " --data fashion-mnist:test:300 --attack pgd --norm linf --eps 0.1 --alpha 0.01 "
               "--steps 10 --batch 100 --json " +
               dir + "/r.json --save-adv " + dir + "/adv.pt");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("robust accuracy"), std::string::npos);
  auto j = read_json(dir + "/r.json");
  EXPECT_EQ(j["n"], 300);
  for (const char* k : {"clean_accuracy", "robust_accuracy", "attack_success_rate", "seconds"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_LE(j["perturbation"]["linf_max"].get<double>(), 0.1 + 1e-6);
  EXPECT_GT(j["clean_accuracy"].get<double>(), 0.8);
  EXPECT_LT(j["robust_accuracy"].get<double>(), j["clean_accuracy"].get<double>());
  // The saved tensor reads back (torch.load reads the same pickle format).
  std::ifstream f(dir + "/adv.pt", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto adv = torch::pickle_load(bytes).toTensor();
  EXPECT_EQ(adv.sizes(), (std::vector<int64_t>{300, 1, 28, 28}));
}

TEST(Cli, SavedAdversarialExamplesLoadInPyTorch) {
  const std::string dir = test::temp_dir("cli-torchload");
  auto r = run_foil("attack --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:20 --attack fgsm --eps 0.05 --save-adv " + dir +
                    "/adv.pt");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string py = "/usr/bin/python3 -c \"import torch; t = torch.load('" + dir +
                         "/adv.pt'); assert tuple(t.shape) == (20, 1, 28, 28), t.shape; "
                         "assert 0 <= float(t.min()) and float(t.max()) <= 1\"";
  EXPECT_EQ(std::system(py.c_str()), 0);
}

TEST(Cli, TargetedAttackOnTorchScriptModelAndImageFolder) {
  const std::string dir = test::temp_dir("cli-folder");
  for (const char* c : {"a", "b"}) {
    std::filesystem::create_directories(dir + "/imgs/" + c);
    for (int i = 0; i < 3; ++i)
      write_image(dir + "/imgs/" + c + "/" + std::to_string(i) + ".png", torch::rand({1, 28, 28}));
  }
  auto r = run_foil("attack --model " + test::fixture("small_cnn.pt") + " --data " + dir +
                    "/imgs --attack bim --eps 0.2 --alpha 0.05 --steps 10 --targeted 3 --json " +
                    dir + "/r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_json(dir + "/r.json")["n"], 6);
}

TEST(Cli, AuditWritesResultsFolder) {
  const std::string dir = test::temp_dir("cli-audit");
  auto r = run_foil("audit --model " + test::trained_cnn() +
                    " --data fashion-mnist:test:100 --linf-eps 0.02,0.1 --l2-eps 1 --steps 10 "
                    "--out " +
                    dir);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/audit.json");
  ASSERT_EQ(j["results"].size(), 3u);  // AutoAttack (fast) at 3 budgets
  double small = 0, large = 0;
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["attack"], "autoattack");
    ASSERT_EQ(row["stages"].size(), 2u);
    // Robust after APGD-T <= after APGD-CE <= clean, and the last stage is the headline.
    EXPECT_LE(row["stages"][1]["robust_accuracy"], row["stages"][0]["robust_accuracy"]);
    EXPECT_LE(row["stages"][0]["robust_accuracy"], row["clean_accuracy"]);
    EXPECT_EQ(row["stages"][1]["robust_accuracy"], row["robust_accuracy"]);
    EXPECT_EQ(row["broken_by"].size(), 100u);
    if (row["norm"] == "linf" && row["eps"] == 0.02) small = row["robust_accuracy"];
    if (row["norm"] == "linf" && row["eps"] == 0.1) large = row["robust_accuracy"];
  }
  EXPECT_LE(large, small);
  // One DeepFool curve per norm; its accuracy falls with eps from the clean accuracy.
  ASSERT_EQ(j["minimal_norm_curves"].size(), 2u);
  const auto& curve = j["minimal_norm_curves"][0];
  EXPECT_EQ(curve["attack"], "deepfool");
  EXPECT_LE(curve["accuracy"].back().get<double>(), curve["accuracy"].front().get<double>());
  EXPECT_GT(curve["minimal_norm"]["median"].get<double>(), 0.0);
  // At eps 0 the curve is the clean accuracy; the run's own budget is not reported as a row.
  EXPECT_DOUBLE_EQ(curve["accuracy"].front().get<double>(), j["clean_accuracy"].get<double>());
  EXPECT_FALSE(curve.contains("robust_accuracy"));
  for (const char* f : {"audit.csv", "robust_accuracy_linf.svg", "robust_accuracy_l2.svg",
                        "examples.png", "report.html", "run.json"}) {
    EXPECT_TRUE(std::filesystem::file_size(dir + "/" + f) > 100) << f;
  }
  // The plot: one line per AutoAttack stage plus the dashed minimal-norm curve, in a legend.
  std::ifstream in(dir + "/robust_accuracy_linf.svg");
  const std::string svg((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t lines = 0;
  for (size_t at = svg.find("class=\"series\""); at != std::string::npos;
       at = svg.find("class=\"series\"", at + 1))
    ++lines;
  EXPECT_EQ(lines, j["results"][0]["stages"].size() + 1);
  for (const char* label : {">apgd-ce<", "(AA)<", "minimal-norm curve<", "stroke-dasharray"})
    EXPECT_NE(svg.find(label), std::string::npos) << label;
}

TEST(Cli, TrainWritesLoadableModel) {
  const std::string dir = test::temp_dir("cli-train");
  auto r = run_foil(
      "train --arch mlp --data fashion-mnist:train:2000 --test fashion-mnist:test:500 --epochs 1 "
      "--out " +
      dir + "/m.foil");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("epoch   1/1"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir + "/m.foil.ckpt"));
  auto r2 = run_foil("attack --model " + dir +
                     "/m.foil --data fashion-mnist:test:50 --attack fgsm --eps 0.05");
  EXPECT_EQ(r2.code, 0) << r2.err;
}

TEST(Cli, BenchPrintsRatios) {
  auto r = run_foil("bench --model " + test::trained_cnn() + " --batch 32 --steps 2 --repeats 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("pgd-linf"), std::string::npos);
  EXPECT_NE(r.out.find("bare ms"), std::string::npos);
  EXPECT_NE(r.out.find("quartiles"), std::string::npos);
}

// --only times the rows it names and nothing else; an unknown row is bad input.
TEST(Cli, BenchOnlyTimesTheNamedRows) {
  const std::string dir = test::temp_dir("bench-only");
  auto r = run_foil("bench --model " + test::trained_cnn() +
                    " --batch 16 --steps 2 --repeats 3 --only apgd-t-l2,patch-ot --json " + dir +
                    "/b.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("apgd-t-l2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("patch-ot "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("pgd-linf"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("patch-ot+eot"), std::string::npos) << r.out;
  const auto rows = nlohmann::json::parse(std::ifstream(dir + "/b.json"))["attacks"];
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["attack"], "apgd-t");
  EXPECT_EQ(rows[1]["attack"], "patch-ot");
  for (const auto& row : rows) {
    // The ratio is the median of the pairs' ratios, so it lies within their quartiles.
    const double lo = row["ratio_quartiles"][0], hi = row["ratio_quartiles"][1];
    const double ratio = row["ratio_to_bare"];
    EXPECT_GT(lo, 0);
    EXPECT_LE(lo, ratio);
    EXPECT_LE(ratio, hi);
  }
  expect_bad_input("bench --model " + test::trained_cnn() + " --only pgd", "--only");
  expect_bad_input("bench --model-only --model " + test::trained_cnn() + " --only pgd-linf",
                   "--only");
}

// --profile: each row's read-backs per step (ops that wait for the device) and its costliest
// ops. PGD's loop reads nothing back; a patch step reads back only its loss (one wait, plus
// the same value summed on the host); the grid patch's cells are spread without
// repeat_interleave, whose repeat count is read back (4 more per step before).
TEST(Cli, BenchProfileCountsReadBacks) {
  const std::string dir = test::temp_dir("bench-profile");
  auto r = run_foil("bench --model " + test::trained_cnn() +
                    " --batch 16 --steps 5 --repeats 1 --only pgd-linf,patch-ce+eot --profile "
                    "--json " +
                    dir + "/b.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto rows = test::read_json(dir + "/b.json")["attacks"];
  ASSERT_EQ(rows.size(), 2u);
  const auto& pgd = rows[0]["profile"];
  EXPECT_EQ(pgd["steps"], 5);
  EXPECT_EQ(pgd["read_backs_per_step"].get<double>(), 0.0) << pgd.dump();
  ASSERT_FALSE(pgd["top_inclusive"].empty());
  EXPECT_GT(pgd["top_inclusive"][0]["ms"].get<double>(), 0.0);
  EXPECT_EQ(rows[1]["profile"]["read_backs_per_step"].get<double>(), 2.0)
      << rows[1]["profile"].dump();
  expect_bad_input("bench --model-only --model " + test::trained_cnn() + " --profile", "--profile");
}

TEST(Cli, BadOptionValues) {
  const std::string m = " --model " + test::trained_cnn() + " --data fashion-mnist:test:10";
  expect_bad_input("attack" + m + " --eps -0.1", "--eps");
  expect_bad_input("attack" + m + " --steps 0", "--steps");
  expect_bad_input("attack" + m + " --alpha 0", "--alpha");
  expect_bad_input("attack" + m + " --attack nope", "--attack");
  expect_bad_input("attack" + m + " --attack autoattack --version quick", "--version");
  expect_bad_input("attack" + m + " --attack square --queries 0", "--max-queries");
  expect_bad_input("attack" + m + " --attack apgd-ce --steps 0", "--steps");
  expect_bad_input("attack" + m + " --attack apgd-ce --steps 1000000000", "--steps");
  expect_bad_input("--threads 100000 attack" + m, "--threads");
  expect_bad_input("audit --model " + test::trained_cnn() + " --l2-eps 1,inf", "--l2-eps");
  expect_bad_input("attack" + m + " --mean nan --std 1", "--mean");
  expect_bad_input("attack" + m + " --attack square --max-queries 100000000", "--max-queries");
  expect_bad_input("attack" + m + " --attack deepfool --eps inf", "--eps");
  expect_bad_input("attack" + m + " --attack cw --initial-const nan", "--initial-const");
  expect_bad_input("attack" + m + " --attack cw --kappa -1", "--kappa");
  expect_bad_input("attack" + m + " --attack cw --norm linf", "--norm");
  expect_bad_input("attack" + m + " --attack apgd-t --targets 10", "--targets");
  expect_bad_input("attack" + m + " --attack autoattack --targeted 3", "--targeted");
  expect_bad_input("audit --model " + test::trained_cnn() + " --curve nope", "--curve");
  expect_bad_input("attack" + m + " --norm l7", "--norm");
  expect_bad_input("attack" + m + " --targeted 10", "--targeted");
  expect_bad_input("train --arch vgg --out /tmp/x.foil", "--arch");
  expect_bad_input("attack --model " + test::trained_cnn() + " --data fashion-mnist:valid",
                   "fashion-mnist");
  expect_bad_input("audit --model " + test::trained_cnn() + " --linf-eps 0.1,abc", "--linf-eps");
}

TEST(Cli, BadFiles) {
  const std::string dir = test::temp_dir("cli-badfiles");
  expect_bad_input("attack --model " + dir + "/missing.foil --data fashion-mnist:test:10",
                   "missing.foil");
  std::ofstream(dir + "/junk.pt") << "junk";
  expect_bad_input("attack --model " + dir + "/junk.pt --data fashion-mnist:test:10", "not a");
  // A truncated model file.
  std::ifstream in(test::trained_cnn(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/cut.foil", std::ios::binary) << bytes.substr(0, bytes.size() / 3);
  expect_bad_input("attack --model " + dir + "/cut.foil --data fashion-mnist:test:10", "cut.foil");
  // Corrupt and truncated datasets: point foil at a copy with a damaged file.
  std::filesystem::create_directories(dir + "/fm");
  for (const char* f : {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"})
    std::filesystem::copy_file(fashion_mnist_dir() + "/" + f, dir + "/fm/" + f);
  std::ifstream lb(dir + "/fm/t10k-images-idx3-ubyte.gz", std::ios::binary);
  std::string lbytes((std::istreambuf_iterator<char>(lb)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/fm/t10k-images-idx3-ubyte.gz", std::ios::binary)
      << lbytes.substr(0, lbytes.size() / 2);
  setenv("FOIL_FASHION_MNIST_DIR", (dir + "/fm").c_str(), 1);
  expect_bad_input("attack --model " + test::trained_cnn() + " --data fashion-mnist:test:10",
                   "t10k-images");
  unsetenv("FOIL_FASHION_MNIST_DIR");
  std::ofstream(dir + "/bad.png") << "not a png";
  expect_bad_input("attack --model " + test::trained_cnn() + " --data " + dir + "/bad.png",
                   "bad.png");
}

TEST(Cli, ModelAndDataShapesThatDoNotFit) {
  const std::string dir = test::temp_dir("cli-shapes");
  write_image(dir + "/colour.png", torch::rand({3, 40, 40}));
  // The CNN takes 1x28x28; a colour image is converted and resized, but a 3-channel
  // TorchScript ResNet cannot take Fashion-MNIST.
  expect_bad_input(
      "attack --model " + test::fixture("resnet18.pt") + " --data fashion-mnist:test:4",
      "channels");
  expect_bad_input("attack --model " + test::trained_cnn() +
                       " --data fashion-mnist:test:4 --mean 0.5,0.5 --std 0.2",
                   "--mean");
}

TEST(Cli, HelpAndMissingSubcommand) {
  EXPECT_EQ(run_foil("--help").code, 0);
  EXPECT_EQ(run_foil("").code, 2);
  EXPECT_EQ(run_foil("frobnicate").code, 2);
}

}  // namespace
}  // namespace foil
