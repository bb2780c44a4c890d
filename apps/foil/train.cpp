// foil train: trains a zoo architecture (optionally adversarially) and writes a model file.
#include "commands.h"
#include "foil/jobs/train_job.h"
#include "foil/report/figures.h"

namespace foil::cli {

void setup_train(CLI::App& app) {
  auto o = std::make_shared<TrainJobOptions>();
  auto json = std::make_shared<std::string>();
  auto flags = std::make_shared<FlagsOf<TrainOptions>>();
  auto* sub = app.add_subcommand("train", "train a zoo model (mlp, cnn, resnet, mobilenet)");
  add_data_flag(sub, o->data, "training data spec");
  sub->add_option("--test", o->test, "test data spec (evaluated each epoch; '' for none)")
      ->capture_default_str();
  sub->add_option("--out", o->out, "model file to write")->required();
  add_option_flags(sub, *flags, train_option_fields(), TrainOptions(), "");
  sub->add_flag("!--no-resume", o->resume, "ignore an existing checkpoint and start afresh");
  sub->add_option("--json", *json, "write the training history as JSON");
  sub->callback([o, json, flags] {
    apply_option_flags(*flags, o->train);
    o->train.device(apply_global_options()).seed(global_options().seed);
    o->log = print_line;
    check_writable(*json, "--json");
    const TrainJobResult r = run_train_job(*o);
    write_json_output(*json, r.to_json());
  });
}

}  // namespace foil::cli
