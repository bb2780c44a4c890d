#pragma once
/// @file
/// The built-in default model: the Fashion-MNIST CNN, trained on first use and cached.

#include <functional>
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

/// The zoo architecture `arch` (mlp, cnn, resnet, mobilenet) trained on Fashion-MNIST the way
/// the default model is (3 epochs), cached beside it as fashion-ARCH.foil (cnn: the default
/// model itself): the transfer attacker's surrogates and `foil transfer`'s built-in models.
std::shared_ptr<ZooModel> default_zoo_model(const std::string& arch);

/// The model cached at `path`, made by `train(checkpoint)` when the file is missing or
/// unreadable. Processes that need it at the same time take turns on "<path>.lock": one
/// trains (checkpointing to the path it is given), the others wait and load its result. The
/// file appears by one rename, so a reader never sees half a model.
std::shared_ptr<ZooModel> cached_model(
    const std::string& path,
    const std::function<std::shared_ptr<ZooModel>(const std::string& checkpoint)>& train);

}  // namespace foil
