// The keypoint-model audit (foil/jobs/keypoint_audit.h): OKS, PCK and pose RMSE to the clean
// pose under same-norm noise and under KAA, per budget.
#include "foil/jobs/keypoint_audit.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>

#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/jobs/keypoint_jobs.h"
#include "foil/jobs/task_audit.h"
#include "foil/models/graph_model.h"
#include "foil/report/figures.h"

namespace foil {
namespace {

/// A keypoint audit under way: the setup (clean poses) and the rows so far.
struct KeypointAuditRun {
  const PoseSetup& s;
  const AuditOptions& o;
  PoseJudging judging;
  KeypointAuditResult& r;

  /// Scores a judged set of images, prints and keeps the row.
  void add(KeypointAuditRow row, const KeypointOutcome& k, double since) {
    const bool own = s.clean_own.defined();
    const KaaMetrics& m = own ? k.own : k.metrics;
    row.oks = k.oks;
    row.pck = k.pck;
    row.pose_rmse = m.pose_rmse;
    row.moved = m.success_rate;
    row.seconds = now_seconds() - since;
    r.lines.push_back(fmt::format(
        "{:<28} OKS {:>6}  PCK@0.1 {:>6}  pose RMSE {:>6.2f}px  moved>{:g}px {:>5.1f}%  ({:.1f}s)",
        task_row_name(row), metric_cell(row.oks), metric_cell(row.pck), row.pose_rmse, r.tau,
        100 * row.moved, row.seconds));
    if (o.log) o.log(r.lines.back());
    r.rows.push_back(std::move(row));
  }

  /// The poses of `images`, judged against the clean ones.
  KeypointOutcome judge(const torch::Tensor& images) const {
    return judge_pose(s, images, {}, {}, judging);
  }

  /// The keypoints to draw: the model's own decode where it has one, else the heatmap peaks.
  torch::Tensor shown(const torch::Tensor& images) const {
    const torch::Tensor x = images.to(s.model->device());
    return s.clean_own.defined() ? model_keypoints(*s.model, x).xy
                                 : predict_keypoints(*s.model, x, s.layer);
  }

