#include "foil/keypoints/kaa.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "foil/attacks/norm.h"
#include "foil/core/error.h"
#include "foil/core/runtime.h"
#include "foil/models/tfjs.h"
#include "foil/models/zoo.h"
#include "foil/train/trainer.h"

namespace foil {
namespace F = torch::nn::functional;

namespace {

constexpr double kPckPixels = 4.0;

torch::Tensor heatmaps_of(Model& model, const torch::Tensor& x, const std::string& layer) {
  torch::Tensor hm = layer.empty() ? model.forward(x) : model.forward(x, {layer}).taps.at(layer);
  check_input(hm.dim() == 4, layer.empty() ? "model output" : "--layer " + layer,
              "heatmaps of shape N x K x h x w", fmt::format("{} dimensions", hm.dim()));
  return hm;
}

std::vector<std::string> output_kinds(const std::string& text) {
  std::vector<std::string> kinds;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    check_input(item == "peak" || item == "x" || item == "y", "--outputs", "a list of peak, x, y",
                "'" + text + "'");
    kinds.push_back(item);
  }
  check_input(!kinds.empty(), "--outputs", "a list of peak, x, y", "'" + text + "'");
  return kinds;
}

}  // namespace

void check_kaa_options(const KaaOptions& o) {
  check_input(o.eps() >= 0, "--eps", "a value >= 0", fmt::format("{}", o.eps()));
  check_input(o.alpha() > 0, "--alpha", "a value > 0", fmt::format("{}", o.alpha()));
  check_input(o.steps() >= 1, "--steps", "an integer >= 1", std::to_string(o.steps()));
  check_input(o.mask() == "none" || o.mask() == "relational", "--mask", "none or relational",
              "'" + o.mask() + "'");
  check_input(o.jacobian_threshold() >= 0 && o.jacobian_threshold() < 1, "--jacobian-threshold",
              "a fraction in [0, 1)", fmt::format("{}", o.jacobian_threshold()));
  output_kinds(o.outputs());
  make_norm(o.norm());
}

std::shared_ptr<ZooModel> train_pose_model(
    const PoseTrainOptions& o, const PoseData& train, const PoseData& test,
    const std::function<void(int64_t, double, double)>& on_epoch) {
  check_input(o.epochs() >= 1, "--epochs", "an integer >= 1", std::to_string(o.epochs()));
  check_input(o.batch() >= 1, "--batch", "an integer >= 1", std::to_string(o.batch()));
  check_input(train.size() > 0, "--data", "at least one training item", "none");
  seed_everything(o.seed());
  const int64_t s = train.images.size(3), k = train.keypoints.size(1);
  ModelInfo info;
  info.arch = info.name = "posenet";
  info.input = {3, train.images.size(2), s};
  info.num_classes = k;
  info.class_names = pose_joint_names();
  ZooNet net("posenet", info.input, k);
  auto model = std::make_shared<ZooModel>(net, info);
  torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(o.lr()));
  const std::string sig = nlohmann::json({{"arch", "posenet"},
                                          {"epochs", o.epochs()},
                                          {"batch", o.batch()},
                                          {"lr", o.lr()},
                                          {"sigma", o.sigma()},
                                          {"seed", o.seed()},
                                          {"data", train.source},
                                          {"n", train.size()}})
                              .dump();
  const int64_t first = load_checkpoint(o.checkpoint(), sig, *net, optim);
  const int64_t n = train.size(), batches = (n + o.batch() - 1) / o.batch();
  for (int64_t epoch = first; epoch < o.epochs(); ++epoch) {
    seed_everything(o.seed() * 1000003ULL + static_cast<uint64_t>(epoch));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed() * 7919ULL + epoch);
    const torch::Tensor perm = torch::randperm(n, gen, torch::kLong);
    Progress progress(o.progress().empty()
                          ? ""
                          : fmt::format("{} epoch {}/{}", o.progress(), epoch + 1, o.epochs()),
                      n);
    double sum = 0;
    net->train();
    for (int64_t b = 0; b < batches; ++b) {
      const torch::Tensor idx = perm.slice(0, b * o.batch(), (b + 1) * o.batch());
      const torch::Tensor x = train.images.index_select(0, idx);
      torch::Tensor pred = net->forward(x);
      const torch::Tensor target =
          render_heatmaps(train.keypoints.index_select(0, idx), s, pred.size(3), o.sigma());
      // Summed over each map's pixels, so the sparse peaks are not drowned by the background.
      torch::Tensor loss = (pred - target).pow(2).sum({2, 3}).mean();
      for (auto& g : optim.param_groups())
        g.options().set_lr(one_cycle_lr(o.lr(), epoch * batches + b, o.epochs() * batches));
      optim.zero_grad();
      loss.backward();
      optim.step();
      sum += loss.item<double>() * static_cast<double>(idx.numel());
      progress.update(std::min(n, (b + 1) * o.batch()),
                      fmt::format("loss {:.4f}", sum / std::min(n, (b + 1) * o.batch())));
    }
    net->eval();
    const double p = test.size() > 0
                         ? pck(predict_keypoints(*model, test.images), test.keypoints, kPckPixels)
                         : -1;
    model->mutable_info().test_accuracy = p;
    progress.finish(fmt::format("PCK@4px {:.2f}%", 100 * p));
    save_checkpoint(o.checkpoint(), sig, epoch + 1, *net, optim);
    if (on_epoch) on_epoch(epoch + 1, sum / static_cast<double>(n), p);
  }
  net->eval();
  if (first >= o.epochs() && test.size() > 0)
    model->mutable_info().test_accuracy =
        pck(predict_keypoints(*model, test.images), test.keypoints, kPckPixels);
  return model;
}

