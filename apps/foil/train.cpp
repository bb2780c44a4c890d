// foil train: trains a zoo architecture (optionally adversarially) and writes a model file.
#include <fmt/format.h>
#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"
#include "foil/train/trainer.h"

namespace foil::cli {
namespace {

struct TrainCmd {
  std::string data = "fashion-mnist:train";
  std::string test = "fashion-mnist:test";
  std::string out;
  std::string arch = "cnn";
  int64_t epochs = 4, batch = 128;
  double lr = 2e-3;
  std::string adv_train = "none";
  double eps = 0.1, alpha = 0.025;
  int64_t steps = 7;
  bool resume = true;
  std::string json;
};

/// A share as a percentage; "n/a (no --test)" for the -1 of no test data.
std::string percent(double share) {
  return share < 0 ? "n/a (no --test)" : fmt::format("{:.2f}%", 100 * share);
}

void run_train(const TrainCmd& c) {
  const c10::Device device = apply_global_options();
  check_input(dist::size() == 1, "'foil train'",
              "one process (training a model is not shared out between processes; 'patch train' "
              "is)",
              fmt::format("a job of {} processes", dist::size()));
  check_writable(c.out, "--out");
  check_writable(c.json, "--json");
  Dataset train = load_data(c.data);
  Dataset test = c.test.empty() ? Dataset{} : load_data(c.test);
  test.relabel_to(train.class_names, "--test " + c.test);
  if (test.size() > 0)
    check_input(
        test.images.sizes().slice(1) == train.images.sizes().slice(1), "--test " + c.test,
        fmt::format("images shaped like the training data ({}x{}x{})", train.images.size(1),
                    train.images.size(2), train.images.size(3)),
        fmt::format("{}x{}x{}", test.images.size(1), test.images.size(2), test.images.size(3)));
  const std::string ckpt = c.out + ".ckpt";
  if (!c.resume) std::filesystem::remove(ckpt);
  TrainOptions o;
  o.arch(c.arch).epochs(c.epochs).batch(c.batch).lr(c.lr).seed(global_options().seed);
  o.adv_train(c.adv_train).adv_eps(c.eps).adv_alpha(c.alpha).adv_steps(c.steps).checkpoint(ckpt);
  o.device(device);
  if (std::filesystem::exists(ckpt)) fmt::print("resuming from checkpoint {}\n", ckpt);
  fmt::print("training {} on {} ({} items){}\n", c.arch, train.source, train.size(),
             c.adv_train == "pgd"
                 ? fmt::format(", PGD-{} adversarial training eps {}", c.steps, c.eps)
                 : "");
  nlohmann::json history = nlohmann::json::array();
  auto model = train_model(o, train, test, [&](const EpochStats& s) {
    fmt::print("epoch {:>3}/{}  loss {:.4f}  train acc {:.2f}%  test acc {}  {:.1f}s\n", s.epoch,
               c.epochs, s.loss, 100 * s.train_accuracy, percent(s.test_accuracy), s.seconds);
    std::fflush(stdout);
    history.push_back({{"epoch", s.epoch},
                       {"loss", s.loss},
                       {"train_accuracy", s.train_accuracy},
                       {"test_accuracy",
                        s.test_accuracy < 0 ? nlohmann::json() : nlohmann::json(s.test_accuracy)},
                       {"seconds", s.seconds}});
  });
  model->mutable_info().name = std::filesystem::path(c.out).filename().string();
  model->save(c.out);
  std::filesystem::remove(ckpt);
  fmt::print("wrote {} ({}, test accuracy {})\n", c.out, c.arch,
             percent(model->info().test_accuracy));
  if (!c.json.empty()) {
    write_json(c.json, {{"arch", c.arch},
                        {"data", train.source},
                        {"adv_train", c.adv_train},
                        {"test_accuracy", model->info().test_accuracy < 0
                                              ? nlohmann::json()
                                              : nlohmann::json(model->info().test_accuracy)},
                        {"epochs", history}});
  }
}

}  // namespace

void setup_train(CLI::App& app) {
  auto c = std::make_shared<TrainCmd>();
  auto* sub = app.add_subcommand("train", "train a zoo model (mlp, cnn, resnet, mobilenet)");
  sub->add_option("--arch", c->arch, "architecture")
      ->check(CLI::IsMember(zoo_architectures()))
      ->capture_default_str();
  sub->add_option("--data", c->data, "training data spec")->capture_default_str();
  sub->add_option("--test", c->test, "test data spec (evaluated each epoch; '' for none)")
      ->capture_default_str();
  sub->add_option("--out", c->out, "model file to write")->required();
  sub->add_option("--epochs", c->epochs, "epochs")
      ->check(integer_in(1, kMaxEpochs))
      ->capture_default_str();
  sub->add_option("--batch", c->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--lr", c->lr, "peak learning rate (Adam, one-cycle)")
      ->check(number_in(0, 10, true))
      ->capture_default_str();
  sub->add_option("--adv-train", c->adv_train, "none or pgd (Madry et al.)")
      ->check(CLI::IsMember({"none", "pgd"}))
      ->capture_default_str();
  sub->add_option("--eps", c->eps, "adversarial training: Linf radius")
      ->check(number_in(0, 1))
      ->capture_default_str();
  sub->add_option("--alpha", c->alpha, "adversarial training: PGD step")
      ->check(number_in(0, 1, true))
      ->capture_default_str();
  sub->add_option("--steps", c->steps, "adversarial training: PGD steps")
      ->check(integer_in(1, kMaxSteps))
      ->capture_default_str();
  sub->add_flag("!--no-resume", c->resume, "ignore an existing checkpoint and start afresh");
  sub->add_option("--json", c->json, "write the training history as JSON");
  sub->callback([c] { run_train(*c); });
}

}  // namespace foil::cli
