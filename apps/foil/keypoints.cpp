// foil keypoints train|attack|table: heatmap keypoint models and the K-limiting relational
// attack (KAA, and KAA+ER with the relational mask).
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/jobs/keypoint_jobs.h"
#include "foil/jobs/train_job.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

// ---- shared by attack and table ----
struct KpAttackFlags {
  ModelFlags model;
  std::string data = "pose:test:100";
  std::string layer, outputs = "peak,x,y", target, mask_rule = "both";
  double jacobian_threshold = 0.1, jacobian_threshold_abs = -1, tau = 4.0, tau_3d = 0.1;
  bool per_pixel = false;
  int64_t batch = 64;
};

/// The relational mask's settings from the flags.
KaaOptions mask_options(const KpAttackFlags& f) {
  return KaaOptions()
      .seed(global_options().seed)
      .jacobian_threshold(f.jacobian_threshold)
      .jacobian_threshold_abs(f.jacobian_threshold_abs)
      .outputs(f.outputs)
      .mask_rule(f.mask_rule)
      .per_pixel(f.per_pixel);
}

PoseJudging judging_of(const KpAttackFlags& f) {
  PoseJudging j;
  j.tau = f.tau;
  j.tau_3d = f.tau_3d;
  j.batch = f.batch;
  return j;
}

void add_kp_flags(CLI::App* sub, KpAttackFlags& f) {
  sub->add_option("--model", f.model.path,
                  "keypoint model: posenet from 'foil keypoints train', TorchScript, or a "
                  "TensorFlow.js keypoint model (movenet-lightning.json)")
      ->required();
  sub->add_option("--mean", f.model.mean, "per-channel mean the model expects");
  sub->add_option("--std", f.model.std, "per-channel std the model expects");
  sub->add_option("--data", f.data, "pose:test[:N], pose:train[:N], or photos (file or folder)")
      ->capture_default_str();
  sub->add_option("--layer", f.layer,
                  "heatmap layer k (a tap; default: the model output, or the heatmap node of a "
                  "TensorFlow.js keypoint model)");
  sub->add_option("--outputs", f.outputs,
                  "Jacobian rows: peak,x,y per keypoint (foil's 3K summaries) or heatmap (all "
                  "K*h*w elements of layer k, as the source)")
      ->capture_default_str();
  sub->add_option("--jacobian-threshold", f.jacobian_threshold,
                  "threshold on |J| relative to each output's largest")
      ->capture_default_str();
  sub->add_option("--jacobian-threshold-abs", f.jacobian_threshold_abs,
                  "absolute threshold alpha on J (the source's; overrides the relative one)")
      ->check(number_in(0, HUGE_VAL));
  sub->add_option("--mask-rule", f.mask_rule,
                  "both (a row has +1 and -1) or strict (its values are exactly {+1,-1}, as the "
                  "source)")
      ->capture_default_str();
  sub->add_flag("--per-pixel", f.per_pixel,
                "one mask value per pixel, shared by its channels (as the source)");
  sub->add_option("--batch", f.batch, "images per pass (the unit shared out between processes)")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  sub->add_option("--target", f.target,
                  "target pose: shift:DX,DY | swap (left/right) | item:I | file:POSE.json; "
                  "default: non-target");
  sub->add_option("--tau", f.tau, "success threshold in pixels")->capture_default_str();
  sub->add_option("--tau-3d", f.tau_3d,
                  "3-D models (BlazePose): success threshold in metres of the world coordinates")
      ->capture_default_str();
}

/// The model and data of the flags, checked for the judging thresholds.
PoseSetup open_pose_flags(const KpAttackFlags& f, c10::Device device) {
  check_pose_judging(judging_of(f));
  return open_pose(open_run_model(f.model, device), f.data, f.layer);
}

// ---- keypoints attack ----
struct KpAttackCmd {
  KpAttackFlags f;
  double eps = 8.0 / 255, alpha = 1.0 / 255;
  int64_t steps = 10;
  std::string norm = "linf", mask = "relational", out = "foil-keypoints";
};

void run_kp_attack(const KpAttackCmd& c) {
  const c10::Device device = apply_global_options();
  auto o =
      mask_options(c.f).eps(c.eps).alpha(c.alpha).steps(c.steps).norm(c.norm).mask(c.mask).layer(
          c.f.layer);
  check_kaa_options(o);
  ResultsFolder out(c.out, "--out");
  const PoseSetup s = open_pose_flags(c.f, device);
  o.layer(s.layer);
  const torch::Tensor target = target_pose(c.f.target, s);
  const KeypointOutcome r =
      run_keypoint_attack(s, o, target, target_world(c.f.target, s), judging_of(c.f));
  for (const auto& line : keypoint_attack_lines(s, r, o, c.f.target, judging_of(c.f)))
    print_line(line);
  write_keypoint_attack(out.dir(), s, r, o, c.f.target, judging_of(c.f));
  out.commit();
  fmt::print("wrote {0}/keypoints.png, {0}/keypoints.json, {0}/adv.pt\n", c.out);
}