torch::Tensor predict_keypoints(Model& model, const torch::Tensor& x, const std::string& layer) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < x.size(0); b += 250)
    out.push_back(
        decode_heatmaps(heatmaps_of(model, x.slice(0, b, b + 250), layer), x.size(3)).cpu());
  return torch::cat(out);
}

torch::Tensor keypoint_jacobian(Model& model, const torch::Tensor& x, const KaaOptions& o) {
  check_kaa_options(o);
  const auto kinds = output_kinds(o.outputs());
  torch::AutoGradMode grad_mode(true);
  const int64_t n = x.size(0);
  // The K output count comes from one clean forward.
  int64_t k;
  {
    torch::NoGradGuard g;
    k = heatmaps_of(model, x.slice(0, 0, 1), o.layer()).size(1);
  }
  const int64_t l = k * static_cast<int64_t>(kinds.size());
  std::vector<torch::Tensor> rows;
  // One backward pass per output, batched: the image is replicated L times and replica r
  // back-propagates only output r. Images go in groups to bound memory.
  const int64_t group = std::max<int64_t>(1, 512 / l);
  for (int64_t b = 0; b < n; b += group) {
    const torch::Tensor xb = x.slice(0, b, b + group).detach();
    const int64_t m = xb.size(0);
    const torch::Tensor xr = xb.repeat_interleave(l, 0).requires_grad_(true);
    const torch::Tensor hm = heatmaps_of(model, xr, o.layer());
    std::vector<torch::Tensor> outs;
    const torch::Tensor sa = soft_argmax(hm, x.size(3));
    for (const auto& kind : kinds) {
      if (kind == "peak") outs.push_back(hm.amax({2, 3}));
      if (kind == "x") outs.push_back(sa.select(2, 0));
      if (kind == "y") outs.push_back(sa.select(2, 1));
    }
    const torch::Tensor all = torch::cat(outs, 1).view({m, l, l});  // replica x output
    const torch::Tensor picked = all.diagonal(0, 1, 2).sum();
    const torch::Tensor g = torch::autograd::grad({picked}, {xr})[0];
    rows.push_back(g.view({m, l, x.size(1), x.size(2), x.size(3)}).detach());
  }
  return torch::cat(rows);
}

torch::Tensor relational_mask(Model& model, const torch::Tensor& x, const KaaOptions& o) {
  const torch::Tensor j = keypoint_jacobian(model, x, o);
  const torch::Tensor scale = j.abs().flatten(2).amax(2).view({j.size(0), j.size(1), 1, 1, 1});
  const torch::Tensor thr = o.jacobian_threshold() * scale;
  const torch::Tensor pos = j.gt(thr).any(1), neg = j.lt(-thr).any(1);
  return (pos & neg).to(x.dtype());
}

