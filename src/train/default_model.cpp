#include "foil/train/default_model.h"

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "foil/models/zoo.h"
#include "foil/train/trainer.h"

namespace foil {

std::string default_model_path() {
  std::filesystem::path dir;
  if (const char* home = std::getenv("FOIL_HOME")) {
    dir = home;
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME")) {
    dir = std::filesystem::path(xdg) / "foil";
  } else {
    const char* h = std::getenv("HOME");
    dir = std::filesystem::path(h ? h : ".") / ".cache" / "foil";
  }
  return (dir / "fashion-cnn.foil").string();
}

std::shared_ptr<ZooModel> default_model() {
  const std::string path = default_model_path();
  if (std::filesystem::exists(path)) {
    if (auto m = try_load_zoo_model(path)) return m;
  }
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::fprintf(stderr, "foil: training the default Fashion-MNIST CNN (first use) -> %s\n",
               path.c_str());
  TrainOptions o;
  o.arch("cnn").epochs(3).checkpoint(path + ".ckpt").progress("default cnn");
  auto model = train_model(o, load_data("fashion-mnist:train"), load_data("fashion-mnist:test"));
  model->mutable_info().name = "fashion-cnn.foil";
  model->save(path);
  std::filesystem::remove(path + ".ckpt");
  return model;
}

}  // namespace foil
