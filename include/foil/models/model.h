#pragma once
/// @file
/// The one interface every attack, patch, explainer and defence talks to.

#include <torch/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "foil/data/dataset.h"

namespace foil {

/// What a model is: where it came from, what it takes and what it returns.
struct ModelInfo {
  std::string name;                      ///< file name or zoo architecture
  std::string backend;                   ///< "zoo", "torchscript", ...
  std::string arch;                      ///< architecture name where known
  ImageShape input;                      ///< expected C×H×W (0 = any)
  int64_t num_classes = 0;               ///< 0 when unknown
  std::vector<double> mean;              ///< per-channel normalisation applied inside the model
  std::vector<double> std;               ///< per-channel std applied inside the model
  std::vector<std::string> class_names;  ///< indexed by class; may be empty
  double test_accuracy = -1;             ///< recorded at training time, -1 when unknown
};

/// Outputs of one forward pass: the model output plus the requested intermediate tensors.
struct TapOutputs {
  torch::Tensor output;                       ///< what forward(x) returns
  std::map<std::string, torch::Tensor> taps;  ///< by layer name
};

/// One layer's output multiplied during a forward pass: what follows reads the product
/// (Ablation-CAM zeroes one channel per image this way).
struct LayerScale {
  std::string layer;    ///< a name from `layer_names()`
  torch::Tensor scale;  ///< broadcast against the layer's tapped output (e.g. N×K×1×1)
};

/// A differentiable image model taking pixels in [0,1] (N×C×H×W). The model owns any
/// normalisation (mean/std), so callers never see normalised tensors. Models are always
/// used in evaluation mode here; training goes through the zoo's trainer.
///
/// Example:
///   auto model = load_model("cnn.foil");
///   auto logits = model->forward(images);
///   auto taps = model->forward(images, {"conv4"}).taps.at("conv4");
class Model {
 public:
  virtual ~Model() = default;

  /// Model output (logits for classifiers) for pixels `x` in [0,1].
  torch::Tensor forward(const torch::Tensor& x);
  /// Output plus the outputs of the named layers; throws InputError for an unknown name
  /// (the message lists the available ones).
  TapOutputs forward(const torch::Tensor& x, const std::vector<std::string>& taps);

  /// As above with `edit.layer`'s output multiplied by `edit.scale` (a tap of that layer returns
  /// the product). Throws InputError for an unknown layer, or a model that cannot edit one.
  TapOutputs forward(const torch::Tensor& x, const std::vector<std::string>& taps,
                     const LayerScale& edit);

  /// Names accepted as taps, in forward order.
  virtual std::vector<std::string> layer_names() const = 0;

  /// What the model is.
  const ModelInfo& info() const { return info_; }
  /// Declares the normalisation the model expects (applied inside forward).
  void set_normalization(std::vector<double> mean, std::vector<double> std);
  /// Moves the parameters to `device`; inputs are moved to it by forward.
  virtual void to(c10::Device device) = 0;
  /// Where its parameters are.
  c10::Device device() const { return device_; }

  /// Throws InputError naming both shapes when `x` cannot be fed to this model.
  void check_input_shape(const torch::Tensor& x) const;

 protected:
  /// The forward pass on normalised input (mean/std applied), with the named taps.
  virtual TapOutputs run(const torch::Tensor& normalized, const std::vector<std::string>& taps) = 0;
  /// `run` with a layer's output multiplied (see `LayerScale`, the scale already on the model's
  /// device). The base class throws InputError: a model that can, overrides it.
  virtual TapOutputs run_scaled(const torch::Tensor& normalized,
                                const std::vector<std::string>& taps, const LayerScale& edit);
  /// Throws InputError for a name `layer_names()` does not hold (listing the names).
  void check_tap_names(const std::vector<std::string>& taps) const;

  ModelInfo info_;                 ///< set by the loader
  c10::Device device_{c10::kCPU};  ///< where the parameters are

 private:
  torch::Tensor normalize(const torch::Tensor& x) const;
  torch::Tensor mean_t_, std_t_;
};

/// Loads a model spec: a file written by `foil train`, a TorchScript file (`*.pt`) or a
/// TensorFlow.js graph model (`model.json`).
/// Throws InputError for a missing file or a file that is not a model.
std::shared_ptr<Model> load_model(const std::string& path);
/// Throws InputError unless `path` is a non-empty regular file (not a folder, pipe or device).
void check_model_file(const std::string& path);

/// Parses "0.5,0.5,0.5" into numbers; throws InputError naming `flag` otherwise.
std::vector<double> parse_number_list(const std::string& text, const std::string& flag);

}  // namespace foil
