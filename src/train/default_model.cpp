#include "foil/train/default_model.h"

#include <fcntl.h>
#include <sys/file.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/models/zoo.h"
#include "foil/train/trainer.h"

namespace foil {
namespace {

/// An exclusive advisory lock on a file (flock), held while alive.
class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
    if (fd_ < 0) throw InputError(path + ": cannot create the lock file of the model cache");
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    std::fprintf(stderr, "foil: waiting for another foil process to finish %s\n", path.c_str());
    while (::flock(fd_, LOCK_EX) != 0) {
    }
  }
  ~FileLock() { ::close(fd_); }  // closing releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace

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

std::shared_ptr<ZooModel> cached_model(
    const std::string& path,
    const std::function<std::shared_ptr<ZooModel>(const std::string& checkpoint)>& train) {
  auto cached = [&]() -> std::shared_ptr<ZooModel> {
    if (!std::filesystem::exists(path)) return nullptr;
    try {
      return try_load_zoo_model(path);
    } catch (const InputError&) {
      return nullptr;  // damaged: made again below
    }
  };
  if (auto m = cached()) return m;
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    throw InputError(path + ": cannot create the model cache folder (" + ec.message() +
                     "; set FOIL_HOME to a writable folder)");
  FileLock lock(path + ".lock");
  if (auto m = cached()) return m;  // another process made it while this one waited
  auto model = train(path + ".ckpt");
  model->mutable_info().name = std::filesystem::path(path).filename().string();
  model->save(path);  // to a temporary name, then renamed
  std::filesystem::remove(path + ".ckpt", ec);
  return model;
}

std::shared_ptr<ZooModel> default_model() {
  return cached_model(default_model_path(), [](const std::string& checkpoint) {
    std::fprintf(stderr, "foil: training the default Fashion-MNIST CNN (first use) -> %s\n",
                 default_model_path().c_str());
    TrainOptions o;
    o.arch("cnn").epochs(3).checkpoint(checkpoint).progress("default cnn");
    return train_model(o, load_data("fashion-mnist:train"), load_data("fashion-mnist:test"));
  });
}

std::shared_ptr<ZooModel> default_zoo_model(const std::string& arch) {
  if (arch == "cnn") return default_model();
  const auto& known = zoo_architectures();
  check_input(std::find(known.begin(), known.end(), arch) != known.end(), "zoo architecture",
              "mlp, cnn, resnet or mobilenet", "'" + arch + "'");
  const std::string path =
      (std::filesystem::path(default_model_path()).parent_path() / ("fashion-" + arch + ".foil"))
          .string();
  return cached_model(path, [&](const std::string& checkpoint) {
    std::fprintf(stderr, "foil: training the zoo %s on Fashion-MNIST (first use) -> %s\n",
                 arch.c_str(), path.c_str());
    TrainOptions o;
    o.arch(arch).epochs(3).checkpoint(checkpoint).progress("zoo " + arch);
    return train_model(o, load_data("fashion-mnist:train"), load_data("fashion-mnist:test"));
  });
}

}  // namespace foil
