#pragma once
/// @file
/// The base of every model that wraps others (an access level, a defence, a smoothing, an
/// ensemble): it holds the wrapped models and forwards what a wrapper does not change.
///
/// Example:
///   class Flipped : public foil::ModelWrapper {  // info, layers and to() come from the base
///    public:
///     explicit Flipped(std::shared_ptr<foil::Model> m) : ModelWrapper(std::move(m)) {}
///
///    protected:
///     foil::TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& t) override {
///       return inner().forward(x.flip(3), t);
///     }
///   };

#include <torch/types.h>

#include <memory>
#include <string>
#include <vector>

#include "foil/models/model.h"

namespace foil {

/// A model in front of one or more others. It takes pixels in [0,1] and hands them on: the
/// wrapped models keep their normalisation, so its `info()` is the first wrapped model's with
/// mean and std cleared (a subclass may rename it), and it starts on that model's device. By
/// default it forwards `layer_names()` (the wrapped model's layers when there is one, none
/// for several), `to()` (every wrapped model moves) and `run()` (forward and taps, to the one
/// wrapped model). Layer edits (`run_scaled`) are not forwarded: they would bypass whatever a
/// subclass's `run` does, so a wrapper refuses them as `Model` does.
class ModelWrapper : public Model {
 public:
  /// The (first) wrapped model.
  Model& inner() { return *wrapped_.front(); }
  /// The (first) wrapped model.
  const Model& inner() const { return *wrapped_.front(); }
  /// Every wrapped model, in order (one for most wrappers).
  const std::vector<std::shared_ptr<Model>>& wrapped() const { return wrapped_; }

  /// The wrapped model's layers when it wraps one; none when it wraps several (no single
  /// layer to read).
  std::vector<std::string> layer_names() const override;
  /// Moves every wrapped model to `device`.
  void to(c10::Device device) override;

 protected:
  /// Wraps `inner`. Throws InputError naming `flag` when there is none.
  explicit ModelWrapper(std::shared_ptr<Model> inner, const std::string& flag = "model");
  /// Wraps `models` (their first gives the info). Throws InputError naming `flag` when there
  /// are none or one is missing.
  ModelWrapper(std::vector<std::shared_ptr<Model>> models, const std::string& flag);

  /// The wrapped model's forward on `x` (pixels: the wrapper normalises nothing), with `taps`.
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  std::vector<std::shared_ptr<Model>> wrapped_;
};

}  // namespace foil
