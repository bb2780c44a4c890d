// foil keypoints train|attack|table: heatmap keypoint models and the K-limiting relational
// attack (KAA, and KAA+ER with the relational mask).
#include <fmt/format.h>
#include <torch/torch.h>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/keypoint_jobs.h"
#include "foil/jobs/train_job.h"

namespace foil::cli {
namespace {

// ---- shared by attack and table ----
struct KpFlags {
  ModelFlags model;
  std::string data = "pose:test:100";
  FlagsOf<KeypointTableOptions> settings;
  std::string out;
};

void add_kp_flags(CLI::App* sub, KpFlags& f, const std::string& job) {
  add_model_flags(sub, f.model,
                  "keypoint model: posenet from 'foil keypoints train', TorchScript, or a "
                  "TensorFlow.js keypoint model (movenet-lightning.json)");
  add_data_flag(sub, f.data, "pose:test[:N], pose:train[:N], or photos (file or folder)");
  add_option_flags(sub, f.settings, keypoint_option_fields(),
                   job == "attack" ? keypoint_attack_defaults() : KeypointTableOptions(), job);
  sub->add_option("--out", f.out, "results folder")->capture_default_str();
}

/// The options the flags ask for (the mask's seed: --seed).
KeypointTableOptions kp_options(const KpFlags& f, const std::string& job) {
  KeypointTableOptions o = job == "attack" ? keypoint_attack_defaults() : KeypointTableOptions();
  apply_option_flags(f.settings, o);
  o.mask.seed(global_options().seed);
  check_pose_judging(o.judging);
  return o;
}

// ---- keypoints attack ----
void run_kp_attack(const KpFlags& f) {
  const c10::Device device = apply_global_options();
  const KeypointTableOptions k = kp_options(f, "attack");
  KaaOptions o = k.mask;
  check_kaa_options(o);
  ResultsFolder out(f.out, "--out");
  const PoseSetup s = open_pose(open_run_model(f.model, device), f.data, o.layer());
  o.layer(s.layer);
  const torch::Tensor target = target_pose(k.target, s);
  const KeypointOutcome r = run_keypoint_attack(s, o, target, target_world(k.target, s), k.judging);
  for (const auto& line : keypoint_attack_lines(s, r, o, k.target, k.judging)) print_line(line);
  write_keypoint_attack(out.dir(), s, r, o, k.target, k.judging);
  out.commit();
  fmt::print("wrote {0}/keypoints.png, {0}/keypoints.json, {0}/adv.pt\n", f.out);
}

// ---- keypoints table ----
void run_kp_table(const KpFlags& f) {
  const c10::Device device = apply_global_options();
  KeypointTableOptions o = kp_options(f, "table");
  o.log = print_line;
  check_keypoint_table_options(o);  // before any work
  ResultsFolder out(f.out, "--out");
  const PoseSetup s = open_pose(open_run_model(f.model, device), f.data, o.mask.layer());
  run_keypoint_table(s, o).write(out.dir());
  out.commit();
  fmt::print(
      "wrote {0}/report.html, {0}/table.csv, {0}/table.json, {0}/curve.svg, {0}/curve-target.svg\n",
      f.out);
}

}  // namespace

void setup_keypoints(CLI::App& app) {
  auto* kp = app.add_subcommand("keypoints", "keypoint (pose) models and the K-limiting attack");
  kp->require_subcommand(1);

  add_training_command<PoseTrainJobOptions, PoseTrainOptions>(
      kp->add_subcommand("train", "train the heatmap keypoint model on synthetic figures"),
      pose_train_option_fields(), "pose:train[:N]", "pose:test[:N]", run_pose_train_job);

  auto ac = std::make_shared<KpFlags>();
  ac->out = "foil-keypoints";
  auto* attack =
      kp->add_subcommand("attack", "K-limiting attack (KAA / KAA+ER) on a keypoint model");
  add_kp_flags(attack, *ac, "attack");
  attack->callback([ac] { run_kp_attack(*ac); });

  auto xc = std::make_shared<KpFlags>();
  xc->out = "foil-keypoints-table";
  auto* table = kp->add_subcommand("table", "KAA vs KAA+ER over budgets, non-target and target");
  add_kp_flags(table, *xc, "table");
  table->callback([xc] { run_kp_table(*xc); });
}

}  // namespace foil::cli
