#include "foil/models/wrapper.h"

#include <utility>

#include "foil/core/error.h"

namespace foil {

namespace {

std::vector<std::shared_ptr<Model>> checked(std::vector<std::shared_ptr<Model>> models,
                                            const std::string& flag) {
  check_input(!models.empty(), flag, "at least one model", "none");
  for (const auto& m : models) check_input(m != nullptr, flag, "a model", "none");
  return models;
}

}  // namespace

ModelWrapper::ModelWrapper(std::shared_ptr<Model> inner, const std::string& flag)
    : ModelWrapper(std::vector<std::shared_ptr<Model>>{std::move(inner)}, flag) {}

ModelWrapper::ModelWrapper(std::vector<std::shared_ptr<Model>> models, const std::string& flag)
    : wrapped_(checked(std::move(models), flag)) {
  info_ = inner().info();
  // The wrapped models normalise; the wrapper passes pixels through.
  info_.mean.clear();
  info_.std.clear();
  device_ = inner().device();
}

std::vector<std::string> ModelWrapper::layer_names() const {
  if (wrapped_.size() == 1) return inner().layer_names();
  return {};
}

void ModelWrapper::to(c10::Device device) {
  for (auto& m : wrapped_) m->to(device);
  device_ = device;
}

TapOutputs ModelWrapper::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  return inner().forward(x, taps);
}

}  // namespace foil
