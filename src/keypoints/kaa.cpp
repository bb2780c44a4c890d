#include "foil/keypoints/kaa.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "foil/attacks/norm.h"
#include "foil/attacks/sample_random.h"
#include "foil/core/error.h"
#include "foil/core/files.h"
#include "foil/core/runtime.h"
#include "foil/models/graph_model.h"
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
  const char* expected = "heatmap, or a list of peak, x, y";
  while (std::getline(ss, item, ',')) {
    check_input(item == "peak" || item == "x" || item == "y" || item == "heatmap", "--outputs",
                expected, "'" + text + "'");
    kinds.push_back(item);
  }
  check_input(!kinds.empty(), "--outputs", expected, "'" + text + "'");
  const bool heatmap = std::find(kinds.begin(), kinds.end(), "heatmap") != kinds.end();
  check_input(!heatmap || kinds.size() == 1, "--outputs", expected, "'" + text + "'");
  return kinds;
}

/// The chosen outputs of layer k for each image of `x`: N×L.
torch::Tensor jacobian_outputs(Model& model, const torch::Tensor& x, const KaaOptions& o,
                               const std::vector<std::string>& kinds) {
  const torch::Tensor hm = heatmaps_of(model, x, o.layer());
  if (kinds.front() == "heatmap") return hm.flatten(1);
  std::vector<torch::Tensor> outs;
  const torch::Tensor sa = soft_argmax(hm, x.size(3));
  for (const auto& kind : kinds) {
    if (kind == "peak") outs.push_back(hm.amax({2, 3}));
    if (kind == "x") outs.push_back(sa.select(2, 0));
    if (kind == "y") outs.push_back(sa.select(2, 1));
  }
  return torch::cat(outs, 1);
}

/// Rows [begin, end) of the Jacobian of image `xi` (1×C×H×W): (end-begin)×C×H×W, in one
/// backward pass over a batch of end-begin replicas, replica r back-propagating output
/// begin + r.
torch::Tensor jacobian_rows(Model& model, const torch::Tensor& xi, const KaaOptions& o,
                            const std::vector<std::string>& kinds, int64_t begin, int64_t end) {
  const torch::Tensor xr =
      xi.detach().expand({end - begin, -1, -1, -1}).clone().requires_grad_(true);
  const torch::Tensor out = jacobian_outputs(model, xr, o, kinds);
  const torch::Tensor idx =
      torch::arange(begin, end, out.options().dtype(torch::kLong)).view({-1, 1});
  const torch::Tensor picked = out.gather(1, idx).sum();
  return torch::autograd::grad({picked}, {xr})[0].detach();
}

int64_t output_count(Model& model, const torch::Tensor& x, const KaaOptions& o,
                     const std::vector<std::string>& kinds) {
  torch::NoGradGuard g;
  return jacobian_outputs(model, x.slice(0, 0, 1), o, kinds).size(1);
}

/// Replicas per backward pass: about 2^24 input elements, at most 256.
int64_t chunk_for(const torch::Tensor& x) {
  const int64_t per_image = x.size(1) * x.size(2) * x.size(3);
  return std::clamp<int64_t>((int64_t{1} << 24) / std::max<int64_t>(1, per_image), 1, 256);
}

}  // namespace

