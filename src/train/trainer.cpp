#include "foil/train/trainer.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "foil/attacks/bim.h"
#include "foil/attacks/evaluate.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/models/zoo.h"

namespace foil {
namespace {

/// What a checkpoint must agree on to be resumed.
std::string signature(const TrainOptions& o, const Dataset& train) {
  return nlohmann::json({{"arch", o.arch()},
                         {"epochs", o.epochs()},
                         {"batch", o.batch()},
                         {"lr", o.lr()},
                         {"seed", o.seed()},
                         {"adv_train", o.adv_train()},
                         {"adv_eps", o.adv_eps()},
                         {"adv_steps", o.adv_steps()},
                         {"adv_alpha", o.adv_alpha()},
                         {"weight_decay", o.weight_decay()},
                         {"noise_sd", o.noise_sd()},
                         {"cutout", o.cutout()},
                         {"data", train.source},
                         {"n", train.size()},
                         {"images", tensor_digest(train.images)},
                         {"labels", tensor_digest(train.labels)}})
      .dump();
}

}  // namespace

torch::Tensor cutout(const torch::Tensor& x, double side, int64_t holes) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t len = std::llround(side * static_cast<double>(std::min(h, w)));
  const auto opts = torch::TensorOptions().dtype(torch::kLong).device(x.device());
  const torch::Tensor rows = torch::arange(h, opts).view({1, h, 1});
  const torch::Tensor cols = torch::arange(w, opts).view({1, 1, w});
  torch::Tensor keep = torch::ones({n, h, w}, x.options().dtype(torch::kBool));
  for (int64_t k = 0; k < holes; ++k) {
    // As the reference: the hole spans [centre - len/2, centre + len/2), clipped.
    const torch::Tensor cy = torch::randint(h, {n, 1, 1}, opts),
                        cx = torch::randint(w, {n, 1, 1}, opts);
    const torch::Tensor in_y = rows.ge(cy - len / 2) & rows.lt(cy + len / 2);
    const torch::Tensor in_x = cols.ge(cx - len / 2) & cols.lt(cx + len / 2);
    keep &= ~(in_y & in_x);
  }
  return x * keep.unsqueeze(1).to(x.dtype());
}

double one_cycle_lr(double peak, int64_t step, int64_t total) {
  const double warm = std::max<double>(1.0, 0.15 * static_cast<double>(total));
  if (step < warm) return peak * (step + 1) / warm;
  const double t = (step - warm) / std::max(1.0, total - warm);
  return peak * 0.5 * (1 + std::cos(M_PI * std::min(1.0, t)));
}

int64_t load_checkpoint(const std::string& path, const std::string& signature,
                        torch::nn::Module& net, torch::optim::Optimizer& optimizer) {
  if (path.empty() || !std::filesystem::exists(path)) return 0;
  torch::serialize::InputArchive ck;
  c10::IValue meta;
  try {
    const auto params = net.parameters();
    ck.load_from(path, params.empty() ? c10::Device(c10::kCPU) : params.front().device());
    ck.read("signature", meta);
  } catch (const c10::Error&) {
    throw InputError("checkpoint " + path + ": corrupt (delete it to start afresh)");
  }
  check_input(meta.toStringRef() == signature, "checkpoint " + path,
              "a checkpoint of the same training options (delete it to start afresh)",
              "one written with other options");
  try {
    torch::serialize::InputArchive weights, state;
    ck.read("net", weights);
    ck.read("optim", state);
    net.load(weights);
    optimizer.load(state);
    c10::IValue epoch;
    ck.read("epoch", epoch);
    return epoch.toInt();
  } catch (const c10::Error&) {
    throw InputError("checkpoint " + path +
                     ": does not fit this architecture (delete it to start afresh)");
  }
}

