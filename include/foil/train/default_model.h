#pragma once
/// @file The built-in default model: the Fashion-MNIST CNN, trained on first use and cached.

#include <memory>
#include <string>

namespace foil {

class ZooModel;

/// Where the default model is cached: $FOIL_HOME/fashion-cnn.foil, else
/// $XDG_CACHE_HOME/foil/..., else ~/.cache/foil/...
std::string default_model_path();

/// Loads the cached default model, training it first (3 epochs of the zoo CNN on the
/// Fashion-MNIST training set, about 2-3 minutes on 2 cores; resumable) when missing.
std::shared_ptr<ZooModel> default_model();

}  // namespace foil