void check_kaa_options(const KaaOptions& o) {
  check_input(o.eps() >= 0, "--eps", "a value >= 0", fmt::format("{}", o.eps()));
  check_input(o.alpha() > 0, "--alpha", "a value > 0", fmt::format("{}", o.alpha()));
  check_input(o.steps() >= 1 && o.steps() <= 100000, "--steps", "an integer in 1..100000",
              std::to_string(o.steps()));
  check_input(o.mask() == "none" || o.mask() == "relational", "--mask", "none or relational",
              "'" + o.mask() + "'");
  check_input(o.jacobian_threshold() >= 0 && o.jacobian_threshold() < 1, "--jacobian-threshold",
              "a fraction in [0, 1)", fmt::format("{}", o.jacobian_threshold()));
  check_input(o.mask_rule() == "both" || o.mask_rule() == "strict", "--mask-rule", "both or strict",
              "'" + o.mask_rule() + "'");
  check_input(std::isfinite(o.jacobian_threshold_abs()), "--jacobian-threshold-abs",
              "a finite value (< 0: use the relative threshold)",
              fmt::format("{}", o.jacobian_threshold_abs()));
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
  model->to(o.device());
  torch::optim::Adam optim(net->parameters(), torch::optim::AdamOptions(o.lr()));
  const std::string sig = nlohmann::json({{"arch", "posenet"},
                                          {"epochs", o.epochs()},
                                          {"batch", o.batch()},
                                          {"lr", o.lr()},
                                          {"sigma", o.sigma()},
                                          {"seed", o.seed()},
                                          {"data", train.source},
                                          {"n", train.size()},
                                          {"images", tensor_digest(train.images)},
                                          {"keypoints", tensor_digest(train.keypoints)}})
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
    LossTally tally(o.lr(), epoch + 1, o.checkpoint());
    net->train();
    for (int64_t b = 0; b < batches; ++b) {
      const torch::Tensor idx = perm.slice(0, b * o.batch(), (b + 1) * o.batch());
      const torch::Tensor x = train.images.index_select(0, idx).to(o.device());
      torch::Tensor pred = net->forward(x);
      const torch::Tensor target = render_heatmaps(
          train.keypoints.index_select(0, idx).to(o.device()), s, pred.size(3), o.sigma());
      // Summed over each map's pixels, so the sparse peaks are not drowned by the background.
      torch::Tensor loss = (pred - target).pow(2).sum({2, 3}).mean();
      for (auto& g : optim.param_groups())
        g.options().set_lr(one_cycle_lr(o.lr(), epoch * batches + b, o.epochs() * batches));
      optim.zero_grad();
      loss.backward();
      optim.step();
      tally.add(loss, idx.numel());
      if (b % 20 == 19 || b + 1 == batches) {
        tally.flush();
        progress.update(tally.items(),
                        fmt::format("loss {:.4f}", tally.loss_sum() / tally.items()));
      }
    }
    net->eval();
    const double p = test.size() > 0
                         ? pck(predict_keypoints(*model, test.images), test.keypoints, kPckPixels)
                         : -1;
    model->mutable_info().test_accuracy = p;
    progress.finish(fmt::format("PCK@4px {:.2f}%", 100 * p));
    save_checkpoint(o.checkpoint(), sig, epoch + 1, *net, optim);
    if (on_epoch) on_epoch(epoch + 1, tally.loss_sum() / static_cast<double>(n), p);
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
  const int64_t l = output_count(model, x, o, kinds), chunk = chunk_for(x);
  std::vector<torch::Tensor> images;
  for (int64_t i = 0; i < x.size(0); ++i) {
    std::vector<torch::Tensor> rows;
    for (int64_t b = 0; b < l; b += chunk)
      rows.push_back(
          jacobian_rows(model, x.slice(0, i, i + 1), o, kinds, b, std::min(l, b + chunk)));
    images.push_back(torch::cat(rows));
  }
  return torch::stack(images);
}

torch::Tensor relational_mask(Model& model, const torch::Tensor& x, const KaaOptions& o) {
  check_kaa_options(o);
  const auto kinds = output_kinds(o.outputs());
  torch::AutoGradMode grad_mode(true);
  const int64_t l = output_count(model, x, o, kinds), chunk = chunk_for(x);
  const bool absolute = o.jacobian_threshold_abs() >= 0;
  std::vector<torch::Tensor> masks;
  for (int64_t i = 0; i < x.size(0); ++i) {
    // Per input element: some row entry > threshold, some < -threshold, some in between.
    torch::Tensor pos = torch::zeros(x.sizes().slice(1), x.options().dtype(torch::kBool));
    torch::Tensor neg = pos.clone(), zero = pos.clone();
    for (int64_t b = 0; b < l; b += chunk) {
      const torch::Tensor j =
          jacobian_rows(model, x.slice(0, i, i + 1), o, kinds, b, std::min(l, b + chunk));
      const torch::Tensor thr =
          absolute ? torch::full({1, 1, 1, 1}, o.jacobian_threshold_abs(), j.options())
                   : o.jacobian_threshold() * j.abs().flatten(1).amax(1).view({-1, 1, 1, 1});
      pos |= j.gt(thr).any(0);
      neg |= j.lt(-thr).any(0);
      zero |= j.abs().le(thr).any(0);
    }
    if (o.per_pixel()) {
      // A pixel's row holds the entries of all its channels.
      pos = pos.any(0, true).expand_as(neg);
      neg = neg.any(0, true).expand_as(pos);
      zero = zero.any(0, true).expand_as(pos);
    }
    torch::Tensor c = pos & neg;
    if (o.mask_rule() == "strict") c = c & ~zero;
    masks.push_back(c.to(x.dtype()));
  }
  return torch::stack(masks);
}

KaaResult kaa_attack(Model& model, const torch::Tensor& input, const torch::Tensor& target_kp,
                     const KaaOptions& o, const torch::Tensor& ids) {
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
  if (!targeted && o.random_start() && o.eps() > 0) {
    // One random stream per image, keyed by the seed and its id.
    const torch::Tensor rows = torch::arange(x.size(0));
    SampleRandom rng(o.seed(), ids.defined() ? ids : rows);
    adv = (x + r.mask * norm->random_start(rng, rows, x, o.eps())).clamp(0, 1);
  }
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
  if (const auto* t = dynamic_cast<const GraphModel*>(&model)) return t->meta().task == "keypoints";
  return model.info().arch == "posenet";
}

std::string default_heatmap_layer(const Model& model) {
  const auto* t = dynamic_cast<const GraphModel*>(&model);
  return t ? t->meta().heatmap_tap : "";
}

KeypointPrediction model_keypoints(Model& model, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  KeypointPrediction p;
  if (const auto* t = dynamic_cast<const GraphModel*>(&model)) {
    const DecodedKeypoints d = t->keypoints(x);
    p.xy = d.xy;
    p.score = d.score;
    p.z = d.z;
    p.world = d.world;
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
