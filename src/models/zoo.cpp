#include "foil/models/zoo.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/core/files.h"

namespace nn = torch::nn;

namespace foil {
namespace {

nn::Sequential conv_bn_relu(int64_t in, int64_t out, int64_t stride = 1) {
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false)),
      nn::BatchNorm2d(out), nn::ReLU());
}

/// He et al. 2016 basic block: two 3x3 convs and an identity (or 1x1 projection) shortcut.
class BasicBlockImpl : public nn::Module {
 public:
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride) {
    conv1 = register_module("conv1", conv_bn_relu(in, out, stride));
    conv2 =
        register_module("conv2", nn::Conv2d(nn::Conv2dOptions(out, out, 3).padding(1).bias(false)));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out)
      shortcut = register_module(
          "shortcut",
          nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)),
                         nn::BatchNorm2d(out)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = bn2(conv2(conv1->forward(x)));
    return torch::relu(y + (shortcut ? shortcut->forward(x) : x));
  }
  nn::Sequential conv1{nullptr}, shortcut{nullptr};
  nn::Conv2d conv2{nullptr};
  nn::BatchNorm2d bn2{nullptr};
};
TORCH_MODULE(BasicBlock);

/// Howard et al. 2017 depthwise-separable block: 3x3 depthwise, then 1x1 pointwise.
nn::Sequential dw_separable(int64_t in, int64_t out, int64_t stride) {
  return nn::Sequential(
      nn::Conv2d(nn::Conv2dOptions(in, in, 3).stride(stride).padding(1).groups(in).bias(false)),
      nn::BatchNorm2d(in), nn::ReLU6(), nn::Conv2d(nn::Conv2dOptions(in, out, 1).bias(false)),
      nn::BatchNorm2d(out), nn::ReLU6());
}

nn::Sequential pool_flatten() { return nn::Sequential(nn::AdaptiveAvgPool2d(1), nn::Flatten()); }

}  // namespace

const std::vector<std::string>& zoo_architectures() {
  static const std::vector<std::string> names = {"mlp", "cnn", "resnet", "mobilenet"};
  return names;
}

void ZooNetImpl::add(const std::string& name, nn::Sequential stage) {
  register_module(name, stage);
  names_.push_back(name);
  stages_.push_back(std::move(stage));
}

ZooNetImpl::ZooNetImpl(const std::string& arch, ImageShape in, int64_t k) {
  check_input(in.channels > 0 && in.height >= 8 && in.width >= 8, "architecture " + arch,
              "an input of at least 1x8x8", in.str());
  const int64_t c = in.channels;
  if (arch == "mlp") {
    add("flatten", nn::Sequential(nn::Flatten()));
    add("fc1", nn::Sequential(nn::Linear(c * in.height * in.width, 512), nn::ReLU()));
    add("fc2", nn::Sequential(nn::Linear(512, 256), nn::ReLU()));
    add("logits", nn::Sequential(nn::Linear(256, k)));
  } else if (arch == "cnn") {
    add("conv1", conv_bn_relu(c, 32));
    add("pool1", nn::Sequential(nn::MaxPool2d(2)));
    add("conv2", conv_bn_relu(32, 64));
    add("pool2", nn::Sequential(nn::MaxPool2d(2)));
    add("flatten", nn::Sequential(nn::Flatten()));
    add("fc1", nn::Sequential(nn::Linear(64 * (in.height / 4) * (in.width / 4), 128), nn::ReLU(),
                              nn::Dropout(0.25)));
    add("logits", nn::Sequential(nn::Linear(128, k)));
  } else if (arch == "resnet") {
    add("stem", conv_bn_relu(c, 32));
    add("layer1", nn::Sequential(BasicBlock(32, 32, 1)));
    add("layer2", nn::Sequential(BasicBlock(32, 64, 2)));
    add("layer3", nn::Sequential(BasicBlock(64, 128, 2)));
    add("pool", pool_flatten());
    add("logits", nn::Sequential(nn::Linear(128, k)));
  } else if (arch == "mobilenet") {
    add("stem", conv_bn_relu(c, 32));
    add("block1", dw_separable(32, 64, 1));
    add("block2", dw_separable(64, 128, 2));
    add("block3", dw_separable(128, 128, 1));
    add("block4", dw_separable(128, 256, 2));
    add("pool", pool_flatten());
    add("logits", nn::Sequential(nn::Linear(256, k)));
  } else if (arch == "posenet") {
    // Heatmap keypoint model: k heatmaps at a quarter of the input resolution.
    add("stem", conv_bn_relu(c, 32, 2));
    add("block1", conv_bn_relu(32, 32));
    add("down", conv_bn_relu(32, 64, 2));
    add("block2", conv_bn_relu(64, 64));
    add("context",
        nn::Sequential(nn::Conv2d(nn::Conv2dOptions(64, 64, 3).padding(2).dilation(2).bias(false)),
                       nn::BatchNorm2d(64), nn::ReLU()));
    add("heatmaps", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(64, k, 1))));
  } else {
    throw InputError(fmt::format("--arch: expected one of {}, got '{}'",
                                 fmt::join(zoo_architectures(), ", "), arch));
  }
}

