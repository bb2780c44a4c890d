#pragma once
/// @file
/// Training zoo models: standard training and PGD adversarial training (Madry et al.
/// 2018), with a checkpoint every epoch so an interrupted run resumes where it stopped.

#include <c10/core/Device.h>
#include <torch/arg.h>
#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foil/core/option_fields.h"
#include "foil/data/dataset.h"

namespace foil {

class ZooModel;

/// How `train_model` trains a zoo model.
struct TrainOptions {
  /// Zoo architecture (mlp, cnn, resnet, mobilenet). Default "cnn".
  TORCH_ARG(std::string, arch) = "cnn";
  TORCH_ARG(int64_t, epochs) = 4;   ///< passes over the training set
  TORCH_ARG(int64_t, batch) = 128;  ///< items per step
  /// Peak learning rate of Adam under a one-cycle (warm-up, cosine-down) schedule.
  TORCH_ARG(double, lr) = 2e-3;
  TORCH_ARG(double, weight_decay) = 1e-4;  ///< Adam weight decay (L2)
  TORCH_ARG(uint64_t, seed) = 0;           ///< initialisation and shuffling
  /// "none" or "pgd" (adversarial training on PGD examples).
  TORCH_ARG(std::string, adv_train) = "none";
  TORCH_ARG(double, adv_eps) = 0.1;      ///< adversarial training: PGD's eps
  TORCH_ARG(double, adv_alpha) = 0.025;  ///< adversarial training: PGD's step size
  TORCH_ARG(int64_t, adv_steps) = 7;     ///< adversarial training: PGD's steps
  /// Gaussian data augmentation (Cohen et al.'s base classifiers for randomized smoothing):
  /// every training image gets noise of this standard deviation, unclipped; 0: none.
  TORCH_ARG(double, noise_sd) = 0.0;
  /// Masked training for PatchCleanser (its base models are trained with Cutout, DeVries &
  /// Taylor 2017): every training image gets two square holes of this share of the image side,
  /// centred anywhere (clipped at the border), filled with 0 (what PatchCleanser's masks put
  /// in a zoo model's input); 0: none.
  TORCH_ARG(double, cutout) = 0.0;
  /// Checkpoint file; empty for none. Resumed from when it exists and matches.
  TORCH_ARG(std::string, checkpoint) = "";
  /// Progress label on stderr; empty for none.
  TORCH_ARG(std::string, progress) = "train";
  /// Where the network, its batches and its optimiser state live; the saved model is
  /// readable on any device.
  TORCH_ARG(c10::Device, device) = c10::kCPU;
};

/// The fields of TrainOptions a user sets (foil/core/option_fields.h): `foil train`'s flags.
const std::vector<OptionField<TrainOptions>>& train_option_fields();

/// Reads a checkpoint written by save_checkpoint into `net` and `optimizer` (onto the
/// device of `net`'s parameters) when `path` exists; returns the number of finished epochs (0
/// without a checkpoint). Throws InputError when the checkpoint is corrupt, was written with
/// another `signature`, or does not fit.
int64_t load_checkpoint(const std::string& path, const std::string& signature,
                        torch::nn::Module& net, torch::optim::Optimizer& optimizer);

/// Writes net, optimizer state and the finished epoch count atomically.
void save_checkpoint(const std::string& path, const std::string& signature, int64_t epochs_done,
                     const torch::nn::Module& net, const torch::optim::Optimizer& optimizer);

/// One-cycle schedule: linear warm-up over the first 15% of steps, then cosine to zero.
double one_cycle_lr(double peak, int64_t step, int64_t total);

/// Cutout (DeVries & Taylor 2017): `x` (N x C x H x W) with `holes` square holes per image,
/// each of side round(`side` x min(H, W)) pixels centred on a pixel drawn uniformly (LibTorch's
/// generator) and clipped at the border, set to 0.
torch::Tensor cutout(const torch::Tensor& x, double side, int64_t holes);

/// Stops a training run whose loss is no longer finite: removes `checkpoint` (it cannot be
/// resumed usefully) and throws InputError naming --lr, the epoch and batch (1-based).
void check_finite_loss(double loss, double lr, int64_t epoch, int64_t batch,
                       const std::string& checkpoint);

/// One epoch's per-step losses (and correct counts), kept on the device and read back in one
/// transfer every `every` steps instead of a host round trip per step, which stalls a GPU.
class LossTally {
 public:
  /// `lr`, `epoch` (1-based) and `checkpoint` are for check_finite_loss's message.
  LossTally(double lr, int64_t epoch, std::string checkpoint, int64_t every = 20);
  /// Step `batch` (1-based, in order) of `items` items; `correct` (may be undefined) counts its
  /// right answers. Reads back when `every` steps are pending.
  void add(const torch::Tensor& loss, int64_t items, const torch::Tensor& correct = {});
  /// Reads back the pending steps; throws check_finite_loss's InputError at the first step
  /// whose loss is not finite.
  void flush();
  /// Sum of loss × items over the steps read back so far.
  double loss_sum() const { return loss_sum_; }
  /// Items in the steps read back so far.
  int64_t items() const { return items_; }
  /// Right answers in the steps read back so far (0 where `correct` was not given).
  int64_t correct() const { return correct_; }

 private:
  double lr_;
  int64_t epoch_, every_;
  std::string checkpoint_;
  std::vector<torch::Tensor> losses_, corrects_;
  std::vector<int64_t> sizes_;
  int64_t flushed_steps_ = 0, items_ = 0, correct_ = 0;
  double loss_sum_ = 0;
};

/// One epoch's numbers.
struct EpochStats {
  int64_t epoch = 0;          ///< 1-based
  double loss = 0;            ///< mean training loss
  double train_accuracy = 0;  ///< on the training batches, during the epoch
  double test_accuracy = 0;   ///< on the held-out set, after the epoch
  double seconds = 0;         ///< wall time
};

/// Trains a zoo model on `train`, evaluates on `test` after every epoch. `on_epoch` (may be
/// empty) sees each epoch's numbers. The returned model records its test accuracy.
std::shared_ptr<ZooModel> train_model(const TrainOptions& options, const Dataset& train,
                                      const Dataset& test,
                                      const std::function<void(const EpochStats&)>& on_epoch = {});

}  // namespace foil
