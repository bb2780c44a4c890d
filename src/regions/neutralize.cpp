#include "foil/regions/neutralize.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/explain/explain.h"

namespace foil {
namespace F = torch::nn::functional;

namespace {

void check_options(const NeutralizeOptions& o) {
  check_input(o.q_vulnerable() >= 0 && o.q_vulnerable() < 100, "--q-vulnerable",
              "a percentage in [0, 100)", fmt::format("{}", o.q_vulnerable()));
  check_input(o.q_important() >= 0 && o.q_important() < 100, "--q-important",
              "a percentage in [0, 100)", fmt::format("{}", o.q_important()));
  check_input(o.fill() == "blur" || o.fill() == "median" || o.fill() == "mean", "--fill",
              "blur, median or mean", "'" + o.fill() + "'");
}

}  // namespace

torch::Tensor neutralization_fill(const torch::Tensor& x, const std::string& fill) {
  const int64_t c = x.size(1);
  if (fill == "mean") return x.mean({2, 3}, /*keepdim=*/true).expand_as(x);
  if (fill == "blur") {
    auto r = torch::arange(-2, 3, x.options()).pow(2).div(-2 * 1.5 * 1.5).exp();
    auto k = torch::outer(r, r);
    k = (k / k.sum()).view({1, 1, 5, 5}).repeat({c, 1, 1, 1});
    return F::conv2d(F::pad(x, F::PadFuncOptions({2, 2, 2, 2}).mode(torch::kReplicate)), k,
                     F::Conv2dFuncOptions().groups(c));
  }
  // 3x3 median, straight-through for gradients.
  auto padded = F::pad(x.detach(), F::PadFuncOptions({1, 1, 1, 1}).mode(torch::kReplicate));
  auto patches =
      padded.unfold(2, 3, 1).unfold(3, 3, 1).reshape({x.size(0), c, x.size(2), x.size(3), 9});
  auto med = std::get<0>(patches.median(-1));
  return x + (med - x).detach();
}

torch::Tensor neutralization_mask(Model& model, const torch::Tensor& x,
                                  const NeutralizeOptions& o) {
  check_options(o);
  const int64_t n = x.size(0);
  if (o.q_vulnerable() == 0)
    return torch::zeros({n, x.size(2), x.size(3)}, torch::dtype(torch::kBool).device(x.device()));
  torch::AutoGradMode enable_grad(true);
  const torch::Tensor xin = x.detach().requires_grad_(true);
  const torch::Tensor logits = model.forward(xin);
  const torch::Tensor pred = logits.argmax(1).detach();
  const torch::Tensor loss =
      F::cross_entropy(logits, pred, F::CrossEntropyFuncOptions().reduction(torch::kSum));
  const torch::Tensor v = torch::autograd::grad({loss}, {xin})[0].abs().sum(1);
  torch::Tensor vulnerable = top_percent(v, o.q_vulnerable());
  if (o.q_important() > 0) {
    const std::string layer = !explain_uses_layer(o.importance()) ? ""
                              : o.layer().empty()                 ? default_cam_layer(model, x)
                                                                  : o.layer();
    const torch::Tensor cam = explain(model, x, pred, o.importance(), layer);
    vulnerable = vulnerable & ~top_percent(cam, o.q_important());
  }
  return vulnerable;
}

torch::Tensor neutralize(Model& model, const torch::Tensor& x, const NeutralizeOptions& o) {
  const torch::Tensor mask = neutralization_mask(model, x, o).unsqueeze(1).to(x.dtype());
  return x + mask * (neutralization_fill(x, o.fill()) - x);
}

NeutralizedModel::NeutralizedModel(std::shared_ptr<Model> base, NeutralizeOptions options)
    : ModelWrapper(std::move(base)), options_(std::move(options)) {
  check_options(options_);
  info_.name = inner().info().name + "+neutralize";
}

TapOutputs NeutralizedModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  return inner().forward(neutralize(inner(), x, options_), taps);
}

}  // namespace foil
