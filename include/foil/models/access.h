#pragma once
/// @file
/// What an attacker may see of a model: its gradients (white box), its scores, or only its
/// top label; and an ensemble of surrogate models for transfer attacks.
///
/// Example:
///   auto shipped = std::make_shared<foil::QueryModel>(foil::load_model("cnn.foil"),
///                                                     foil::Access::kLabels);
///   foil::make_attack("hopskipjump", foil::AttackOptions().queries(1000))->run(*shipped, x, c);
///   shipped->queries();  // every image the attack showed the model

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "foil/models/model.h"
#include "foil/models/wrapper.h"

namespace foil {

/// What an attacker sees of a model, from most to least.
enum class Access {
  kGradients,  ///< weights and input gradients (white box)
  kScores,     ///< the output scores of each query, no gradients
  kLabels,     ///< the top class of each query only
};

/// "gradients", "scores" or "labels"; throws InputError naming --access otherwise.
Access parse_access(const std::string& text);
/// The name parse_access takes back.
std::string access_name(Access access);

/// A model seen through an access level. Every image it is shown counts as one query. Below
/// `gradients` the wrapped model runs without autograd (no backward can reach it, its layers
/// cannot be tapped); at `labels` the output is the one-hot row of the top class, so an
/// attack never reads a score. `inner()` is the wrapped model.
class QueryModel : public ModelWrapper {
 public:
  /// Wraps `inner` (its normalisation stays inside it).
  QueryModel(std::shared_ptr<Model> inner, Access access);
  /// The access level.
  Access access() const { return access_; }
  /// Images shown to the model so far.
  int64_t queries() const { return queries_; }
  /// Starts the count again.
  void reset_queries() { queries_ = 0; }
  /// The wrapped model's layers at `gradients` access, none below.
  std::vector<std::string> layer_names() const override;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  Access access_;
  int64_t queries_ = 0;
};

/// The access level of `model`: a QueryModel's, else gradients.
Access model_access(const Model& model);

/// How an ensemble of surrogates is fused (Liu et al. 2017; Dong et al. 2018).
enum class Fusion {
  kLogits,  ///< forward returns the mean of the members' logits
  kLoss,    ///< attacks follow the mean of the members' cross-entropies (forward: mean logits)
};

/// Several models attacked as one (the transfer attacker's surrogate). All members take the
/// same input shape and give the same number of classes. `to()` moves every member.
class EnsembleModel : public ModelWrapper {
 public:
  /// Throws InputError naming both models when their input shapes or class counts differ.
  EnsembleModel(std::vector<std::shared_ptr<Model>> members, Fusion fusion);
  /// The members, in order.
  const std::vector<std::shared_ptr<Model>>& members() const { return wrapped(); }
  /// The fusion.
  Fusion fusion() const { return fusion_; }
  /// Per sample, the mean over the members of the cross-entropy of `x` against `classes`.
  torch::Tensor mean_loss(const torch::Tensor& x, const torch::Tensor& classes);
  /// No taps (an ensemble has no single layer to read, even of one member).
  std::vector<std::string> layer_names() const override { return {}; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  Fusion fusion_;
};

/// Throws InputError naming `flag`, both models and both values unless `other` takes the input
/// shape of `model` (dimensions of 0 match any) and gives as many classes (where both know).
void check_same_task(const Model& model, const Model& other, const std::string& flag);

/// "logits" or "loss"; throws InputError naming --ensemble otherwise.
Fusion parse_fusion(const std::string& text);

/// Summed cross-entropy of `logits` (from model.forward(x)) against `classes`, the way the
/// gradient attacks follow it; for an ensemble fused by loss, the sum of each sample's mean
/// over the members instead (x is run through the members again).
torch::Tensor attack_cross_entropy(Model& model, const torch::Tensor& x,
                                   const torch::Tensor& logits, const torch::Tensor& classes);

}  // namespace foil
