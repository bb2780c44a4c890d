// foil train: trains a zoo architecture (optionally adversarially) and writes a model file.
#include "commands.h"
#include "foil/jobs/train_job.h"

namespace foil::cli {

void setup_train(CLI::App& app) {
  add_training_command<TrainJobOptions, TrainOptions>(
      app.add_subcommand("train", "train a zoo model (mlp, cnn, resnet, mobilenet)"),
      train_option_fields(), "training data spec",
      "test data spec (evaluated each epoch; '' for none)", run_train_job);
}

}  // namespace foil::cli
