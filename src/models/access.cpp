#include "foil/models/access.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "foil/core/error.h"

namespace foil {

Access parse_access(const std::string& text) {
  if (text == "gradients") return Access::kGradients;
  if (text == "scores") return Access::kScores;
  if (text == "labels") return Access::kLabels;
  throw InputError("--access: expected gradients, scores or labels, got '" + text + "'");
}

std::string access_name(Access access) {
  switch (access) {
    case Access::kGradients:
      return "gradients";
    case Access::kScores:
      return "scores";
    case Access::kLabels:
      break;
  }
  return "labels";
}

QueryModel::QueryModel(std::shared_ptr<Model> inner, Access access)
    : ModelWrapper(std::move(inner)), access_(access) {}

std::vector<std::string> QueryModel::layer_names() const {
  if (access_ == Access::kGradients) return inner().layer_names();
  return {};
}

TapOutputs QueryModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  queries_ += x.size(0);
  if (access_ == Access::kGradients) return inner().forward(x, taps);
  TapOutputs out;
  {
    torch::NoGradGuard no_grad;
    out.output = inner().forward(x.detach()).detach();
  }
  if (access_ == Access::kLabels && out.output.dim() == 2)
    out.output = torch::one_hot(out.output.argmax(1), out.output.size(1)).to(torch::kFloat);
  return out;
}

Access model_access(const Model& model) {
  const auto* q = dynamic_cast<const QueryModel*>(&model);
  return q ? q->access() : Access::kGradients;
}

EnsembleModel::EnsembleModel(std::vector<std::shared_ptr<Model>> members, Fusion fusion)
    : ModelWrapper(std::move(members), "--surrogate"), fusion_(fusion) {
  std::vector<std::string> names;
  for (const auto& m : wrapped()) {
    check_same_task(inner(), *m, "--surrogate");
    names.push_back(m->info().name);
  }
  info_.name = fmt::format("ensemble({})", fmt::join(names, "+"));
  info_.backend = "ensemble";
}

TapOutputs EnsembleModel::run(const torch::Tensor& x, const std::vector<std::string>& /*taps*/) {
  TapOutputs out;
  for (const auto& m : wrapped()) {
    torch::Tensor logits = m->forward(x);
    out.output = out.output.defined() ? out.output + logits : logits;
  }
  out.output = out.output / static_cast<double>(wrapped().size());
  return out;
}

torch::Tensor EnsembleModel::mean_loss(const torch::Tensor& x, const torch::Tensor& classes) {
  namespace F = torch::nn::functional;
  torch::Tensor total;
  for (const auto& m : wrapped()) {
    torch::Tensor l = F::cross_entropy(m->forward(x), classes,
                                       F::CrossEntropyFuncOptions().reduction(torch::kNone));
    total = total.defined() ? total + l : l;
  }
  return total / static_cast<double>(wrapped().size());
}

void check_same_task(const Model& model, const Model& other, const std::string& flag) {
  const ModelInfo &a = model.info(), &b = other.info();
  auto fits = [](int64_t x, int64_t y) { return x == 0 || y == 0 || x == y; };
  check_input(fits(a.input.channels, b.input.channels) && fits(a.input.height, b.input.height) &&
                  fits(a.input.width, b.input.width),
              flag + " " + b.name, "the input shape of " + a.name + " (" + a.input.str() + ")",
              b.input.str());
  check_input(fits(a.num_classes, b.num_classes), flag + " " + b.name,
              fmt::format("the {} classes of {}", a.num_classes, a.name),
              std::to_string(b.num_classes) + " classes");
}

Fusion parse_fusion(const std::string& text) {
  if (text == "logits") return Fusion::kLogits;
  if (text == "loss") return Fusion::kLoss;
  throw InputError("--ensemble: expected logits or loss, got '" + text + "'");
}

torch::Tensor attack_cross_entropy(Model& model, const torch::Tensor& x,
                                   const torch::Tensor& logits, const torch::Tensor& classes) {
  namespace F = torch::nn::functional;
  auto* e = dynamic_cast<EnsembleModel*>(&model);
  if (e != nullptr && e->fusion() == Fusion::kLoss) return e->mean_loss(x, classes).sum();
  return F::cross_entropy(logits, classes, F::CrossEntropyFuncOptions().reduction(torch::kSum));
}

}  // namespace foil