KaaResult kaa_attack(Model& model, const torch::Tensor& input, const torch::Tensor& target_kp,
                     const KaaOptions& o) {
  check_kaa_options(o);
  const torch::Tensor x = input.detach().to(model.device());
  const bool targeted = target_kp.defined();
  const auto norm = make_norm(o.norm());
  KaaResult r;
  const double start = now_seconds();
  r.mask = o.mask() == "relational" ? relational_mask(model, x, o) : torch::ones_like(x);
  r.jacobian_seconds = o.mask() == "relational" ? now_seconds() - start : 0.0;
  torch::Tensor reference;
  {
    torch::NoGradGuard g;
    const torch::Tensor clean = heatmaps_of(model, x, o.layer());
    if (targeted) {
      check_input(target_kp.dim() == 3 && target_kp.size(0) == x.size(0) &&
                      target_kp.size(1) == clean.size(1) && target_kp.size(2) == 2,
                  "target pose", fmt::format("{}x{}x2 keypoints", x.size(0), clean.size(1)),
                  fmt::format("shape {}", fmt::join(target_kp.sizes(), "x")));
      const bool inside = target_kp.ge(0).all().item<bool>() &&
                          target_kp.select(2, 0).le(x.size(3) - 1).all().item<bool>() &&
                          target_kp.select(2, 1).le(x.size(2) - 1).all().item<bool>();
      check_input(inside, "target pose", "coordinates inside the image", "keypoints outside it");
      // Peak 1 Gaussians, on the scale of the clean maps' peaks.
      reference =
          render_heatmaps(target_kp.to(x.device()).to(torch::kFloat), x.size(3), clean.size(3)) *
          clean.amax({2, 3}, true).clamp_min(1e-3);
    } else {
      reference = clean;
    }
  }
  torch::Tensor adv = x.clone();
  if (!targeted && o.random_start() && o.eps() > 0)
    adv = (x + r.mask * norm->random_start(x, o.eps())).clamp(0, 1);
  const double sign = targeted ? -1.0 : 1.0;
  for (int64_t s = 0; s < o.steps(); ++s) {
    adv.requires_grad_(true);
    const torch::Tensor loss = F::mse_loss(heatmaps_of(model, adv, o.layer()), reference,
                                           F::MSELossFuncOptions().reduction(torch::kSum));
    const torch::Tensor g = torch::autograd::grad({loss}, {adv})[0] * r.mask;
    const torch::Tensor next = adv.detach() + sign * o.alpha() * norm->direction(g);
    adv = (x + norm->project(next - x, o.eps())).clamp(0, 1).detach();
  }
  r.adv = adv;
  return r;
}

KaaMetrics kaa_metrics(const torch::Tensor& x, const torch::Tensor& adv,
                       const torch::Tensor& clean_kp, const torch::Tensor& adv_kp,
                       const torch::Tensor& target_kp, double tau) {
  KaaMetrics m;
  const torch::Tensor delta = (adv - x).cpu().to(torch::kDouble);
  m.perturbation_rmse = delta.pow(2).mean().sqrt().item<double>();
  const torch::Tensor ref = (target_kp.defined() ? target_kp : clean_kp).cpu().to(torch::kDouble);
  const torch::Tensor d = (adv_kp.cpu().to(torch::kDouble) - ref).norm(2, 2);  // N×K
  m.pose_rmse = d.pow(2).mean().sqrt().item<double>();
  m.success =
      target_kp.defined() ? d.le(tau).to(torch::kDouble).mean(1).ge(0.8) : d.mean(1).gt(tau);
  m.success_rate = m.success.to(torch::kDouble).mean().item<double>();
  return m;
}

bool is_keypoint_model(const Model& model) {
  if (const auto* t = dynamic_cast<const TfjsModel*>(&model)) return t->meta().task == "keypoints";
  return model.info().arch == "posenet";
}

std::string default_heatmap_layer(const Model& model) {
  const auto* t = dynamic_cast<const TfjsModel*>(&model);
  return t ? t->meta().heatmap_tap : "";
}

KeypointPrediction model_keypoints(Model& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  KeypointPrediction p;
  if (const auto* t = dynamic_cast<const TfjsModel*>(&model)) {
    // MoveNet: N×1×K×3 rows of (y, x, score), y and x relative to the input.
    const torch::Tensor out = model.forward(x).cpu();
    check_input(out.dim() == 4 && out.size(3) == 3, "model " + model.info().name,
                "keypoints as N×1×K×(y, x, score)",
                fmt::format("output [{}]", fmt::join(out.sizes(), ",")));
    const torch::Tensor rows = out.select(1, 0);
    p.xy = torch::stack({rows.select(2, 1) * x.size(3), rows.select(2, 0) * x.size(2)}, 2);
    p.score = rows.select(2, 2);
    p.names = t->meta().class_names;
    p.skeleton = t->meta().skeleton;
    return p;
  }
  const torch::Tensor heatmaps = model.forward(x).cpu();
  p.xy = decode_heatmaps(heatmaps, x.size(3));
  p.score = heatmaps.amax({2, 3});
  p.names = pose_joint_names();
  p.skeleton = pose_skeleton();
  return p;
}

}  // namespace foil
