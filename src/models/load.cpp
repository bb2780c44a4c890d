#include <torch/torch.h>

#include <filesystem>

#include "foil/core/error.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "foil/models/torchscript.h"
#include "foil/models/zoo.h"

namespace foil {

void check_model_file(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  const std::string expected =
      " (expected a foil model file, a TorchScript .pt, a TensorFlow.js model.json or an ONNX "
      ".onnx)";
  if (!fs::exists(status)) throw InputError("--model " + path + ": file not found" + expected);
  if (fs::is_directory(status)) throw InputError("--model " + path + ": is a folder" + expected);
  if (!fs::is_regular_file(status))
    throw InputError("--model " + path + ": not a regular file (a device or a pipe)" + expected);
  if (fs::file_size(path, ec) == 0 || ec)
    throw InputError("--model " + path + ": the file is empty" + expected);
}

std::shared_ptr<Model> load_model(const std::string& path) {
  check_model_file(path);
  const auto ext = std::filesystem::path(path).extension();
  if (ext == ".json" || ext == ".onnx") return std::make_shared<GraphModel>(path);
  if (auto zoo = try_load_zoo_model(path)) return zoo;
  return std::make_shared<TorchScriptModel>(path);
}

}  // namespace foil
