#include "foil/patch/objective.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/distributed/dist.h"
#include "foil/models/model.h"

namespace foil {
namespace F = torch::nn::functional;

torch::Tensor wasserstein2_1d(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor as = std::get<0>(a.sort(0));
  torch::Tensor bs = std::get<0>(b.sort(0));
  const int64_t n = a.size(0), m = b.size(0);
  if (n != m) {
    // b's quantiles at a's levels (i + 0.5) / n, linearly interpolated.
    auto pos = (torch::arange(n, a.options()).add(0.5).div(n).mul(m).sub(0.5)).clamp(0, m - 1);
    auto lo = pos.floor().to(torch::kLong), hi = (lo + 1).clamp_max(m - 1);
    auto frac = (pos - lo.to(pos.dtype())).view({-1, 1});
    bs = bs.index_select(0, lo) * (1 - frac) + bs.index_select(0, hi) * frac;
  }
  // Mean over the samples, summed over the columns (feature axes), as the reference does:
  // a layer's distance grows with its width, like the squared Euclidean distance.
  return (as - bs).pow(2).mean(0).sum();
}

torch::Tensor sliced_wasserstein2(const torch::Tensor& a, const torch::Tensor& b,
                                  int64_t projections, at::Generator* gen) {
  check_input(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "sliced Wasserstein",
              "two samples of the same dimension",
              fmt::format("{} and {} columns", a.size(-1), b.size(-1)));
  if (projections <= 0) return wasserstein2_1d(a, b);
  // foil's generators are CPU ones (the same numbers on every device): draw there, then move.
  torch::Tensor theta =
      gen ? torch::randn({a.size(1), projections}, *gen, a.options().device(torch::kCPU))
                .to(a.device())
          : torch::randn({a.size(1), projections}, a.options());
  theta = theta / theta.norm(2, 0, /*keepdim=*/true);
  // SW2² is an expectation over directions: the mean over the projections.
  return wasserstein2_1d(a.matmul(theta), b.matmul(theta.to(b.device()))) /
         static_cast<double>(projections);
}

std::string default_feature_layer(Model& model, const torch::Tensor& sample) {
  const auto names = model.layer_names();
  check_input(!names.empty(), "--layers", "a model with tappable layers", "none");
  torch::NoGradGuard no_grad;
  const auto out = model.forward(sample, names);
  const int64_t classes = out.output.dim() == 2 ? out.output.size(1) : -1;
  // The last spatial layer (the last convolutional features) ...
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    const torch::Tensor& t = out.taps.at(*it);
    if (t.dim() == 4 && t.size(2) * t.size(3) > 1) return *it;
  }
  // ... else the last layer that is neither the logits nor a probability vector.
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    const torch::Tensor& t = out.taps.at(*it);
    if (t.numel() / std::max<int64_t>(1, t.size(0)) != classes) return *it;
  }
  throw InputError("--layers: the model has no feature layer besides its outputs; name one");
}

torch::Tensor pooled(const torch::Tensor& tap) {
  return tap.dim() == 4 ? tap.mean({2, 3}) : tap.flatten(1);
}

namespace {

F::CrossEntropyFuncOptions mean_ce() {
  return F::CrossEntropyFuncOptions().reduction(torch::kMean);
}

class CrossEntropyObjective : public PatchObjective {
 public:
  explicit CrossEntropyObjective(int64_t target) : target_(target) {}
  torch::Tensor loss(Model& model, const torch::Tensor& x, const torch::Tensor& y,
                     at::Generator&) override {
    const torch::Tensor logits = model.forward(x);
    if (target_ < 0) return -F::cross_entropy(logits, y.to(logits.device()), mean_ce());
    return F::cross_entropy(
        logits, torch::full({x.size(0)}, target_, y.options().device(logits.device())), mean_ce());
  }

 private:
  int64_t target_;
};

/// Detectors: the Model output holds each class's image-level detection logit (its best
/// location), so sigmoid of it is the class's best detection score.
class DetectionObjective : public PatchObjective {
 public:
  DetectionObjective(bool appear, int64_t cls) : appear_(appear), cls_(cls) {}
  torch::Tensor loss(Model& model, const torch::Tensor& x, const torch::Tensor&,
                     at::Generator&) override {
    const torch::Tensor z = model.forward(x);
    if (appear_) return F::softplus(-z.select(1, cls_)).mean();  // -log score
    return torch::sigmoid(cls_ >= 0 ? z.select(1, cls_) : z.amax(1)).mean();
  }

