// The gradient-weighted CAMs: one forward and one backward to the layer, then a rule that
// combines the activations A and the class score's gradient G.
#include <torch/torch.h>

#include "methods.h"

namespace foil::detail {

torch::Tensor gradient_cam(ExplainMethod method, const torch::Tensor& a, const torch::Tensor& g) {
  torch::Tensor weighted;  // N×K×h×w, summed over K below
  switch (method) {
    case ExplainMethod::kGradCam:  // w_k = mean_ij G_k
      weighted = g.mean({2, 3}, /*keepdim=*/true) * a;
      break;
    case ExplainMethod::kGradCamPlusPlus: {
      // The closed form for an exponential score (the paper's eq. 19, as pytorch-grad-cam):
      // alpha = G² / (2 G² + sum_ij A · G³ + 1e-6), w_k = sum_ij alpha · relu(G); the epsilon
      // is pytorch-grad-cam's.
      const torch::Tensor g2 = g.pow(2), g3 = g2 * g;
      const torch::Tensor sum_a = a.sum({2, 3}, /*keepdim=*/true);
      torch::Tensor alpha = g2 / (2 * g2 + sum_a * g3 + 1e-6);
      alpha = torch::where(g.ne(0), alpha, torch::zeros_like(alpha));
      weighted = (torch::relu(g) * alpha).sum({2, 3}, /*keepdim=*/true) * a;
      break;
    }
    case ExplainMethod::kHiResCam:  // element-wise G ⊙ A
      weighted = g * a;
      break;
    case ExplainMethod::kXGradCam:  // w_k = sum_ij G_k,ij A_k,ij / (sum_ij A_k,ij + 1e-7), as
                                    // pytorch-grad-cam
      weighted = (g * a).sum({2, 3}, true) / (a.sum({2, 3}, true) + 1e-7) * a;
      break;
    default:  // LayerCAM: element-wise relu(G) ⊙ A
      weighted = torch::relu(g) * a;
      break;
  }
  return torch::relu(weighted.sum(1));
}

}  // namespace foil::detail
