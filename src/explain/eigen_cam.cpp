// Eigen-CAM (Muhammad & Yeasin 2020): the activations projected on their first principal
// direction. As the paper, the activations are not centred; the direction's sign (free in
// an SVD) is chosen so the projection sums to a positive value. Class-agnostic.
#include <torch/torch.h>

#include "methods.h"

namespace foil::detail {

torch::Tensor eigen_cam(const torch::Tensor& a) {
  const int64_t n = a.size(0), k = a.size(1), h = a.size(2), w = a.size(3);
  const torch::Tensor m = a.detach().reshape({n, k, h * w}).transpose(1, 2).to(torch::kDouble);
  const auto [u, s, vh] = torch::linalg_svd(m, /*full_matrices=*/false);
  torch::Tensor proj = m.matmul(vh.select(1, 0).unsqueeze(2)).squeeze(2);  // N×hw
  proj = proj * (1 - 2 * proj.sum(1, true).lt(0).to(proj.scalar_type()));
  return torch::relu(proj).view({n, h, w}).to(a.scalar_type());
}

}  // namespace foil::detail