void save_checkpoint(const std::string& path, const std::string& signature, int64_t epochs_done,
                     const torch::nn::Module& net, const torch::optim::Optimizer& optimizer) {
  if (path.empty()) return;
  torch::serialize::OutputArchive ck, weights, state;
  net.save(weights);
  optimizer.save(state);
  ck.write("signature", c10::IValue(signature));
  ck.write("epoch", c10::IValue(epochs_done));
  ck.write("net", weights);
  ck.write("optim", state);
  ck.save_to(path + ".tmp");
  replace_with(path + ".tmp", path);
}

void check_finite_loss(double loss, double lr, int64_t epoch, int64_t batch,
                       const std::string& checkpoint) {
  if (std::isfinite(loss)) return;
  if (!checkpoint.empty()) std::filesystem::remove(checkpoint);
  throw InputError(fmt::format(
      "--lr {}: training diverged (loss {} at epoch {}, batch {}); nothing was written, try a "
      "smaller --lr",
      lr, loss, epoch, batch));
}

LossTally::LossTally(double lr, int64_t epoch, std::string checkpoint, int64_t every)
    : lr_(lr), epoch_(epoch), every_(every), checkpoint_(std::move(checkpoint)) {}

void LossTally::add(const torch::Tensor& loss, int64_t items, const torch::Tensor& correct) {
  losses_.push_back(loss.detach().to(torch::kDouble));
  if (correct.defined()) corrects_.push_back(correct.detach().to(torch::kLong));
  sizes_.push_back(items);
  if (static_cast<int64_t>(sizes_.size()) >= every_) flush();
}

void LossTally::flush() {
  if (sizes_.empty()) return;
  const torch::Tensor losses = torch::stack(losses_).cpu();
  const auto* l = losses.data_ptr<double>();
  for (size_t i = 0; i < sizes_.size(); ++i) {
    check_finite_loss(l[i], lr_, epoch_, flushed_steps_ + static_cast<int64_t>(i) + 1, checkpoint_);
    loss_sum_ += l[i] * static_cast<double>(sizes_[i]);
    items_ += sizes_[i];
  }
  if (!corrects_.empty()) correct_ += torch::stack(corrects_).sum().item<int64_t>();
  flushed_steps_ += static_cast<int64_t>(sizes_.size());
  losses_.clear();
  corrects_.clear();
  sizes_.clear();
}

