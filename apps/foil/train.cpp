// foil train: trains a zoo architecture (optionally adversarially) and writes a model file.
#include "commands.h"
#include "foil/jobs/train_job.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"

namespace foil::cli {

void setup_train(CLI::App& app) {
  auto o = std::make_shared<TrainJobOptions>();
  auto json = std::make_shared<std::string>();
  TrainOptions& t = o->train;
  auto* sub = app.add_subcommand("train", "train a zoo model (mlp, cnn, resnet, mobilenet)");
  sub->add_option("--arch", t.arch(), "architecture")
      ->check(CLI::IsMember(zoo_architectures()))
      ->capture_default_str();
  sub->add_option("--data", o->data, "training data spec")->capture_default_str();
  sub->add_option("--test", o->test, "test data spec (evaluated each epoch; '' for none)")
      ->capture_default_str();
  sub->add_option("--out", o->out, "model file to write")->required();
  sub->add_option("--epochs", t.epochs(), "epochs")
      ->check(integer_in(1, kMaxEpochs))
      ->capture_default_str();
  sub->add_option("--batch", t.batch(), "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--lr", t.lr(), "peak learning rate (Adam, one-cycle)")
      ->check(number_in(0, 10, true))
      ->capture_default_str();
  sub->add_option("--adv-train", t.adv_train(), "none or pgd (Madry et al.)")
      ->check(CLI::IsMember({"none", "pgd"}))
      ->capture_default_str();
  sub->add_option("--eps", t.adv_eps(), "adversarial training: Linf radius")
      ->check(number_in(0, 1))
      ->capture_default_str();
  sub->add_option("--alpha", t.adv_alpha(), "adversarial training: PGD step")
      ->check(number_in(0, 1, true))
      ->capture_default_str();
  sub->add_option("--steps", t.adv_steps(), "adversarial training: PGD steps")
      ->check(integer_in(1, kMaxSteps))
      ->capture_default_str();
  sub->add_option("--noise-sd", t.noise_sd(),
                  "Gaussian data augmentation of this sd (base classifiers for 'foil certify', as "
                  "Cohen et al.); 0: none")
      ->check(number_in(0, 10))
      ->capture_default_str();
  sub->add_option("--cutout", t.cutout(),
                  "masked training for 'foil certify --patch' (Cutout, as PatchCleanser's base "
                  "models): two square holes of this share of the image side per training "
                  "image; 0: none")
      ->check(number_in(0, 1))
      ->capture_default_str();
  sub->add_flag("!--no-resume", o->resume, "ignore an existing checkpoint and start afresh");
  sub->add_option("--json", *json, "write the training history as JSON");
  sub->callback([o, json] {
    o->train.device(apply_global_options()).seed(global_options().seed);
    o->log = print_line;
    check_writable(*json, "--json");
    const TrainJobResult r = run_train_job(*o);
    if (!json->empty()) write_json(*json, r.to_json());
  });
}

}  // namespace foil::cli