torch::Tensor ZooNetImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x;
  for (auto& s : stages_) y = s->forward(y);
  return y;
}

TapOutputs ZooNetImpl::forward_taps(const torch::Tensor& x, const std::vector<std::string>& taps,
                                    const LayerScale* edit) {
  TapOutputs out;
  torch::Tensor y = x;
  for (size_t i = 0; i < stages_.size(); ++i) {
    y = stages_[i]->forward(y);
    if (edit && edit->layer == names_[i]) y = y * edit->scale;
    if (std::find(taps.begin(), taps.end(), names_[i]) != taps.end()) out.taps[names_[i]] = y;
  }
  out.output = y;
  return out;
}

ZooModel::ZooModel(ZooNet net, ModelInfo info) : net_(std::move(net)) {
  info_ = std::move(info);
  info_.backend = "zoo";
  net_->eval();
  std::vector<double> mean = info_.mean, std = info_.std;
  set_normalization(mean, std);
}

std::vector<std::string> ZooModel::layer_names() const { return net_->stage_names(); }

void ZooModel::to(c10::Device device) {
  net_->to(device);
  device_ = device;
  set_normalization(info_.mean, info_.std);
}

TapOutputs ZooModel::run(const torch::Tensor& x, const std::vector<std::string>& taps) {
  return net_->forward_taps(x, taps);
}

TapOutputs ZooModel::run_scaled(const torch::Tensor& x, const std::vector<std::string>& taps,
                                const LayerScale& edit) {
  return net_->forward_taps(x, taps, &edit);
}

void ZooModel::save(const std::string& path) const {
  nlohmann::json meta = {{"format", "foil-zoo-1"},
                         {"arch", info_.arch},
                         {"input", {info_.input.channels, info_.input.height, info_.input.width}},
                         {"num_classes", info_.num_classes},
                         {"mean", info_.mean},
                         {"std", info_.std},
                         {"class_names", info_.class_names},
                         {"test_accuracy", info_.test_accuracy}};
  torch::serialize::OutputArchive archive;
  archive.write("foil_meta", c10::IValue(meta.dump()));
  torch::serialize::OutputArchive weights;
  net_->save(weights);
  archive.write("net", weights);
  // Write to a temporary name first so an interrupted save never leaves a half file.
  const std::string tmp = fmt::format("{}.tmp{}", path, ::getpid());
  try {
    archive.save_to(tmp);
  } catch (const c10::Error& e) {
    throw InputError(path + ": cannot write model file");
  }
  replace_with(tmp, path);
}

std::shared_ptr<ZooModel> try_load_zoo_model(const std::string& path) {
  check_model_file(path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, c10::Device(c10::kCPU));  // a model trained on a GPU loads anywhere
  } catch (const c10::Error&) {
    throw InputError(
        "--model " + path +
        ": not a model (expected a foil model file, a TorchScript .pt or a model.json)");
  }
  c10::IValue meta_value;
  if (!archive.try_read("foil_meta", meta_value)) return nullptr;
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_value.toStringRef());
    ModelInfo info;
    info.arch = meta.at("arch").get<std::string>();
    auto in = meta.at("input").get<std::vector<int64_t>>();
    info.input = {in.at(0), in.at(1), in.at(2)};
    info.num_classes = meta.at("num_classes").get<int64_t>();
    info.mean = meta.at("mean").get<std::vector<double>>();
    info.std = meta.at("std").get<std::vector<double>>();
    info.class_names = meta.at("class_names").get<std::vector<std::string>>();
    info.test_accuracy = meta.at("test_accuracy").get<double>();
    info.name = std::filesystem::path(path).filename().string();
    const bool sane = in.size() == 3 && in[0] >= 1 && in[0] <= 4 && in[1] >= 1 && in[1] <= 4096 &&
                      in[2] >= 1 && in[2] <= 4096 && info.num_classes >= 2 &&
                      info.num_classes <= 100000 && info.std.size() == info.mean.size() &&
                      (info.mean.size() <= 1 || info.mean.size() == static_cast<size_t>(in[0]));
    if (!sane)
      throw InputError(fmt::format(
          "--model {}: corrupt foil model file (input {}, {} classes, {} means, {} stds)", path,
          fmt::join(in, "x"), info.num_classes, info.mean.size(), info.std.size()));
    ZooNet net(info.arch, info.input, info.num_classes);
    torch::serialize::InputArchive weights;
    archive.read("net", weights);
    net->load(weights);
    for (const auto& p : net->parameters())
      if (!torch::isfinite(p).all().item<bool>())
        throw InputError("--model " + path +
                         ": the weights hold NaN or infinite values (a diverged training run); "
                         "retrain it");
    auto model = std::make_shared<ZooModel>(net, info);
    torch::NoGradGuard no_grad;
    model->forward(torch::zeros({1, in[0], in[1], in[2]}));  // the recorded shape must fit
    return model;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError("--model " + path + ": corrupt foil model file (" + first_line(e.what()) +
                     ")");
  }
}

}  // namespace foil