std::shared_ptr<ZooModel> train_model(const TrainOptions& o, const Dataset& train,
                                      const Dataset& test,
                                      const std::function<void(const EpochStats&)>& on_epoch) {
  check_input(o.epochs() >= 1, "--epochs", "an integer >= 1", std::to_string(o.epochs()));
  check_input(o.batch() >= 1, "--batch", "an integer >= 1", std::to_string(o.batch()));
  check_input(o.lr() > 0, "--lr", "a value > 0", fmt::format("{}", o.lr()));
  const auto& archs = zoo_architectures();
  check_input(std::find(archs.begin(), archs.end(), o.arch()) != archs.end(), "--arch",
              fmt::format("a classifier architecture ({})", fmt::join(archs, ", ")),
              "'" + o.arch() + "'");
  check_input(std::isfinite(o.noise_sd()) && o.noise_sd() >= 0 && o.noise_sd() <= 10, "--noise-sd",
              "a value in [0, 10]", fmt::format("{}", o.noise_sd()));
  check_input(std::isfinite(o.cutout()) && o.cutout() >= 0 && o.cutout() <= 1, "--cutout",
              "a share of the image side in [0, 1]", fmt::format("{}", o.cutout()));
  check_input(o.adv_train() == "none" || o.adv_train() == "pgd", "--adv-train", "none or pgd",
              "'" + o.adv_train() + "'");
  check_input(train.size() > 0, "--data " + train.source, "at least one training item",
              "an empty dataset");
  check_input(train.labels.min().item<int64_t>() >= 0, "--data " + train.source,
              "labelled items (fashion-mnist or an image folder)", "unlabelled items");
  const int64_t classes = std::get<0>(at::_unique(train.labels)).numel();
  check_input(classes >= 2, "--data " + train.source, "items of at least 2 classes",
              fmt::format("{} class", classes));
  seed_everything(o.seed());

  ModelInfo info;
  info.arch = o.arch();
  info.name = o.arch();
  info.input = {train.images.size(1), train.images.size(2), train.images.size(3)};
  info.class_names = train.class_names;
  info.num_classes = std::max<int64_t>(static_cast<int64_t>(train.class_names.size()),
                                       train.labels.max().item<int64_t>() + 1);
  ZooNet net(o.arch(), info.input, info.num_classes);
  auto model = std::make_shared<ZooModel>(net, info);
  model->to(o.device());
  torch::optim::Adam optim(net->parameters(),
                           torch::optim::AdamOptions(o.lr()).weight_decay(o.weight_decay()));

  std::unique_ptr<Attack> adversary;
  if (o.adv_train() == "pgd")
    adversary = std::make_unique<Pgd>(AttackOptions()
                                          .eps(o.adv_eps())
                                          .alpha(o.adv_alpha())
                                          .steps(o.adv_steps())
                                          .random_start(true));

  const int64_t n = train.size();
  const int64_t batches = (n + o.batch() - 1) / o.batch();
  const std::string sig = signature(o, train);
  const int64_t first_epoch = load_checkpoint(o.checkpoint(), sig, *net, optim);

  for (int64_t epoch = first_epoch; epoch < o.epochs(); ++epoch) {
    const double start = now_seconds();
    // Seeding per epoch makes a resumed run draw the same dropout masks and PGD starts.
    seed_everything(o.seed() * 1000003ULL + static_cast<uint64_t>(epoch));
    Dataset shuffled = train.shuffled(o.seed() * 7919 + static_cast<uint64_t>(epoch));
    LossTally tally(o.lr(), epoch + 1, o.checkpoint());
    Progress progress(o.progress().empty()
                          ? ""
                          : fmt::format("{} epoch {}/{}", o.progress(), epoch + 1, o.epochs()),
                      n);
    for (int64_t b = 0; b < batches; ++b) {
      const int64_t begin = b * o.batch(), end = std::min(n, begin + o.batch());
      torch::Tensor x = shuffled.images.slice(0, begin, end).to(o.device());
      torch::Tensor y = shuffled.labels.slice(0, begin, end).to(o.device());
      if (adversary) {
        net->eval();
        x = adversary->run(*model, x, Criterion::misclassification(y)).adv;
      }
      if (o.noise_sd() > 0) x = x + torch::randn_like(x) * o.noise_sd();
      if (o.cutout() > 0) x = cutout(x, o.cutout(), 2);
      net->train();
      for (auto& group : optim.param_groups())
        group.options().set_lr(one_cycle_lr(o.lr(), epoch * batches + b, o.epochs() * batches));
      optim.zero_grad();
      torch::Tensor logits = net->forward(x);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      optim.step();
      tally.add(loss, end - begin, logits.argmax(1).eq(y).sum());
      if (o.progress().size() && (b % 20 == 19 || end == n)) {
        tally.flush();
        progress.update(end, fmt::format("loss {:.4f}", tally.loss_sum() / tally.items()));
      }
    }
    tally.flush();
    net->eval();
    EpochStats stats;
    stats.epoch = epoch + 1;
    stats.loss = tally.loss_sum() / static_cast<double>(n);
    stats.train_accuracy = static_cast<double>(tally.correct()) / static_cast<double>(n);
    stats.test_accuracy = test.size() > 0 ? evaluate_clean(*model, test) : -1;
    stats.seconds = now_seconds() - start;
    progress.finish(
        fmt::format("loss {:.4f} test acc {:.2f}%", stats.loss, 100 * stats.test_accuracy));
    model->mutable_info().test_accuracy = stats.test_accuracy;
    save_checkpoint(o.checkpoint(), sig, epoch + 1, *net, optim);
    if (on_epoch) on_epoch(stats);
  }
  if (first_epoch >= o.epochs() && test.size() > 0)
    model->mutable_info().test_accuracy = evaluate_clean(*model, test);
  return model;
}

}  // namespace foil
