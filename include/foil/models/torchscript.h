#pragma once
/// @file
/// TorchScript models (`torch.jit.save` from PyTorch) with taps by submodule name.
///
/// Taps work on scripted modules of any structure, not only sequential ones: the forward
/// graph is copied and inlined, every node's inlined call stack spells the module path it
/// came from (`layer3.1.conv2`), and the output of module M is the tensor produced inside M
/// and used outside it. Those values become extra graph outputs.
///
/// Example:
///   TorchScriptModel m("resnet18.pt");
///   auto out = m.forward(x, {"layer4", "layer3.1.conv2"});

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "foil/models/model.h"

namespace torch::jit {
struct Module;
}

namespace foil {

/// A TorchScript module (`torch.jit.script` / `torch.jit.trace` output) behind foil's Model
/// interface; every submodule is a tap, found in the graph (control flow included).
class TorchScriptModel : public Model {
 public:
  /// Loads the file; throws InputError when it is missing or not TorchScript.
  explicit TorchScriptModel(const std::string& path);
  /// Wraps a module already loaded (Python's `torch.jit.script` output, shared, not copied)
  /// under `name`; throws InputError when it has no forward method.
  TorchScriptModel(const torch::jit::Module& module, const std::string& name);
  ~TorchScriptModel() override;
  /// Submodule paths whose output can be tapped, in forward order.
  std::vector<std::string> layer_names() const override;
  void to(c10::Device device) override;
  /// Sets the input shape the model expects (unknown from the file alone).
  void set_input_shape(const ImageShape& shape) { info_.input = shape; }
  /// Sets the number of classes (read off the first forward pass otherwise).
  void set_num_classes(int64_t k) { info_.num_classes = k; }

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;
  TapOutputs run_scaled(const torch::Tensor& x, const std::vector<std::string>& taps,
                        const LayerScale& edit) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace foil
