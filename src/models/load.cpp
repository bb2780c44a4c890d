#include <torch/torch.h>

#include <filesystem>

#include "foil/core/error.h"
#include "foil/models/model.h"
#include "foil/models/tfjs.h"
#include "foil/models/torchscript.h"
#include "foil/models/zoo.h"

namespace foil {

std::shared_ptr<Model> load_model(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError("--model " + path +
                     ": file not found (expected a foil model file, a TorchScript .pt or a "
                     "model.json)");
  if (std::filesystem::path(path).extension() == ".json") return std::make_shared<TfjsModel>(path);
  if (auto zoo = try_load_zoo_model(path)) return zoo;
  return std::make_shared<TorchScriptModel>(path);
}

}  // namespace foil