// ---- keypoints table ----
struct KpTableCmd {
  KpAttackFlags f;
  std::string linf_eps = "0.01,0.02,0.03", l2_eps = "0.5,1,2";
  int64_t steps = 10;
  std::string out = "foil-keypoints-table";
};

void run_kp_table(const KpTableCmd& c) {
  const c10::Device device = apply_global_options();
  KeypointTableOptions o;
  o.linf_eps = parse_eps(c.linf_eps, "--linf-eps");
  o.l2_eps = parse_eps(c.l2_eps, "--l2-eps");
  o.steps = c.steps;
  o.mask = mask_options(c.f);
  o.target = c.f.target.empty() ? "shift:6,6" : c.f.target;
  o.judging = judging_of(c.f);
  o.log = print_line;
  check_keypoint_table_options(o);  // before any work
  ResultsFolder out(c.out, "--out");
  const PoseSetup s = open_pose_flags(c.f, device);
  run_keypoint_table(s, o).write(out.dir());
  out.commit();
  fmt::print(
      "wrote {0}/report.html, {0}/table.csv, {0}/table.json, {0}/curve.svg, {0}/curve-target.svg\n",
      c.out);
}

}  // namespace

void setup_keypoints(CLI::App& app) {
  auto* kp = app.add_subcommand("keypoints", "keypoint (pose) models and the K-limiting attack");
  kp->require_subcommand(1);

  auto to = std::make_shared<PoseTrainJobOptions>();
  auto json = std::make_shared<std::string>();
  auto* train =
      kp->add_subcommand("train", "train the heatmap keypoint model on synthetic figures");
  train->add_option("--data", to->data, "pose:train[:N]")->capture_default_str();
  train->add_option("--test", to->test, "pose:test[:N]")->capture_default_str();
  train->add_option("--out", to->out, "model file to write")->required();
  train->add_option("--epochs", to->train.epochs(), "epochs")
      ->check(integer_in(1, kMaxEpochs))
      ->capture_default_str();
  train->add_option("--batch", to->train.batch(), "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  train->add_option("--lr", to->train.lr(), "peak learning rate")
      ->check(number_in(0, 10, true))
      ->capture_default_str();
  train->add_flag("!--no-resume", to->resume, "ignore a checkpoint and start afresh");
  train->add_option("--json", *json, "write the training history as JSON");
  train->callback([to, json] {
    to->train.device(apply_global_options()).seed(global_options().seed);
    to->log = print_line;
    check_writable(*json, "--json");
    const PoseTrainJobResult r = run_pose_train_job(*to);
    if (!json->empty()) write_json(*json, r.to_json());
  });

  auto ac = std::make_shared<KpAttackCmd>();
  auto* attack =
      kp->add_subcommand("attack", "K-limiting attack (KAA / KAA+ER) on a keypoint model");
  add_kp_flags(attack, ac->f);
  attack->add_option("--eps", ac->eps, "budget")->capture_default_str();
  attack->add_option("--alpha", ac->alpha, "step size")->capture_default_str();
  attack->add_option("--steps", ac->steps, "iterations")
      ->check(integer_in(1, kMaxSteps))
      ->capture_default_str();
  attack->add_option("--norm", ac->norm, "linf or l2")->capture_default_str();
  attack->add_option("--mask", ac->mask, "none (KAA) or relational (KAA+ER)")
      ->capture_default_str();
  attack->add_option("--out", ac->out, "results folder")->capture_default_str();
  attack->callback([ac] { run_kp_attack(*ac); });

  auto xc = std::make_shared<KpTableCmd>();
  auto* table = kp->add_subcommand("table", "KAA vs KAA+ER over budgets, non-target and target");
  add_kp_flags(table, xc->f);
  table->add_option("--linf-eps", xc->linf_eps, "Linf budgets")->capture_default_str();
  table->add_option("--l2-eps", xc->l2_eps, "L2 budgets")->capture_default_str();
  table->add_option("--steps", xc->steps, "iterations (step 2.5 eps / steps)")
      ->check(integer_in(1, kMaxSteps))
      ->capture_default_str();
  table->add_option("--out", xc->out, "results folder")->capture_default_str();
  table->callback([xc] { run_kp_table(*xc); });
}

}  // namespace foil::cli
