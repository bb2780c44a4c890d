// The keypoint jobs: KAA / KAA+ER over a dataset, its files, and the table over budgets.
#include "foil/jobs/keypoint_jobs.h"

#include <fmt/format.h>

#include <cmath>

#include "foil/core/error.h"
#include "foil/distributed/dist.h"
#include "foil/keypoints/pose.h"
#include "foil/models/graph_model.h"

namespace foil {

void check_pose_judging(const PoseJudging& j) {
  check_input(std::isfinite(j.tau) && j.tau > 0, "--tau", "a finite value > 0",
              fmt::format("{}", j.tau));
  check_input(std::isfinite(j.tau_3d) && j.tau_3d > 0, "--tau-3d", "a finite value > 0",
              fmt::format("{}", j.tau_3d));
  check_input(j.batch >= 1, "--batch", "a batch size >= 1", std::to_string(j.batch));
}

PoseSetup open_pose(std::shared_ptr<Model> model, const std::string& spec,
                    const std::string& layer) {
  PoseData data;
  if (spec.rfind("pose:", 0) == 0) {
    data = load_pose_data(spec);
  } else {  // real photos: no ground truth, the clean prediction is the reference
    const Dataset d = load_data(spec, model->info().input);
    data.images = d.images;
    data.source = d.source;
  }
  return pose_setup(std::move(model), std::move(data), layer);
}

PoseSetup pose_setup(std::shared_ptr<Model> model, PoseData data, const std::string& layer) {
  PoseSetup s;
  s.model = std::move(model);
  s.data = std::move(data);
  s.model->check_input_shape(s.data.images.slice(0, 0, 1));
  s.layer = layer.empty() ? default_heatmap_layer(*s.model) : layer;
  const auto* tfjs = dynamic_cast<const GraphModel*>(s.model.get());
  s.skeleton = tfjs && !tfjs->meta().skeleton.empty() ? tfjs->meta().skeleton : pose_skeleton();
  const c10::Device device = s.model->device();
  s.clean_kp = predict_keypoints(*s.model, s.data.images.to(device), s.layer);
  if (tfjs && is_keypoint_model(*s.model)) {
    const auto own = model_keypoints(*s.model, s.data.images.to(device));
    s.clean_own = own.xy;
    s.clean_world = own.world;
  }
  return s;
}

torch::Tensor target_pose(const std::string& spec, const PoseSetup& s) {
  if (spec.empty()) return {};
  const torch::Tensor kp = s.clean_kp.clone();
  const int64_t side = s.data.images.size(3);
  if (spec.rfind("shift:", 0) == 0) {
    const auto v = parse_number_list(spec.substr(6), "--target shift");
    check_input(v.size() == 2, "--target", "shift:DX,DY", spec);
    return (kp + torch::tensor({v[0], v[1]}, kp.options())).clamp(0, side - 1);
  }
  if (spec == "swap") {
    check_input(kp.size(1) == static_cast<int64_t>(pose_joint_names().size()), "--target",
                "shift, item or file targets for models with other keypoint sets", spec);
    // Left and right limbs trade places.
    const std::vector<int64_t> order = {0, 1, 2, 5, 6, 3, 4, 9, 10, 7, 8};
    return kp.index_select(1, torch::tensor(order, torch::kLong));
  }
  if (spec.rfind("item:", 0) == 0) {
    const auto item = parse_integer(spec.substr(5));
    check_input(item && *item < kp.size(0), "--target",
                fmt::format("item:I with I in 0..{}", kp.size(0) - 1), spec);
    return kp[*item].unsqueeze(0).expand_as(kp).clone();
  }
  if (spec.rfind("file:", 0) == 0) {
    return read_pose_file(spec.substr(5), kp.size(1), side).expand_as(kp).clone();
  }
  throw InputError("--target: expected shift:DX,DY, swap, item:I or file:PATH, got '" + spec + "'");
}

torch::Tensor target_world(const std::string& spec, const PoseSetup& s) {
  if (!s.clean_world.defined() || spec.rfind("item:", 0) != 0) return {};
  const auto item = parse_integer(spec.substr(5));
  check_input(item && *item < s.clean_world.size(0), "--target",
              fmt::format("item:I with I in 0..{}", s.clean_world.size(0) - 1), spec);
  return s.clean_world[*item].unsqueeze(0).expand_as(s.clean_world).clone();
}

nlohmann::json KeypointOutcome::world_json(double tau_3d) const {
  if (!has_world) return nullptr;
  return {{"success_rate", world.success_rate}, {"pose_rmse", world.pose_rmse}, {"tau", tau_3d}};
}

bool has_coco_keypoints(const Model& model) {
  const auto& n = model.info().class_names;
  return n.size() == 17 && n[0] == "nose" && n[5] == "left_shoulder" && n[16] == "right_ankle";
}

std::pair<double, double> coco_pose_scores(const torch::Tensor& kp, const torch::Tensor& ref) {
  const torch::Tensor r = ref.cpu().to(torch::kDouble);
  const torch::Tensor wh = (r.amax(1) - r.amin(1)).clamp_min(1);  // N×2
  const double oks = keypoint_oks(kp, r, wh.prod(1), coco_keypoint_sigmas()).mean().item<double>();
  const torch::Tensor d = (kp.cpu().to(torch::kDouble) - r).norm(2, 2);
  const double pck =
      d.le(0.1 * std::get<0>(wh.max(1)).view({-1, 1})).to(torch::kDouble).mean().item<double>();
  return {oks, pck};
}

KeypointOutcome judge_pose(const PoseSetup& s, const torch::Tensor& images,
                           const torch::Tensor& target, const torch::Tensor& world_target,
                           const PoseJudging& judging) {
  KeypointOutcome out;
  const torch::Tensor x = images.to(s.model->device());
  out.adv_kp = predict_keypoints(*s.model, x, s.layer);
  const torch::Tensor adv = x.cpu();
  out.metrics = kaa_metrics(s.data.images, adv, s.clean_kp, out.adv_kp, target, judging.tau);
  const bool coco = has_coco_keypoints(*s.model);
  if (!s.clean_own.defined()) {
    if (coco) std::tie(out.oks, out.pck) = coco_pose_scores(out.adv_kp, s.clean_kp);
    return out;
  }
  const auto own = model_keypoints(*s.model, x);
  if (coco) std::tie(out.oks, out.pck) = coco_pose_scores(own.xy, s.clean_own);
  out.own = kaa_metrics(s.data.images, adv, s.clean_own, own.xy, target, judging.tau);
  // 3-D: against the clean world pose (non-target) or the target photo's (item:I).
  out.has_world = s.clean_world.defined() && (!target.defined() || world_target.defined());
  if (out.has_world)
    out.world =
        kaa_metrics(s.data.images, adv, s.clean_world, own.world, world_target, judging.tau_3d);
  return out;
}

KeypointOutcome run_keypoint_attack(const PoseSetup& s, const KaaOptions& o,
                                    const torch::Tensor& target, const torch::Tensor& world_target,
                                    const PoseJudging& judging) {
  KeypointOutcome out;
  // The images in batches (in a job of several processes, each attacks a contiguous share of
  // them; random starts are keyed by the images' positions): adversarial images and masks are
  // gathered, the metrics computed on all of them.
  const torch::Tensor& images = s.data.images;
  double jacobian_seconds = 0;
  const torch::Tensor both = dist::map_batches(
      images.size(0), judging.batch,
      torch::zeros({0, 2, images.size(1), images.size(2), images.size(3)}),
      [&](int64_t b, int64_t e) {
        const KaaResult r =
            kaa_attack(*s.model, images.slice(0, b, e),
                       target.defined() ? target.slice(0, b, e) : target, o, torch::arange(b, e));
        jacobian_seconds += r.jacobian_seconds;
        return torch::stack({r.adv.cpu(), r.mask.cpu()}, 1);
      });
  out.result.adv = both.select(1, 0).to(s.model->device());
  out.result.mask = both.select(1, 1).to(s.model->device());
  torch::Tensor seconds = torch::tensor({jacobian_seconds}, torch::kDouble);
  dist::all_reduce_sum(seconds);  // the processes' time together
  out.result.jacobian_seconds = seconds.item<double>();
  KeypointOutcome judged = judge_pose(s, out.result.adv, target, world_target, judging);
  judged.result = std::move(out.result);
  return judged;
}

std::vector<std::string> keypoint_attack_lines(const PoseSetup& s, const KeypointOutcome& r,
                                               const KaaOptions& o, const std::string& target_spec,
                                               const PoseJudging& judging) {
  const auto& m = r.metrics;
  const bool relational = o.mask() == "relational";
  std::vector<std::string> lines = {
      fmt::format("{} {} {} attack, eps {:g}, {} steps on {} ({} images)",
                  relational ? "KAA+ER" : "KAA", o.norm(),
                  target_spec.empty() ? "non-target" : "target", o.eps(), o.steps(), s.data.source,
                  s.data.size()),
      fmt::format(
          "success rate {:.2f}%  perturbation RMSE {:.4f}  pose RMSE {:.2f} px  mask {:.1f}% of "
          "pixels{}",
          100 * m.success_rate, m.perturbation_rmse, m.pose_rmse,
          100 * r.result.mask.mean().item<double>(),
          relational
              ? fmt::format(
                    "  (Jacobian {:.2f}s{})", r.result.jacobian_seconds,
                    dist::size() > 1 ? fmt::format(", {} processes together", dist::size()) : "")
              : "")};
  if (s.clean_own.defined())
    lines.push_back(
        fmt::format("by the model's own decode: success rate {:.2f}%  pose RMSE "
                    "{:.2f} px",
                    100 * r.own.success_rate, r.own.pose_rmse));
  if (r.has_world)
    lines.push_back(fmt::format(
        "3-D (metric world coordinates): success rate {:.2f}% (tau {:g} m)  pose RMSE {:.4f} m",
        100 * r.world.success_rate, judging.tau_3d, r.world.pose_rmse));
  else if (s.clean_world.defined())
    lines.push_back(fmt::format(
        "3-D: not judged (the target {} has no 3-D pose; use --target item:I)", target_spec));
  if (r.oks >= 0)
    lines.push_back(fmt::format(
        "COCO OKS {:.3f}  PCK@0.1 {:.3f}  (the attacked pose to the clean one, scale: the clean "
        "keypoints' box; 1 = unchanged)",
        r.oks, r.pck));
  return lines;
}

void write_keypoint_attack(const std::string& dir, const PoseSetup& s, const KeypointOutcome& r,
                           const KaaOptions& o, const std::string& target_spec,
                           const PoseJudging& judging) {
  // Figures: clean and attacked skeletons on the attacked image, the perturbation, the mask.
  std::vector<std::vector<GridCell>> rows(3);
  const torch::Tensor delta = (r.result.adv.cpu() - s.data.images).abs().sum(0 + 1);
  const std::array<double, 3> clean_rgb{0.0, 0.85, 0.2}, attacked_rgb{1.0, 0.1, 0.85};
  const int scale = s.data.images.size(2) < 160 ? 4 : 1;
  for (int64_t i = 0; i < std::min<int64_t>(6, s.data.size()); ++i) {
    const torch::Tensor both = draw_skeleton(
        draw_skeleton(r.result.adv[i].cpu(), s.clean_kp[i], s.skeleton, clean_rgb, scale),
        r.adv_kp[i] * scale + (scale - 1) / 2.0, s.skeleton, attacked_rgb, 1);
    const bool fooled = r.metrics.success[i].item<bool>();
    rows[0].push_back({both, fooled ? "fooled" : "held", fooled});
    rows[1].push_back({(delta[i] / delta[i].max().clamp_min(1e-8)).unsqueeze(0), "|delta|", false});
    rows[2].push_back({r.result.mask[i].amax(0, true).cpu(), "mask C", false});
  }
  write_image_grid(
      dir + "/keypoints.png", rows, {"poses", "perturbation", "mask"}, 224,
      {{RowKey::Kind::swatches, "", "", {{clean_rgb, "clean"}, {attacked_rgb, "attacked"}}},
       {RowKey::Kind::grey, "0", "max"},
       {RowKey::Kind::grey, "0", "1"}});
  nlohmann::json per = nlohmann::json::array();
  for (int64_t i = 0; i < s.data.size(); ++i)
    per.push_back({{"index", i}, {"success", r.metrics.success[i].item<bool>()}});
  const KaaMetrics& m = r.metrics;
  write_json(
      dir + "/keypoints.json",
      {{"model", s.model->info().name},
       {"data", s.data.source},
       {"mask", o.mask()},
       {"mask_definition",
        {{"outputs", o.outputs()},
         {"jacobian_threshold",
          o.jacobian_threshold_abs() >= 0 ? o.jacobian_threshold_abs() : o.jacobian_threshold()},
         {"threshold_kind", o.jacobian_threshold_abs() >= 0 ? "absolute" : "relative"},
         {"mask_rule", o.mask_rule()},
         {"per_pixel", o.per_pixel()}}},
       {"norm", o.norm()},
       {"eps", o.eps()},
       {"alpha", o.alpha()},
       {"steps", o.steps()},
       {"target", target_spec.empty() ? "none" : target_spec},
       {"tau", judging.tau},
       {"success_rate", m.success_rate},
       {"perturbation_rmse", m.perturbation_rmse},
       {"pose_rmse", m.pose_rmse},
       {"own_decode", s.clean_own.defined() ? nlohmann::json{{"success_rate", r.own.success_rate},
                                                             {"pose_rmse", r.own.pose_rmse}}
                                            : nlohmann::json()},
       {"world_3d", r.world_json(judging.tau_3d)},
       {"pose_rmse_3d", r.has_world ? nlohmann::json(r.world.pose_rmse) : nlohmann::json()},
       {"oks", r.oks >= 0 ? nlohmann::json(r.oks) : nlohmann::json()},
       {"pck_0.1", r.pck >= 0 ? nlohmann::json(r.pck) : nlohmann::json()},
       {"mask_share", r.result.mask.mean().item<double>()},
       {"jacobian_seconds", r.result.jacobian_seconds},
       {"images", per}});
  save_tensor(dir + "/adv.pt", r.result.adv.cpu());
}

void check_keypoint_table_options(const KeypointTableOptions& o) {
  for (const auto& [grid, flag] : {std::pair{&o.linf_eps, "--linf-eps"}, {&o.l2_eps, "--l2-eps"}})
    for (double e : *grid)
      check_input(e > 0 && std::isfinite(e), flag, "a list of budgets > 0", fmt::format("{}", e));
  check_input(!o.linf_eps.empty() && !o.l2_eps.empty(), "--linf-eps/--l2-eps", "a budget per norm",
              "an empty list");
  check_pose_judging(o.judging);
  for (const std::string mask : {"none", "relational"}) {
    KaaOptions k = o.mask;
    check_kaa_options(k.eps(o.linf_eps.back()).steps(o.steps).mask(mask));
  }
}

KeypointTableResult run_keypoint_table(const PoseSetup& s, const KeypointTableOptions& o) {
  check_keypoint_table_options(o);
  const auto log = [&](const std::string& line) {
    if (o.log) o.log(line);
  };
  const torch::Tensor target = target_pose(o.target, s);
  const torch::Tensor world_target = target_world(o.target, s);
  KeypointTableResult t;
  t.model = s.model->info().name;
  t.data = s.data.source;
  t.target = o.target;
  t.tau = o.judging.tau;
  t.steps = o.steps;
  if (target.defined()) {  // what the target rows start from: the clean poses against it
    const KaaMetrics clean =
        kaa_metrics(s.data.images, s.data.images, s.clean_kp, s.clean_kp, target, o.judging.tau);
    t.target_baseline = {{"success_rate", clean.success_rate}, {"pose_rmse", clean.pose_rmse}};
    log(fmt::format(
        "target baseline, the clean images: {:.1f}% already within tau of the target pose, pose "
        "RMSE to it {:.2f} px",
        100 * clean.success_rate, clean.pose_rmse));
  }
  log(fmt::format("{:<11}{:<5}{:>7}  {:>22}  {:>22}", "mode", "norm", "eps", "KAA succ / RMSE",
                  "KAA+ER succ / RMSE"));
  for (const std::string mode : {"non-target", "target"}) {
    for (const std::string norm : {"linf", "l2"}) {
      for (double eps : norm == "linf" ? o.linf_eps : o.l2_eps) {
        std::string line = fmt::format("{:<11}{:<5}{:>7g}", mode, norm, eps);
        for (const std::string mask : {"none", "relational"}) {
          KaaOptions k = o.mask;
          k.eps(eps).alpha(2.5 * eps / o.steps).steps(o.steps).norm(norm).mask(mask).layer(s.layer);
          const bool targeted = mode == "target";
          const KeypointOutcome r =
              run_keypoint_attack(s, k, targeted ? target : torch::Tensor(),
                                  targeted ? world_target : torch::Tensor(), o.judging);
          line += fmt::format("  {:>12.1f}% / {:.4f}", 100 * r.metrics.success_rate,
                              r.metrics.perturbation_rmse);
          const std::string attack = mask == "none" ? "KAA" : "KAA+ER";
          const std::string line_name = attack + " " + norm;
          Series& curve = t.curves[mode][line_name];
          curve.label = line_name;
          curve.x.push_back(r.metrics.perturbation_rmse);
          curve.y.push_back(r.metrics.pose_rmse);
          if (s.clean_own.defined()) line += fmt::format(" [{:.0f}%]", 100 * r.own.success_rate);
          if (r.has_world) line += fmt::format(" 3-D {:.0f}%", 100 * r.world.success_rate);
          t.csv.push_back({mode, norm, fmt::format("{:g}", eps), attack,
                           fmt::format("{:.4f}", r.metrics.success_rate),
                           fmt::format("{:.5f}", r.metrics.perturbation_rmse),
                           fmt::format("{:.3f}", r.metrics.pose_rmse),
                           r.has_world ? fmt::format("{:.4f}", r.world.success_rate) : "",
                           r.has_world ? fmt::format("{:.5f}", r.world.pose_rmse) : ""});
          t.rows.push_back(
              {{"mode", mode},
               {"norm", norm},
               {"eps", eps},
               {"attack", attack},
               {"success_rate", r.metrics.success_rate},
               {"perturbation_rmse", r.metrics.perturbation_rmse},
               {"pose_rmse", r.metrics.pose_rmse},
               {"own_decode_success_rate",
                s.clean_own.defined() ? nlohmann::json(r.own.success_rate) : nlohmann::json()},
               {"world_3d", r.world_json(o.judging.tau_3d)},
               {"mask_share", r.result.mask.mean().item<double>()},
               {"jacobian_seconds", r.result.jacobian_seconds}});
        }
        log(line);
      }
    }
  }
  if (s.clean_own.defined())
    log("[own]: success judged by the model's own decode (e.g. MoveNet's ArgMax/GatherNd)");
  if (s.clean_world.defined())
    log(fmt::format(
        "3-D: success on the metric world coordinates (tau {:g} m){}", o.judging.tau_3d,
        world_target.defined() ? "" : "; target rows not judged in 3-D (use --target item:I)"));
  return t;
}

nlohmann::json KeypointTableResult::to_json() const {
  return {{"model", model},
          {"data", data},
          {"target", target},
          {"tau", tau},
          {"steps", steps},
          {"rows", rows},
          {"target_baseline", target_baseline}};
}

void KeypointTableResult::write(const std::string& dir) const {
  write_csv(dir + "/table.csv",
            {"mode", "norm", "eps", "attack", "success_rate", "perturbation_rmse", "pose_rmse",
             "success_rate_3d", "pose_rmse_3d_m"},
            csv);
  for (const auto& [mode, by_line] : curves) {
    std::vector<Series> lines;
    double top = 0;
    for (const auto& [name, series] : by_line) {
      lines.push_back(series);
      for (double y : series.y) top = std::max(top, y);
    }
    write_line_plot(dir + (mode == "target" ? "/curve-target.svg" : "/curve.svg"),
                    mode + ": pose vs perturbation RMSE", "perturbation RMSE", "pose RMSE, px",
                    lines, 0.0, top * 1.05 + 1e-9);
  }
  write_json(dir + "/table.json", to_json());
}

}  // namespace foil
