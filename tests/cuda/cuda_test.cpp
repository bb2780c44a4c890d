// foil on a GPU (`--device cuda`). Every test here is named *_CUDA and skips where LibTorch
// has no CUDA device, so the suite passes on machines without one.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "foil/attacks/attack.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/runtime.h"
#include "foil/data/dataset.h"
#include "foil/explain/explain.h"
#include "foil/models/model.h"
#include "foil/models/zoo.h"
#include "foil/patch/patch.h"
#include "foil/train/trainer.h"
#include "test_util.h"

namespace foil {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch build"

// The same attack, seed and data on the CPU and on the GPU: the random starts (drawn per
// sample on the CPU) are identical, results stay on the device, robust accuracy agrees, and
// a second GPU run repeats the first bit for bit.
TEST(Cuda, AttacksMatchTheCpuRun_CUDA) {
  SKIP_WITHOUT_CUDA();
  auto model = test::cnn_model();
  const Dataset data = load_data("fashion-mnist:test:200");
  const c10::Device gpu("cuda");
  use_deterministic_cuda();
  for (const std::string name : {"pgd", "apgd-ce", "square"}) {
    auto attack = make_attack(
        name, AttackOptions().eps(0.1).alpha(0.02).steps(10).queries(100).random_start(true));
    model->to(c10::kCPU);
    const AttackResult cpu =
        attack->run(*model, data.images, Criterion::misclassification(data.labels));
    model->to(gpu);
    const torch::Tensor x = data.images.to(gpu), y = data.labels.to(gpu);
    const AttackResult a = attack->run(*model, x, Criterion::misclassification(y));
    const AttackResult b = attack->run(*model, x, Criterion::misclassification(y));
    model->to(c10::kCPU);
    EXPECT_TRUE(a.adv.is_cuda()) << name;
    EXPECT_TRUE(torch::equal(a.adv, b.adv)) << name << ": two GPU runs differ";
    EXPECT_LE((a.adv.cpu() - data.images).abs().max().item<double>(), 0.1 + 1e-6) << name;
    const double n = static_cast<double>(data.images.size(0));
    const double rob_cpu = (~cpu.success).sum().item<double>() / n;
    const double rob_gpu = (~a.success.cpu()).sum().item<double>() / n;
    // Not pixel for pixel: a float difference in a gradient flips a sign step, and the paths
    // part (measured on an H100: 37% of PGD's and 90% of APGD's pixels equal to the CPU run's).
    EXPECT_NEAR(rob_gpu, rob_cpu, 0.02) << name;
  }
}

// Every command runs end to end on the GPU and reports what the CPU run reports.
TEST(Cuda, EveryCommandRunsOnTheDevice_CUDA) {
  SKIP_WITHOUT_CUDA();
  const std::string dir = test::temp_dir("cuda-cli");
  const std::string cnn = " --model " + test::trained_cnn();
  const std::string pose = " --model " + std::string(FOIL_TEST_MODELS) + "/posenet.foil";
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"attack", "attack" + cnn +
                     " --data fashion-mnist:test:100 --attack apgd-ce --eps 0.1 "
                     "--steps 10 --json DIR/r.json --save-adv DIR/adv.pt"},
      {"audit", "audit" + cnn +
                    " --data fashion-mnist:test:60 --linf-eps 0.1 --l2-eps 1 "
                    "--steps 5 --out DIR"},
      {"explain", "explain" + cnn + " --data fashion-mnist:test:4 --attacked --eps 0.1 --out DIR"},
      {"regions", "regions" + cnn + " --data fashion-mnist:test:40 --eps 0.1 --steps 5 --out DIR"},
      {"defend", "defend" + cnn +
                     " --data fashion-mnist:test:40 --eps 0.05 --steps 5 --json "
                     "DIR/d.json"},
      {"patch", "patch train" + cnn +
                    " --data fashion-mnist:train:100 --target 8 --epochs 1 "
                    "--out DIR"},
      {"keypoints", "keypoints attack" + pose +
                        " --data pose:test:4 --eps 0.1 --steps 3 "
                        "--out DIR"},
      {"predict", "predict" + cnn + " --data fashion-mnist:test:20 --json DIR/p.json"},
      {"bench", "bench" + cnn + " --batch 16 --steps 2 --repeats 1"},
      {"train",
       "train --arch cnn --data fashion-mnist:train:300 --test fashion-mnist:test:100 "
       "--epochs 1 --out DIR.foil"},
      {"keypoints-train",
       "keypoints train --data pose:train:64 --test pose:test:16 --epochs 1 "
       "--out DIR.foil"},
  };
  // The command with its output under DIR/<name>-<suffix>.
  auto in_dir = [&](std::string args, const std::string& name, const std::string& suffix) {
    for (size_t p; (p = args.find("DIR")) != std::string::npos;)
      args.replace(p, 3, dir + "/" + name + "-" + suffix);
    return args;
  };
  for (const auto& [name, args] : commands) {
    const test::Run g = test::run_foil("--device cuda " + in_dir(args, name, "gpu"));
    EXPECT_EQ(g.code, 0) << name << ": " << g.err;
    if (name != "attack") continue;
    const test::Run c = test::run_foil(in_dir(args, name, "cpu"));
    ASSERT_EQ(c.code, 0) << c.err;
    const auto jc = test::read_json(dir + "/attack-cpu/r.json");
    const auto jg = test::read_json(dir + "/attack-gpu/r.json");
    EXPECT_EQ(jg["clean_accuracy"], jc["clean_accuracy"]);
    EXPECT_NEAR(jg["robust_accuracy"].get<double>(), jc["robust_accuracy"].get<double>(), 0.03);
  }
}