 private:
  bool appear_;
  int64_t cls_;
};

/// Shared by feature and ot: per-layer target features from clean target-class images.
class LayerObjective : public PatchObjective {
 public:
  LayerObjective(const ObjectiveOptions& o, Model& model, const Dataset& data) : o_(o) {
    layers_ = o.layers();
    if (layers_.empty()) layers_ = {default_feature_layer(model, data.images.slice(0, 0, 1))};
    weights_ = o.weights().empty() ? std::vector<double>(layers_.size(), 1.0) : o.weights();
    check_input(weights_.size() == layers_.size(), "--layer-weights",
                fmt::format("{} weight(s), one per layer", layers_.size()),
                std::to_string(weights_.size()));
    check_input(o.target() >= 0, "--target", "a target class for the feature and ot losses",
                "none (untargeted)");
    const int64_t most = std::max<int64_t>(1, o.max_target_images());
    torch::Tensor x_t = o.target_images();
    if (x_t.defined()) {
      check_input(x_t.dim() == 4 && x_t.size(0) > 0, "target images",
                  "a non-empty N x C x H x W batch", c10::str(x_t.sizes()));
      x_t = x_t.slice(0, 0, most);
    } else {
      const torch::Tensor idx = data.labels.eq(o.target()).nonzero().flatten();
      check_input(idx.numel() > 0, "--target " + std::to_string(o.target()),
                  "a class with images in the data (or --target-data with some)",
                  "no images of that class");
      x_t = data.images.index_select(0, idx.slice(0, 0, most));
    }
    torch::NoGradGuard no_grad;
    for (int64_t b = 0; b < x_t.size(0); b += 250) {
      const auto out = model.forward(x_t.slice(0, b, b + 250), layers_);
      for (size_t l = 0; l < layers_.size(); ++l) {
        const torch::Tensor f = pooled(out.taps.at(layers_[l]));
        if (targets_.size() <= l)
          targets_.push_back(f);
        else
          targets_[l] = torch::cat({targets_[l], f});
      }
    }
  }

 protected:
  std::vector<torch::Tensor> features(Model& model, const torch::Tensor& x) {
    const auto out = model.forward(x, layers_);
    std::vector<torch::Tensor> f;
    for (const auto& l : layers_) f.push_back(pooled(out.taps.at(l)));
    return f;
  }
  ObjectiveOptions o_;
  std::vector<std::string> layers_;
  std::vector<double> weights_;
  std::vector<torch::Tensor> targets_;
};

/// Feature point: squared distance of each patched image's pooled features to one target
/// image's (the first of the target class).
class FeatureObjective : public LayerObjective {
 public:
  using LayerObjective::LayerObjective;
  torch::Tensor loss(Model& model, const torch::Tensor& x, const torch::Tensor&,
                     at::Generator&) override {
    const auto f = features(model, x);
    torch::Tensor total = torch::zeros({}, x.options());
    for (size_t l = 0; l < f.size(); ++l)
      total = total + weights_[l] * (f[l] - targets_[l][0]).pow(2).sum(1).mean();
    return total;
  }
};

/// Optimal transport: sliced W2² between patched and target-class feature distributions.
class OtObjective : public LayerObjective {
 public:
  using LayerObjective::LayerObjective;
  torch::Tensor loss(Model& model, const torch::Tensor& x, const torch::Tensor&,
                     at::Generator& gen) override {
    const auto f = features(model, x);
    torch::Tensor total = torch::zeros({}, x.options());
    for (size_t l = 0; l < f.size(); ++l)
      total = total + weights_[l] * sliced_wasserstein2(
                                        shared_ ? dist::all_gather_rows_keep_own(f[l]) : f[l],
                                        targets_[l], o_.exact_1d() ? 0 : o_.projections(), &gen);
    return total;
  }
  bool per_item() const override { return false; }
};

}  // namespace

std::unique_ptr<PatchObjective> make_objective(const ObjectiveOptions& o, Model& model,
                                               const Dataset& data) {
  if (o.target() >= 0 && model.info().num_classes > 0)
    check_input(o.target() < model.info().num_classes, "--target",
                fmt::format("a class in 0..{}", model.info().num_classes - 1),
                std::to_string(o.target()));
  if (o.loss() == "ce") return std::make_unique<CrossEntropyObjective>(o.target());
  if (o.loss() == "vanish") return std::make_unique<DetectionObjective>(false, o.target());
  if (o.loss() == "appear") {
    check_input(o.target() >= 0, "--loss appear", "a class to make appear", "all classes");
    return std::make_unique<DetectionObjective>(true, o.target());
  }
  if (o.loss() == "feature") return std::make_unique<FeatureObjective>(o, model, data);
  if (o.loss() == "ot") {
    check_input(o.exact_1d() || o.projections() >= 1, "--projections", "an integer >= 1",
                std::to_string(o.projections()));
    return std::make_unique<OtObjective>(o, model, data);
  }
  throw InputError("--loss: expected ce, feature, ot, vanish or appear, got '" + o.loss() + "'");
}

}  // namespace foil
