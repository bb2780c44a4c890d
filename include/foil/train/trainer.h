#pragma once
/// @file Training zoo models: standard training and PGD adversarial training (Madry et al.
/// 2018), with a checkpoint every epoch so an interrupted run resumes where it stopped.

#include <torch/arg.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foil/data/dataset.h"

namespace foil {

class ZooModel;

struct TrainOptions {
  /// Zoo architecture (mlp, cnn, resnet, mobilenet). Default "cnn".
  TORCH_ARG(std::string, arch) = "cnn";
  TORCH_ARG(int64_t, epochs) = 4;
  TORCH_ARG(int64_t, batch) = 128;
  /// Peak learning rate of Adam under a one-cycle (warm-up, cosine-down) schedule.
  TORCH_ARG(double, lr) = 2e-3;
  TORCH_ARG(double, weight_decay) = 1e-4;
  TORCH_ARG(uint64_t, seed) = 0;
  /// "none" or "pgd" (adversarial training on PGD examples).
  TORCH_ARG(std::string, adv_train) = "none";
  TORCH_ARG(double, adv_eps) = 0.1;
  TORCH_ARG(double, adv_alpha) = 0.025;
  TORCH_ARG(int64_t, adv_steps) = 7;
  /// Checkpoint file; empty for none. Resumed from when it exists and matches.
  TORCH_ARG(std::string, checkpoint) = "";
  /// Progress label on stderr; empty for none.
  TORCH_ARG(std::string, progress) = "train";
};

/// One epoch's numbers.
struct EpochStats {
  int64_t epoch = 0;
  double loss = 0, train_accuracy = 0, test_accuracy = 0, seconds = 0;
};

/// Trains a zoo model on `train`, evaluates on `test` after every epoch. `on_epoch` (may be
/// empty) sees each epoch's numbers. The returned model records its test accuracy.
std::shared_ptr<ZooModel> train_model(const TrainOptions& options, const Dataset& train,
                                      const Dataset& test,
                                      const std::function<void(const EpochStats&)>& on_epoch = {});

}  // namespace foil