// Training on the GPU: batches, network and optimiser state on the device; the model it
// writes loads on the CPU and is as accurate as one trained on the CPU with the same seed (not
// bit for bit: cuDNN sums in another order), and a checkpoint written on the GPU resumes there.
TEST(Cuda, TrainingOnTheDeviceMatchesTheCpu_CUDA) {
  SKIP_WITHOUT_CUDA();
  use_deterministic_cuda();
  const Dataset train = load_data("fashion-mnist:train:3000"),
                test = load_data("fashion-mnist:test:500");
  const std::string dir = test::temp_dir("cuda-train");
  auto o = TrainOptions().arch("cnn").epochs(2).progress("");
  auto cpu = train_model(o, train, test);
  auto gpu = train_model(TrainOptions(o).device(c10::Device("cuda")), train, test);
  EXPECT_NEAR(gpu->info().test_accuracy, cpu->info().test_accuracy, 0.03);
  gpu->save(dir + "/gpu.foil");
  auto loaded = load_model(dir + "/gpu.foil");
  EXPECT_EQ(loaded->device(), c10::Device(c10::kCPU));
  EXPECT_NEAR(evaluate_clean(*loaded, test), gpu->info().test_accuracy, 1e-9);
  // Interrupted after epoch 1 on the GPU; the rerun resumes from the GPU checkpoint.
  auto ck = TrainOptions(o).device(c10::Device("cuda")).checkpoint(dir + "/ck");
  try {
    train_model(ck, train, test, [](const EpochStats& s) {
      if (s.epoch == 1) throw std::runtime_error("interrupted");
    });
  } catch (const std::runtime_error&) {
  }
  auto resumed = train_model(ck, train, test);
  EXPECT_NEAR(resumed->info().test_accuracy, gpu->info().test_accuracy, 0.01);
}

