// foil keypoints train|attack|table: heatmap keypoint models and the K-limiting relational
// attack (KAA, and KAA+ER with the relational mask).
#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "foil/core/error.h"
#include "foil/keypoints/kaa.h"
#include "foil/models/tfjs.h"
#include "foil/models/zoo.h"
#include "foil/report/figures.h"

namespace foil::cli {
namespace {

// ---- keypoints train ----
struct KpTrainCmd {
  std::string data = "pose:train", test = "pose:test:500", out, json;
  int64_t epochs = 6, batch = 64;
  double lr = 2e-3;
  bool resume = true;
};

void run_kp_train(const KpTrainCmd& c) {
  const c10::Device device = apply_global_options();
  check_input(dist::size() == 1, "'foil keypoints train'",
              "one process (training a model is not shared out between processes; 'patch train' "
              "is)",
              fmt::format("a job of {} processes", dist::size()));
  check_writable(c.out, "--out");
  check_writable(c.json, "--json");
  const PoseData train = load_pose_data(c.data), test = load_pose_data(c.test);
  const std::string ckpt = c.out + ".ckpt";
  if (!c.resume) std::filesystem::remove(ckpt);
  fmt::print("training posenet on {} ({} figures){}\n", train.source, train.size(),
             std::filesystem::exists(ckpt) ? ", resuming" : "");
  std::fflush(stdout);
  nlohmann::json history = nlohmann::json::array();
  auto model =
      train_pose_model(PoseTrainOptions()
                           .epochs(c.epochs)
                           .batch(c.batch)
                           .lr(c.lr)
                           .seed(global_options().seed)
                           .checkpoint(ckpt)
                           .device(device),
                       train, test, [&](int64_t epoch, double loss, double p) {
                         fmt::print("epoch {:>3}/{}  loss {:.4f}  PCK@4px {:.2f}%\n", epoch,
                                    c.epochs, loss, 100 * p);
                         std::fflush(stdout);
                         history.push_back({{"epoch", epoch}, {"loss", loss}, {"pck4", p}});
                       });
  model->mutable_info().name = std::filesystem::path(c.out).filename().string();
  model->save(c.out);
  std::filesystem::remove(ckpt);
  fmt::print("wrote {} (PCK@4px {:.2f}% on {})\n", c.out, 100 * model->info().test_accuracy,
             test.source);
  if (!c.json.empty())
    write_json(c.json, {{"data", train.source}, {"test", test.source}, {"epochs", history}});
}

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

struct Setup {
  std::shared_ptr<Model> model;
  PoseData data;
  torch::Tensor clean_kp;
  std::string layer;  ///< heatmap layer: --layer, else the model's default
  std::vector<std::pair<int, int>> skeleton;
  /// Models that decode their own output (MoveNet: heatmaps + offsets, ArgMax/GatherNd):
  /// the clean keypoints by that decode, to judge attacks by what the model reports too.
  torch::Tensor clean_own;
  /// 3-D models (BlazePose): the clean metric world coordinates (N×K×3), else undefined.
  torch::Tensor clean_world;
};

Setup open_pose(const KpAttackFlags& f, c10::Device device) {
  Setup s;
  s.model = open_model(f.model, device);
  if (f.data.rfind("pose:", 0) == 0) {
    s.data = load_pose_data(f.data);
  } else {  // real photos: no ground truth, the clean prediction is the reference
    const Dataset d = load_data(f.data, s.model->info().input);
    s.data.images = d.images;
    s.data.source = d.source;
  }
  s.model->check_input_shape(s.data.images.slice(0, 0, 1));
  check_input(std::isfinite(f.tau) && f.tau > 0, "--tau", "a finite value > 0",
              fmt::format("{}", f.tau));
  s.layer = f.layer.empty() ? default_heatmap_layer(*s.model) : f.layer;
  const auto* tfjs = dynamic_cast<const TfjsModel*>(s.model.get());
  s.skeleton = tfjs && !tfjs->meta().skeleton.empty() ? tfjs->meta().skeleton : pose_skeleton();
  s.clean_kp = predict_keypoints(*s.model, s.data.images.to(device), s.layer);
  if (tfjs && is_keypoint_model(*s.model)) {
    const auto own = model_keypoints(*s.model, s.data.images.to(device));
    s.clean_own = own.xy;
    s.clean_world = own.world;
  }
  check_input(std::isfinite(f.tau_3d) && f.tau_3d > 0, "--tau-3d", "a finite value > 0",
              fmt::format("{}", f.tau_3d));
  check_input(
      s.clean_kp.size(1) == static_cast<int64_t>(pose_joint_names().size()) || f.target != "swap",
      "--target", "shift, item or file targets for models with other keypoint sets", f.target);
  return s;
}

/// The target pose for each image, from the clean prediction; undefined for non-target.
torch::Tensor target_pose(const std::string& spec, const Setup& s) {
  if (spec.empty()) return {};
  const torch::Tensor kp = s.clean_kp.clone();
  const int64_t side = s.data.images.size(3);
  if (spec.rfind("shift:", 0) == 0) {
    const auto v = parse_number_list(spec.substr(6), "--target shift");
    check_input(v.size() == 2, "--target", "shift:DX,DY", spec);
    return (kp + torch::tensor({v[0], v[1]}, kp.options())).clamp(0, side - 1);
  }
  if (spec == "swap") {
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

/// The 3-D target of a target attack: the world pose of photo I for item:I (the source's
/// "walk"/"sit" target protocols become "the pose of photo I"); undefined otherwise.
torch::Tensor target_world(const std::string& spec, const Setup& s) {
  if (!s.clean_world.defined() || spec.rfind("item:", 0) != 0) return {};
  const int64_t item = *parse_integer(spec.substr(5));  // checked by target_pose
  return s.clean_world[item].unsqueeze(0).expand_as(s.clean_world).clone();
}

struct Outcome {
  KaaResult result;
  KaaMetrics metrics;
  KaaMetrics own;    ///< by the model's own decode, when it has one (success undefined otherwise)
  KaaMetrics world;  ///< 3-D models: on the metric world coordinates, in metres
  bool has_world = false;
  torch::Tensor adv_kp;
};

/// 3-D metrics as JSON (null when the model has none or the target has no 3-D pose).
nlohmann::json world_json(const Outcome& r, double tau) {
  if (!r.has_world) return nullptr;
  return {{"success_rate", r.world.success_rate}, {"pose_rmse", r.world.pose_rmse}, {"tau", tau}};
}

Outcome run_one(const Setup& s, const KpAttackFlags& f, const KaaOptions& o,
                const torch::Tensor& target, const torch::Tensor& world_target) {
  Outcome out;
  // The images in batches (in a job of several processes, each attacks a contiguous share of
  // them; random starts are keyed by the images' positions): adversarial images and masks are
  // gathered, the metrics computed on all of them.
  const torch::Tensor& images = s.data.images;
  double jacobian_seconds = 0;
  const torch::Tensor both = dist::map_batches(
      images.size(0), f.batch, torch::zeros({0, 2, images.size(1), images.size(2), images.size(3)}),
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
  out.adv_kp = predict_keypoints(*s.model, out.result.adv, s.layer);
  const torch::Tensor adv = out.result.adv.cpu();
  out.metrics = kaa_metrics(s.data.images, adv, s.clean_kp, out.adv_kp, target, f.tau);
  if (!s.clean_own.defined()) return out;
  const auto own = model_keypoints(*s.model, out.result.adv);
  out.own = kaa_metrics(s.data.images, adv, s.clean_own, own.xy, target, f.tau);
  // 3-D: against the clean world pose (non-target) or the target photo's (item:I).
  out.has_world = s.clean_world.defined() && (!target.defined() || world_target.defined());
  if (out.has_world)
    out.world = kaa_metrics(s.data.images, adv, s.clean_world, own.world, world_target, f.tau_3d);
  return out;
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
  const Setup s = open_pose(c.f, device);
  o.layer(s.layer);
  const torch::Tensor target = target_pose(c.f.target, s);
  const Outcome r = run_one(s, c.f, o, target, target_world(c.f.target, s));
  const auto& m = r.metrics;
  fmt::print("{} {} {} attack, eps {:g}, {} steps on {} ({} images)\n",
             c.mask == "relational" ? "KAA+ER" : "KAA", c.norm,
             target.defined() ? "target" : "non-target", c.eps, c.steps, s.data.source,
             s.data.size());
  fmt::print(
      "success rate {:.2f}%  perturbation RMSE {:.4f}  pose RMSE {:.2f} px  mask {:.1f}% of "
      "pixels{}\n",
      100 * m.success_rate, m.perturbation_rmse, m.pose_rmse,
      100 * r.result.mask.mean().item<double>(),
      c.mask == "relational"
          ? fmt::format(
                "  (Jacobian {:.2f}s{})", r.result.jacobian_seconds,
                dist::size() > 1 ? fmt::format(", {} processes together", dist::size()) : "")
          : "");
  if (s.clean_own.defined())
    fmt::print("by the model's own decode: success rate {:.2f}%  pose RMSE {:.2f} px\n",
               100 * r.own.success_rate, r.own.pose_rmse);
  if (r.has_world)
    fmt::print(
        "3-D (metric world coordinates): success rate {:.2f}% (tau {:g} m)  pose RMSE "
        "{:.4f} m\n",
        100 * r.world.success_rate, c.f.tau_3d, r.world.pose_rmse);
  else if (s.clean_world.defined())
    fmt::print("3-D: not judged (the target {} has no 3-D pose; use --target item:I)\n",
               c.f.target);
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
      out.file("keypoints.png"), rows, {"poses", "perturbation", "mask"}, 224,
      {{RowKey::Kind::swatches, "", "", {{clean_rgb, "clean"}, {attacked_rgb, "attacked"}}},
       {RowKey::Kind::grey, "0", "max"},
       {RowKey::Kind::grey, "0", "1"}});
  nlohmann::json per = nlohmann::json::array();
  for (int64_t i = 0; i < s.data.size(); ++i)
    per.push_back({{"index", i}, {"success", r.metrics.success[i].item<bool>()}});
  write_json(
      out.file("keypoints.json"),
      {{"model", s.model->info().name},
       {"data", s.data.source},
       {"mask", c.mask},
       {"mask_definition",
        {{"outputs", c.f.outputs},
         {"jacobian_threshold",
          c.f.jacobian_threshold_abs >= 0 ? c.f.jacobian_threshold_abs : c.f.jacobian_threshold},
         {"threshold_kind", c.f.jacobian_threshold_abs >= 0 ? "absolute" : "relative"},
         {"mask_rule", c.f.mask_rule},
         {"per_pixel", c.f.per_pixel}}},
       {"norm", c.norm},
       {"eps", c.eps},
       {"alpha", c.alpha},
       {"steps", c.steps},
       {"target", c.f.target.empty() ? "none" : c.f.target},
       {"tau", c.f.tau},
       {"success_rate", m.success_rate},
       {"perturbation_rmse", m.perturbation_rmse},
       {"pose_rmse", m.pose_rmse},
       {"own_decode", s.clean_own.defined() ? nlohmann::json{{"success_rate", r.own.success_rate},
                                                             {"pose_rmse", r.own.pose_rmse}}
                                            : nlohmann::json()},
       {"world_3d", world_json(r, c.f.tau_3d)},
       {"pose_rmse_3d", r.has_world ? nlohmann::json(r.world.pose_rmse) : nlohmann::json()},
       {"mask_share", r.result.mask.mean().item<double>()},
       {"jacobian_seconds", r.result.jacobian_seconds},
       {"images", per}});
  save_tensor(out.file("adv.pt"), r.result.adv.cpu());
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
  const auto linf = parse_eps(c.linf_eps, "--linf-eps"), l2 = parse_eps(c.l2_eps, "--l2-eps");
  for (const std::string mask : {"none", "relational"})  // options are checked before any work
    check_kaa_options(mask_options(c.f).eps(linf.back()).steps(c.steps).mask(mask));
  ResultsFolder out(c.out, "--out");
  const Setup s = open_pose(c.f, device);
  const std::string target_spec = c.f.target.empty() ? "shift:6,6" : c.f.target;
  const torch::Tensor target = target_pose(target_spec, s);
  const torch::Tensor world_target = target_world(target_spec, s);
  std::vector<std::vector<std::string>> csv;
  nlohmann::json rows = nlohmann::json::array();
  // The source's Fig. 7c (non-target) and 10c (target): pose RMSE against perturbation RMSE,
  // one line per attack and norm.
  std::map<std::string, std::map<std::string, Series>> curves;  // mode -> line -> points
  fmt::print("{:<11}{:<5}{:>7}  {:>22}  {:>22}\n", "mode", "norm", "eps", "KAA succ / RMSE",
             "KAA+ER succ / RMSE");
  for (const std::string mode : {"non-target", "target"}) {
    for (const std::string norm : {"linf", "l2"}) {
      for (double eps : norm == "linf" ? linf : l2) {
        std::string line = fmt::format("{:<11}{:<5}{:>7g}", mode, norm, eps);
        for (const std::string mask : {"none", "relational"}) {
          const auto o = mask_options(c.f)
                             .eps(eps)
                             .alpha(2.5 * eps / c.steps)
                             .steps(c.steps)
                             .norm(norm)
                             .mask(mask)
                             .layer(s.layer);
          const bool targeted = mode == "target";
          const Outcome r = run_one(s, c.f, o, targeted ? target : torch::Tensor(),
                                    targeted ? world_target : torch::Tensor());
          line += fmt::format("  {:>12.1f}% / {:.4f}", 100 * r.metrics.success_rate,
                              r.metrics.perturbation_rmse);
          const std::string line_name =
              fmt::format("{} {}", mask == "none" ? "KAA" : "KAA+ER", norm);
          Series& curve = curves[mode][line_name];
          curve.label = line_name;
          curve.x.push_back(r.metrics.perturbation_rmse);
          curve.y.push_back(r.metrics.pose_rmse);
          if (s.clean_own.defined()) line += fmt::format(" [{:.0f}%]", 100 * r.own.success_rate);
          if (r.has_world) line += fmt::format(" 3-D {:.0f}%", 100 * r.world.success_rate);
          csv.push_back({mode, norm, fmt::format("{:g}", eps), mask == "none" ? "KAA" : "KAA+ER",
                         fmt::format("{:.4f}", r.metrics.success_rate),
                         fmt::format("{:.5f}", r.metrics.perturbation_rmse),
                         fmt::format("{:.3f}", r.metrics.pose_rmse),
                         r.has_world ? fmt::format("{:.4f}", r.world.success_rate) : "",
                         r.has_world ? fmt::format("{:.5f}", r.world.pose_rmse) : ""});
          rows.push_back(
              {{"mode", mode},
               {"norm", norm},
               {"eps", eps},
               {"attack", mask == "none" ? "KAA" : "KAA+ER"},
               {"success_rate", r.metrics.success_rate},
               {"perturbation_rmse", r.metrics.perturbation_rmse},
               {"pose_rmse", r.metrics.pose_rmse},
               {"own_decode_success_rate",
                s.clean_own.defined() ? nlohmann::json(r.own.success_rate) : nlohmann::json()},
               {"world_3d", world_json(r, c.f.tau_3d)},
               {"mask_share", r.result.mask.mean().item<double>()},
               {"jacobian_seconds", r.result.jacobian_seconds}});
        }
        fmt::print("{}\n", line);
        std::fflush(stdout);
      }
    }
  }
  write_csv(out.file("table.csv"),
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
    write_line_plot(out.file(mode == "target" ? "curve-target.svg" : "curve.svg"),
                    mode + ": pose vs perturbation RMSE", "perturbation RMSE", "pose RMSE, px",
                    lines, 0.0, top * 1.05 + 1e-9);
  }
  write_json(out.file("table.json"), {{"model", s.model->info().name},
                                      {"data", s.data.source},
                                      {"target", target_spec},
                                      {"tau", c.f.tau},
                                      {"steps", c.steps},
                                      {"rows", rows}});
  if (s.clean_own.defined())
    fmt::print(
        "[own]: success judged by the model's own decode (e.g. MoveNet's ArgMax/GatherNd)\n");
  if (s.clean_world.defined())
    fmt::print(
        "3-D: success on the metric world coordinates (tau {:g} m){}\n", c.f.tau_3d,
        world_target.defined() ? "" : "; target rows not judged in 3-D (use --target item:I)");
  out.commit();
  fmt::print(
      "wrote {0}/report.html, {0}/table.csv, {0}/table.json, {0}/curve.svg, {0}/curve-target.svg\n",
      c.out);
}

}  // namespace

void setup_keypoints(CLI::App& app) {
  auto* kp = app.add_subcommand("keypoints", "keypoint (pose) models and the K-limiting attack");
  kp->require_subcommand(1);

  auto tc = std::make_shared<KpTrainCmd>();
  auto* train =
      kp->add_subcommand("train", "train the heatmap keypoint model on synthetic figures");
  train->add_option("--data", tc->data, "pose:train[:N]")->capture_default_str();
  train->add_option("--test", tc->test, "pose:test[:N]")->capture_default_str();
  train->add_option("--out", tc->out, "model file to write")->required();
  train->add_option("--epochs", tc->epochs, "epochs")
      ->check(integer_in(1, kMaxEpochs))
      ->capture_default_str();
  train->add_option("--batch", tc->batch, "batch size")
      ->check(integer_in(1, kMaxBatch))
      ->capture_default_str();
  train->add_option("--lr", tc->lr, "peak learning rate")
      ->check(number_in(0, 10, true))
      ->capture_default_str();
  train->add_flag("!--no-resume", tc->resume, "ignore a checkpoint and start afresh");
  train->add_option("--json", tc->json, "write the training history as JSON");
  train->callback([tc] { run_kp_train(*tc); });

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
