#pragma once
/// @file
/// The neutralisation defence of "Spatially Correlated Patterns in Adversarial Images"
/// (Chattopadhyay et al.): at test time, without knowing delta, estimate vulnerability
/// V = |grad_x L(x, y_hat)| and importance I = Grad-CAM(y_hat) (or another map of
/// foil/explain/explain.h), and neutralise (blur, median
/// or mean fill) the pixels in top-q(V) minus top-q(I).
///
/// Example:
///   NeutralizedModel defended(model, NeutralizeOptions().q_vulnerable(10).fill("blur"));
///   auto logits = defended.forward(x);   // any attack or evaluation can use it

#include <torch/arg.h>
#include <torch/types.h>

#include <memory>
#include <string>

#include "foil/core/option_fields.h"
#include "foil/explain/explain.h"
#include "foil/models/model.h"
#include "foil/models/wrapper.h"

namespace foil {

/// The neutralisation defence: replace the pixels an attack would use, spare the ones the
/// model looks at.
struct NeutralizeOptions {
  /// Percent of pixels taken as vulnerable (top of V). 0 disables the defence. Default 10.
  TORCH_ARG(double, q_vulnerable) = 10;
  /// Percent of pixels taken as important (top of Grad-CAM), spared. Default 10.
  TORCH_ARG(double, q_important) = 10;
  /// "blur" (Gaussian 5x5, sigma 1.5), "median" (3x3) or "mean" (per-image channel mean).
  TORCH_ARG(std::string, fill) = "blur";
  /// The importance map (foil/explain/explain.h). Default Grad-CAM, as the paper.
  TORCH_ARG(ExplainMethod, importance) = ExplainMethod::kGradCam;
  /// The importance map's layer (CAMs); empty: the last spatial or token layer.
  TORCH_ARG(std::string, layer) = "";
};

/// The fields of NeutralizeOptions a user sets (foil/core/option_fields.h): `foil defend`'s
/// defence flags.
const std::vector<OptionField<NeutralizeOptions>>& neutralize_option_fields();

/// The mask of pixels the defence replaces (bool N×H×W) for inputs `x`.
torch::Tensor neutralization_mask(Model& model, const torch::Tensor& x,
                                  const NeutralizeOptions& options);

/// The fill values for `x` (N×C×H×W), differentiable for blur and mean.
torch::Tensor neutralization_fill(const torch::Tensor& x, const std::string& fill);

/// The defended input: `x` with the masked pixels replaced by the fill.
torch::Tensor neutralize(Model& model, const torch::Tensor& x, const NeutralizeOptions& options);

/// A model that neutralises its input before the wrapped model sees it. Gradients through it
/// (for adaptive attacks) treat the mask as a constant and pass straight through the median
/// (BPDA, Athalye et al. 2018); blur and mean fills are differentiated exactly.
class NeutralizedModel : public ModelWrapper {
 public:
  /// Wraps `base` (its info and layers are the base's).
  NeutralizedModel(std::shared_ptr<Model> base, NeutralizeOptions options);

 protected:
  TapOutputs run(const torch::Tensor& x, const std::vector<std::string>& taps) override;

 private:
  NeutralizeOptions options_;
};

}  // namespace foil