  /// Per budget: the noise baseline, then KAA (non-target, step 2.5 eps / steps as `foil
  /// keypoints table`).
  void attack_rows() {
    const torch::Tensor& images = s.data.images;
    const auto shape = images.sizes().slice(1);
    const torch::Tensor ids = torch::arange(images.size(0), torch::kLong);
    const std::string first = o.linf_eps.empty() ? "l2" : "linf";
    const auto& first_grid = first == "linf" ? o.linf_eps : o.l2_eps;
    const double strongest = *std::max_element(first_grid.begin(), first_grid.end());
    for (const auto& [norm, grid] :
         {std::pair{std::string("linf"), &o.linf_eps}, std::pair{std::string("l2"), &o.l2_eps}})
      for (double eps : *grid) {
        double since = now_seconds();
        const torch::Tensor noise = same_norm_noise(o.seed, ids, shape, norm, eps, torch::kCPU);
        add({"noise", norm, eps}, judge((images + noise).clamp(0, 1)), since);
        since = now_seconds();
        // On the heatmap layer, as foil keypoints table; its random start a stream of its
        // own (not the noise row's).
        KaaOptions k;
        k.eps(eps).norm(norm).steps(o.steps).alpha(2.5 * eps / static_cast<double>(o.steps));
        k.layer(s.layer).seed(o.seed ^ 0x6b61612d61756469ULL);
        const KeypointOutcome out = run_keypoint_attack(s, k, {}, {}, judging);
        add({"kaa", norm, eps}, out, since);
        if (norm != first || eps != strongest || o.examples == 0) continue;
        const int64_t n = std::min(o.examples, images.size(0));
        const torch::Tensor adv = out.result.adv.slice(0, 0, n).cpu();
        r.example_row = task_row_name(r.rows.back());
        r.example_clean = images.slice(0, 0, n);
        r.example_attacked = adv;
        r.example_clean_kp =
            (s.clean_own.defined() ? s.clean_own : s.clean_kp).slice(0, 0, n).cpu();
        r.example_attacked_kp = shown(adv).cpu();
      }
  }
};

}  // namespace

KeypointAuditResult run_keypoint_audit(GraphModel& model, const Dataset& data,
                                       const AuditOptions& o) {
  check_task_audit_options(o);
  check_input(model.meta().task == "keypoints", model.info().name, "a keypoint model",
              "a " + model.meta().task + " model (--task keypoints needs a keypoint model)");
  check_input(data.size() > 0, "--data", "at least one image", "none");
  const double start = now_seconds();
  KeypointAuditResult r;
  r.model = model.info().name;
  r.data = data.source;
  r.images = data.size();
  r.keypoints = model.meta().class_names;
  r.options = o;
  r.options.log = {};
  PoseData pose;
  pose.images = data.images;
  pose.source = data.source;
  // The setup shares the caller's model (a non-owning pointer: the audit returns before it).
  const PoseSetup s = pose_setup(std::shared_ptr<Model>(std::shared_ptr<Model>(), &model), pose);
  r.decode = s.clean_own.defined() ? "the model's own decode" : "the heatmap peaks";
  r.skeleton = s.skeleton;
  PoseJudging judging;
  judging.batch = o.batch;
  r.tau = judging.tau;
  KeypointAuditRun run{s, o, judging, r};
  if (o.log)
    o.log(fmt::format("{} images; reference: the model's clean keypoints ({})", data.size(),
                      r.decode));
  run.add({"clean", "", 0}, run.judge(data.images), start);
  run.attack_rows();
  for_each_corruption(
      o.corruption, data.images, o.batch, o.seed, o.log,
      [&](const std::string& name, int severity, const torch::Tensor& x, double since) {
        KeypointAuditRow row{"corruption"};
        row.corruption = name;
        row.severity = severity;
        run.add(std::move(row), run.judge(x), since);
      });
  r.seconds = now_seconds() - start;
  return r;
}

nlohmann::json KeypointAuditResult::to_json() const {
  const auto value = [](double v) { return v > -1 ? nlohmann::json(v) : nlohmann::json(); };
  nlohmann::json rows_json = nlohmann::json::array();
  for (const auto& row : rows) {
    nlohmann::json j = task_row_json(row);
    j.update({{"oks", value(row.oks)},
              {"pck_0.1", value(row.pck)},
              {"pose_rmse", row.pose_rmse},
              {"moved", row.moved}});
    rows_json.push_back(j);
  }
  nlohmann::json out = {
      {"task", "keypoints"},
      {"model", model},
      {"data", data},
      {"images", images},
      {"keypoints", keypoints},
      {"reference", "the model's clean keypoints, by " + decode},
      {"metric",
       "oks: COCO's object keypoint similarity (COCO's per-keypoint sigmas, the scale the area "
       "of the clean keypoints' box) and pck_0.1: share of keypoints within 0.1 of that box's "
       "longer side, both to the clean pose and only for models of COCO's 17 keypoints; "
       "pose_rmse: root mean square keypoint displacement, model-input pixels; moved: share of "
       "images whose keypoints moved more than tau pixels on average"},
      {"tau", tau},
      {"attack",
       {{"name", "kaa"},
        {"mask", "none (KAA; the relational mask KAA+ER is foil keypoints attack --mask)"},
        {"target", "none: pushes the heatmaps away from the clean ones (MSE)"},
        {"steps", options.steps},
        {"step_size", "2.5 eps / steps"},
        {"random_start", true}}},
      {"rows", rows_json},
      {"seconds", seconds}};
  out.update(task_audit_json(options));
  return out;
}

void KeypointAuditResult::write(const std::string& dir_in) const {
  const std::string dir = dir_in.empty() || dir_in.back() == '/' ? dir_in : dir_in + "/";
  write_json(dir + "audit_keypoints.json", to_json());
  std::vector<std::vector<std::string>> csv;
  for (const auto& row : rows)
    csv.push_back({task_row_name(row), row.attack, row.norm,
                   row.norm.empty() ? "" : fmt::format("{:g}", row.eps), row.corruption,
                   row.severity > 0 ? std::to_string(row.severity) : "", metric_cell(row.oks),
                   metric_cell(row.pck), fmt::format("{:.3f}", row.pose_rmse),
                   fmt::format("{:.3f}", row.moved), fmt::format("{:.2f}", row.seconds)});
  write_csv(dir + "audit_keypoints.csv",
            {"row", "attack", "norm", "eps", "corruption", "severity", "oks", "pck_0.1",
             "pose_rmse", "moved", "seconds"},
            csv);
  if (!example_clean.defined() || example_clean.size(0) == 0) return;
  std::vector<std::vector<GridCell>> grid(2);
  for (int64_t i = 0; i < example_clean.size(0); ++i) {
    const double shift =
        (example_attacked_kp[i] - example_clean_kp[i]).norm(2, 1).mean().item<double>();
    grid[0].push_back(
        {draw_skeleton(example_clean[i], example_clean_kp[i], skeleton, {0.1, 0.9, 0.2}, 2),
         "clean pose"});
    grid[1].push_back(
        {draw_skeleton(example_attacked[i], example_attacked_kp[i], skeleton, {0.95, 0.2, 0.2}, 2),
         fmt::format("moved {:.1f}px", shift), shift > tau});
  }
  write_image_grid(dir + "examples.png", grid, {"clean", example_row}, 224);
}

}  // namespace foil
