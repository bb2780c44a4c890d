// foil patch train / eval / transfer end to end.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "foil/data/dataset.h"
#include "foil/report/figures.h"
#include "test_util.h"

namespace foil {
namespace {

using test::expect_bad_input;
using test::read_json;
using test::run_foil;

// A flag of another patch job is refused naming it and the command (help_cli_test.cpp: each
// job's --help lists only its own).
TEST(CliPatch, AFlagOfAnotherJobIsRefused) {
  expect_bad_input("patch eval --model " + test::trained_cnn() + " --patch p.pt --epochs 3",
                   "--epochs: not a flag of foil patch eval");
}

TEST(CliPatch, TrainWritesOutputsAndEvalReadsThePatch) {
  const std::string dir = test::temp_dir("cli-patch");
  auto r =
      run_foil("patch train --model " + test::trained_cnn() +
               " --data fashion-mnist:train:300 --target 8 --cells 11 --epochs 2 --out " + dir);
  ASSERT_EQ(r.code, 0) << r.err;
  // Trained on training images, evaluated on held-out test images, and it says so.
  auto summary = read_json(dir + "/summary.json");
  EXPECT_EQ(summary["train_data"], "fashion-mnist:train:300");
  EXPECT_EQ(summary["eval_data"], "fashion-mnist:test:1000");
  EXPECT_EQ(summary["eval_on_train"], false);
  EXPECT_EQ(summary["evaluation"][0]["n"], 1000);
  EXPECT_NE(r.out.find("held out"), std::string::npos);
  for (const char* f : {"patch.pt", "patch.json", "patch.png", "loss.csv", "loss.svg",
                        "report.html", "patched.png", "summary.json"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
  EXPECT_FALSE(std::filesystem::exists(dir + "/checkpoint.pt"));
  auto e = run_foil("patch eval --model " + test::trained_cnn() + " --model " +
                    test::trained_cnn() + " --data fashion-mnist:test:200 --target 8 --patch " +
                    dir + "/patch.pt --json " + dir + "/e.json");
  ASSERT_EQ(e.code, 0) << e.err;
  auto j = read_json(dir + "/e.json");
  ASSERT_EQ(j["models"].size(), 2u);
  EXPECT_EQ(j["models"][0]["target_success"], j["models"][1]["target_success"]);
  EXPECT_GE(j["models"][0]["target_success"].get<double>(), 0.0);
  EXPECT_GE(j["models"][0]["clean_target_rate"].get<double>(), 0.0);  // tSuc's baseline
}

TEST(CliPatch, TransferWritesOneMatrixPerObjective) {
  const std::string dir = test::temp_dir("cli-transfer");
  const std::string args = "patch transfer --model " + test::trained_cnn() + " --model " +
                           test::fixture("small_cnn.pt") +
                           " --data fashion-mnist:test:128 --target 8 --cells 11 --epochs 1 "
                           "--projections 32 --repeats 1 --out " +
                           dir;
  auto r = run_foil(args);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = read_json(dir + "/transfer.json");
  for (const char* loss : {"ce", "feature", "ot"}) {
    EXPECT_EQ(j["matrices"][loss]["tsuc"].size(), 2u) << loss;
    EXPECT_TRUE(std::filesystem::exists(dir + "/transfer-" + std::string(loss) + ".png"));
  }
  // Each model's baseline: its clean non-target items already predicted as the target.
  EXPECT_EQ(j["clean_target_rate"].size(), 2u);
  EXPECT_NE(r.out.find("baseline, clean images already predicted as the target"), std::string::npos)
      << r.out;
  // A rerun reuses the finished patches (resume) and gives the same matrices.
  auto again = run_foil(args);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("reusing"), std::string::npos);
  EXPECT_EQ(read_json(dir + "/transfer.json")["matrices"], j["matrices"]);
}

TEST(CliPatch, FeatureAndOtTakeTheirTargetImagesFromTargetData) {
  const std::string dir = test::temp_dir("cli-target-data");
  // Held out: Fashion-MNIST's test split (the default); the target's images: other training
  // images, labelled, of which those of class 8 are the target distribution.
  auto r = run_foil("patch train --model " + test::trained_cnn() +
                    " --data fashion-mnist:train:64 --target 8 --loss ot --projections 16 "
                    "--cells 7 --epochs 1 --target-data fashion-mnist:train:300 --out " +
                    dir);
  ASSERT_EQ(r.code, 0) << r.err;
  const Dataset pool = load_data("fashion-mnist:train:300");
  const int64_t bags = pool.labels.eq(8).sum().item<int64_t>();
  ASSERT_GT(bags, 0);
  EXPECT_NE(r.out.find(fmt::format("target distribution: {} image(s) of", bags)), std::string::npos)
      << r.out;
  EXPECT_EQ(read_json(dir + "/summary.json")["target_data"], "fashion-mnist:train:300");
  const std::string m = "patch train --model " + test::trained_cnn() +
                        " --data fashion-mnist:train:64 --target 8 --epochs 1 --out " + dir + "/x";
  // Never the held-out images; only for the losses that match a distribution; a class there.
  expect_bad_input(m + " --loss ot --target-data fashion-mnist:test:50", "--target-data");
  expect_bad_input(m + " --loss ot --target-data " + dir + "/missing", "--target-data " + dir);
  expect_bad_input(m + " --loss ce --target-data fashion-mnist:train:300", "--loss feature or ot");
  const int64_t first = pool.labels[0].item<int64_t>();
  expect_bad_input("patch train --model " + test::trained_cnn() +
                       " --data fashion-mnist:train:64 --loss feature --epochs 1 --target " +
                       std::to_string((first + 1) % 10) +
                       " --target-data fashion-mnist:train:1 --out " + dir + "/x",
                   "none among its 1 image(s)");
  EXPECT_FALSE(std::filesystem::exists(dir + "/x"));
}

TEST(CliPatch, AGreyPatchMeetsAColourModelAndAColourPatchAGreyOne) {
  // emotion takes grey 64x64 faces, SSR-Net colour 64x64: a patch trained on either is
  // evaluated on both (grey -> the same value in each channel; colour -> its luma).
  const std::string dir = test::temp_dir("cli-patch-channels");
  const std::string face = " --data " + test::astronaut_face();
  for (const std::string m : {"emotion", "gender-ssrnet-imdb"}) {
    auto t = run_foil("patch train --model " + test::human_model(m) + face +
                      " --eval-on-train --epochs 1 --batch 1 --area 0.1 --out " + dir + "/" + m);
    ASSERT_EQ(t.code, 0) << t.err;
    auto e = run_foil("patch eval --model " + test::human_model(m) + " --model " +
                      test::human_model(m == "emotion" ? "gender-ssrnet-imdb" : "emotion") + face +
                      " --repeats 1 --patch " + dir + "/" + m + "/patch.pt --json " + dir + "/" +
                      m + ".json");
    ASSERT_EQ(e.code, 0) << e.err;
    EXPECT_EQ(read_json(dir + "/" + m + ".json")["models"].size(), 2u);
  }
}

TEST(CliPatch, TorchScriptModelOnColourImagesAndExplainWithPatch) {
  const std::string dir = test::temp_dir("cli-patch-colour");
  for (const char* c : {"a", "b"}) {
    std::filesystem::create_directories(dir + "/imgs/" + c);
    for (int i = 0; i < 4; ++i)
      write_image(dir + "/imgs/" + c + "/" + std::to_string(i) + ".png", torch::rand({3, 48, 40}));
  }
  // A scripted ResNet-18 (3 channels, any size), an OT patch on its layer4 features.
  auto r = run_foil("patch train --model " + test::fixture("resnet18.pt") + " --data " + dir +
                    "/imgs --target 1 --loss ot --layers layer4 --projections 16 --cells 5 --eot "
                    "--epochs 1 --batch 4 --out " +
                    dir + "/p");
  ASSERT_EQ(r.code, 0) << r.err;
  auto patch = read_json(dir + "/p/patch.json");
  EXPECT_EQ(patch["side"], 15);  // sqrt(0.15 * 48 * 40) = 17 -> the nearest multiple of 5 cells
  // 8 images: 7 train, 1 held out, and no image in both.
  const auto summary = read_json(dir + "/p/summary.json");
  EXPECT_NE(summary["eval_data"].get<std::string>().find("held-out"), std::string::npos);
  const auto train = summary["train_items"].get<std::vector<std::string>>();
  const auto held = summary["eval_items"].get<std::vector<std::string>>();
  EXPECT_EQ(train.size(), 7u);
  ASSERT_EQ(held.size(), 1u);
  std::set<std::string> all(train.begin(), train.end());
  all.insert(held.begin(), held.end());
  EXPECT_EQ(all.size(), 8u);  // eight distinct photos: the split holds no item twice
  auto e = run_foil("explain --model " + test::fixture("resnet18.pt") + " --data " + dir +
                    "/imgs --layer layer4 --patch " + dir + "/p/patch.pt --out " + dir + "/ex");
  ASSERT_EQ(e.code, 0) << e.err;
  auto j = read_json(dir + "/ex/explain.json");
  const double in_patch = j["cam_mass_in_patch"];
  EXPECT_GE(in_patch, 0.0);
  EXPECT_LE(in_patch, 1.0);
  EXPECT_EQ(read_image(dir + "/ex/overlays.png").size(1), 3);
}

TEST(CliPatch, BadInput) {
  const std::string dir = test::temp_dir("cli-patch-bad");
  const std::string m = "--model " + test::trained_cnn() + " --data fashion-mnist:test:20";
  expect_bad_input("patch train " + m + " --area 0.7 --out " + dir, "--area");
  expect_bad_input("patch train " + m + " --area 0 --out " + dir, "--area");
  expect_bad_input("patch train " + m + " --target 10 --out " + dir, "--target");
  expect_bad_input("patch train " + m + " --loss ot --target 3 --layers conv9 --out " + dir,
                   "pool2");
  save_tensor(dir + "/wrong.pt", torch::rand({3, 10, 10}));
  expect_bad_input("patch eval " + m + " --patch " + dir + "/wrong.pt", "shape");
  std::ofstream(dir + "/junk.pt") << "junk";
  expect_bad_input("patch eval " + m + " --patch " + dir + "/junk.pt", "junk.pt");
  // Evaluating on the training source needs saying so.
  expect_bad_input("patch train --model " + test::trained_cnn() +
                       " --data fashion-mnist:train:20 --eval-data fashion-mnist:train:10 --out " +
                       dir,
                   "--eval-data");
  expect_bad_input("patch train --model " + test::trained_cnn() +
                       " --data fashion-mnist:train:20 --eval-data " + dir + "/missing --out " +
                       dir,
                   "--eval-data " + dir + "/missing");
  EXPECT_FALSE(std::filesystem::exists(dir + "/patch.json"));
  expect_bad_input("patch train " + m + " --eot --tilt nan --out " + dir + "/t", "--tilt");
  expect_bad_input("patch train " + m + " --init zeros --out " + dir + "/t", "--init");
  expect_bad_input("patch train " + m + " --objects 3 --out " + dir + "/t", "--on-object");
  EXPECT_FALSE(std::filesystem::exists(dir + "/t"));
  expect_bad_input("patch transfer --model " + test::trained_cnn() +
                       " --data fashion-mnist:test:20 --target 3 --eval-data "
                       "fashion-mnist:test:10 --out " +
                       dir,
                   "--eval-on-train");
  std::filesystem::create_directories(dir + "/empty/a");
  expect_bad_input(
      "patch train --model " + test::trained_cnn() + " --data " + dir + "/empty --out " + dir,
      "empty");
}

}  // namespace
}  // namespace foil
