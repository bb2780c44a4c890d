#pragma once
// Internal to the TensorFlow.js importer: Keras layers models (`modelTopology.model_config`)
// translated into the graph-model nodes that the graph executor runs, so both formats share
// one set of op kernels.

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace foil::graph {

/// A layers model as a graph model.
struct LayersGraph {
  /// Graph-model nodes (name, op, input, attr), as in `modelTopology.node`. Each layer's last
  /// node carries the layer's name, so layers are taps by their Keras names. Weights are
  /// `Const` nodes named as in the weightsManifest.
  nlohmann::json nodes = nlohmann::json::array();
  /// Constants that are not weights (paddings, axes, BatchNormalization's missing gamma).
  std::map<std::string, torch::Tensor> constants;
  std::vector<std::string> outputs;  ///< the model's output layers
};

/// True when `model_json` holds a layers model rather than a graph model.
bool is_layers_model(const nlohmann::json& model_json);

/// Translates a layers model. Throws InputError (without the file name) naming the layer for
/// anything foil cannot run: an unknown layer class, a shared layer, channels-first data.
LayersGraph translate_layers(const nlohmann::json& model_json);

/// The Keras layer classes foil runs, sorted.
std::vector<std::string> supported_layers();

}  // namespace foil::graph
