#include "foil/jobs/train_job.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>

#include "foil/core/error.h"
#include "foil/distributed/dist.h"
#include "foil/keypoints/pose.h"
#include "foil/models/zoo.h"
#include "foil/report/results_folder.h"

namespace foil {
namespace {

/// A share as a percentage; "n/a (no --test)" for the -1 of no test data.
std::string percent(double share) {
  return share < 0 ? "n/a (no --test)" : fmt::format("{:.2f}%", 100 * share);
}

nlohmann::json share_or_null(double share) {
  return share < 0 ? nlohmann::json() : nlohmann::json(share);
}

void say(const Log& log, const std::string& line) {
  if (log) log(line);
}

/// Training is one process's work; the model file must be writable; returns the checkpoint
/// path (removed first when not resuming).
std::string prepare(const std::string& what, const std::string& out, bool resume) {
  check_input(dist::size() == 1, what,
              "one process (training a model is not shared out between processes; 'patch train' "
              "is)",
              fmt::format("a job of {} processes", dist::size()));
  check_writable(out, "--out");
  const std::string ckpt = out + ".ckpt";
  if (!resume) std::filesystem::remove(ckpt);
  return ckpt;
}

/// Names the model after its file, writes it and drops the checkpoint.
void finish(ZooModel& model, const std::string& out, const std::string& ckpt) {
  model.mutable_info().name = std::filesystem::path(out).filename().string();
  model.save(out);
  std::filesystem::remove(ckpt);
}

}  // namespace

nlohmann::json TrainJobResult::to_json() const {
  return {{"arch", arch},
          {"data", data},
          {"adv_train", adv_train},
          {"test_accuracy", share_or_null(test_accuracy)},
          {"epochs", epochs}};
}

TrainJobResult run_train_job(const TrainJobOptions& options) {
  const std::string ckpt = prepare("'foil train'", options.out, options.resume);
  Dataset train = load_data(options.data);
  Dataset test = options.test.empty() ? Dataset{} : load_data(options.test);
  test.relabel_to(train.class_names, "--test " + options.test);
  if (test.size() > 0)
    check_input(
        test.images.sizes().slice(1) == train.images.sizes().slice(1), "--test " + options.test,
        fmt::format("images shaped like the training data ({}x{}x{})", train.images.size(1),
                    train.images.size(2), train.images.size(3)),
        fmt::format("{}x{}x{}", test.images.size(1), test.images.size(2), test.images.size(3)));
  TrainOptions o = options.train;
  o.checkpoint(ckpt);
  if (std::filesystem::exists(ckpt)) say(options.log, "resuming from checkpoint " + ckpt);
  say(options.log,
      fmt::format("training {} on {} ({} items){}{}{}", o.arch(), train.source, train.size(),
                  o.adv_train() == "pgd" ? fmt::format(", PGD-{} adversarial training eps {}",
                                                       o.adv_steps(), o.adv_eps())
                                         : "",
                  o.noise_sd() > 0 ? fmt::format(", Gaussian noise sd {:g}", o.noise_sd()) : "",
                  o.cutout() > 0 ? fmt::format(", Cutout {:g}", o.cutout()) : ""));
  TrainJobResult r{o.arch(), train.source, o.adv_train()};
  auto model = train_model(o, train, test, [&](const EpochStats& s) {
    say(options.log, fmt::format("epoch {:>3}/{}  loss {:.4f}  train acc {:.2f}%  test acc {}  "
                                 "{:.1f}s",
                                 s.epoch, o.epochs(), s.loss, 100 * s.train_accuracy,
                                 percent(s.test_accuracy), s.seconds));
    r.epochs.push_back({{"epoch", s.epoch},
                        {"loss", s.loss},
                        {"train_accuracy", s.train_accuracy},
                        {"test_accuracy", share_or_null(s.test_accuracy)},
                        {"seconds", s.seconds}});
  });
  finish(*model, options.out, ckpt);
  r.test_accuracy = model->info().test_accuracy;
  say(options.log, fmt::format("wrote {} ({}, test accuracy {})", options.out, o.arch(),
                               percent(r.test_accuracy)));
  return r;
}

nlohmann::json PoseTrainJobResult::to_json() const {
  return {{"data", data}, {"test", test}, {"epochs", epochs}};
}

PoseTrainJobResult run_pose_train_job(const PoseTrainJobOptions& options) {
  const std::string ckpt = prepare("'foil keypoints train'", options.out, options.resume);
  const PoseData train = load_pose_data(options.data), test = load_pose_data(options.test);
  say(options.log, fmt::format("training posenet on {} ({} figures){}", train.source, train.size(),
                               std::filesystem::exists(ckpt) ? ", resuming" : ""));
  PoseTrainJobResult r{train.source, test.source};
  PoseTrainOptions o = options.train;
  o.checkpoint(ckpt);
  auto model = train_pose_model(o, train, test, [&](int64_t epoch, double loss, double p) {
    say(options.log, fmt::format("epoch {:>3}/{}  loss {:.4f}  PCK@4px {:.2f}%", epoch, o.epochs(),
                                 loss, 100 * p));
    r.epochs.push_back({{"epoch", epoch}, {"loss", loss}, {"pck4", p}});
  });
  finish(*model, options.out, ckpt);
  r.pck4 = model->info().test_accuracy;
  say(options.log,
      fmt::format("wrote {} (PCK@4px {:.2f}% on {})", options.out, 100 * r.pck4, test.source));
  return r;
}

}  // namespace foil