// What changed on the CPU since the last GPU run, against the CPU: the EOT paste (same
// placements; noise off, since each device draws its own), its gradient, Grad-CAM maps and
// AutoAttack (APGD compacts its batch every 10 steps on a GPU, every step on the CPU).
// Without --deterministic a GPU runs PyTorch's default kernels; with it a rerun repeats bit for
// bit.
TEST(Cuda, PatchExplanationsAndAutoAttackMatchTheCpu_CUDA) {
  SKIP_WITHOUT_CUDA();
  const c10::Device gpu("cuda");
  Patch patch = Patch::create(PatchOptions().area(0.1).cells(5), ImageShape{1, 28, 28});
  const auto o = PlacementOptions().eot(true).noise(0);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto places = sample_object_placements(patch, 64, ImageShape{1, 28, 28}, o, gen, {});
  const Dataset data = load_data("fashion-mnist:test:64");
  auto paste = [&](c10::Device d) {
    torch::Tensor params = patch.params().detach().to(d).requires_grad_(true);
    Patch on = patch;
    on.params() = params;
    const torch::Tensor xp =
        apply_patch_each(data.images.to(d), on.render(), on.mask().to(d), places, o);
    const torch::Tensor g = torch::autograd::grad({xp.square().sum()}, {params})[0];
    return std::make_pair(xp.detach().cpu(), g.cpu());
  };
  const auto [xc, gc] = paste(c10::Device(c10::kCPU));
  const auto [xg, gg] = paste(gpu);
  EXPECT_LE((xc - xg).abs().max().item<double>(), 1e-4);
  EXPECT_LE((gc - gg).abs().max().item<double>() / gc.abs().max().item<double>(), 1e-3);

  auto model = test::cnn_model();
  const torch::Tensor x = data.images.slice(0, 0, 16), y = data.labels.slice(0, 0, 16);
  const std::string layer = default_cam_layer(*model, x);
  const torch::Tensor cam_cpu = explain(*model, x, y, ExplainMethod::kGradCam, layer);
  model->to(gpu);
  const torch::Tensor cam_gpu =
      explain(*model, x.to(gpu), y.to(gpu), ExplainMethod::kGradCam, layer);
  model->to(c10::kCPU);
  EXPECT_TRUE(cam_gpu.is_cuda());
  EXPECT_LE((cam_gpu.cpu() - cam_cpu).abs().max().item<double>(), 1e-3);

  const std::string dir = test::temp_dir("cuda-aa");
  const std::string aa = " attack --model " + test::trained_cnn() +
                         " --data fashion-mnist:test:100 --attack autoattack --eps 0.1 --steps 20 "
                         "--queries 200 --json " +
                         dir;
  const test::Run c = test::run_foil(aa + "/cpu.json");
  const test::Run g = test::run_foil("--device cuda" + aa + "/gpu.json");
  ASSERT_EQ(c.code, 0) << c.err;
  ASSERT_EQ(g.code, 0) << g.err;
  const auto jc = test::read_json(dir + "/cpu.json"), jg = test::read_json(dir + "/gpu.json");
  EXPECT_EQ(jg["clean_accuracy"], jc["clean_accuracy"]);
  EXPECT_NEAR(jg["robust_accuracy"].get<double>(), jc["robust_accuracy"].get<double>(), 0.03);
  // --deterministic: two GPU runs write the same adversarial examples, bit for bit.
  const std::string apgd = "--device cuda --deterministic attack --model " + test::trained_cnn() +
                           " --data fashion-mnist:test:100 --attack apgd-ce --eps 0.1 --save-adv " +
                           dir;
  ASSERT_EQ(test::run_foil(apgd + "/a.pt").code, 0);
  ASSERT_EQ(test::run_foil(apgd + "/b.pt").code, 0);
  EXPECT_EQ(test::slurp(dir + "/a.pt"), test::slurp(dir + "/b.pt"));
  EXPECT_FALSE(test::slurp(dir + "/a.pt").empty());
}

// A device index the machine does not have: one line, exit 2.
TEST(Cuda, MissingDeviceIndexIsBadInput_CUDA) {
  SKIP_WITHOUT_CUDA();
  test::expect_bad_input(
      "--device cuda:99 predict --model " + test::trained_cnn() + " --data fashion-mnist:test:2",
      "cuda:99");
}

}  // namespace
}  // namespace foil
