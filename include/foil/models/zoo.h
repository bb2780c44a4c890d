#pragma once
/// @file
/// foil's own architectures (the zoo): four families for transfer experiments.
///
/// | name      | family                                   | taps (stage names)                 |
/// |-----------|------------------------------------------|------------------------------------|
/// | mlp       | fully connected, 512-256                 | flatten fc1 fc2 logits             |
/// | cnn       | plain CNN, 2 conv (32-64) + 2 pools, fc  | conv1 pool1 conv2 pool2 fc1 ...    |
/// | resnet    | residual CNN, 3 basic blocks (He 2016)   | stem layer1 layer2 layer3 pool ... |
/// | mobilenet | depthwise-separable (Howard 2017)        | stem block1..block4 pool logits    |
/// | posenet   | heatmap keypoint model (K maps at 1/4)   | stem block1 down block2 context
/// heatmaps |
///
/// Example: `auto net = ZooNet("cnn", {1, 28, 28}, 10);`

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <memory>
#include <string>
#include <vector>

#include "foil/models/model.h"

namespace foil {

/// The names `ZooNet` accepts.
const std::vector<std::string>& zoo_architectures();

/// A zoo network: a chain of named stages; each stage's output is a tap.
class ZooNetImpl : public torch::nn::Module {
 public:
  /// Throws InputError for an unknown architecture (listing the known ones).
  ZooNetImpl(const std::string& arch, ImageShape input, int64_t num_classes);
  /// Logits for normalised input `x`.
  torch::Tensor forward(const torch::Tensor& x);
  /// Logits plus the outputs of the named stages; `edit` multiplies one stage's output.
  TapOutputs forward_taps(const torch::Tensor& x, const std::vector<std::string>& taps,
                          const LayerScale* edit = nullptr);
  /// The stages' names, in forward order.
  const std::vector<std::string>& stage_names() const { return names_; }

 private:
  void add(const std::string& name, torch::nn::Sequential stage);
  std::vector<std::string> names_;
  std::vector<torch::nn::Sequential> stages_;
};
/// `ZooNet`: the shared-pointer holder of ZooNetImpl (LibTorch's module convention).
TORCH_MODULE(ZooNet);

/// A zoo network behind the Model interface, with its metadata.
class ZooModel : public Model {
 public:
  /// Wraps `net`, described by `info`.
  ZooModel(ZooNet net, ModelInfo info);
  std::vector<std::string> layer_names() const override;
  void to(c10::Device device) override;
  /// The network (for training).
  ZooNet& net() { return net_; }
  /// The metadata, to record training results.
  ModelInfo& mutable_info() { return info_; }
  /// Writes the one file that `--model` accepts: weights plus metadata.
  void save(const std::string& path) const;

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;
  TapOutputs run_scaled(const torch::Tensor& x, const std::vector<std::string>& taps,
                        const LayerScale& edit) override;

 private:
  ZooNet net_;
};

/// Reads a file written by ZooModel::save; returns nullptr when `path` is a valid PyTorch
/// archive without foil metadata (e.g. TorchScript), throws InputError when not a model.
std::shared_ptr<ZooModel> try_load_zoo_model(const std::string& path);

}  // namespace foil
