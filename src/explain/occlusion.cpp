// Occlusion (Zeiler & Fergus 2014): a black window slides over the image; each pixel's
// attribution is the mean drop of the class logit (Captum's convention; the paper shows the
// probability) over the windows that cover it, negative drops clipped to 0.
#include <torch/torch.h>

#include "foil/core/error.h"
#include "foil/models/model.h"
#include "methods.h"

namespace foil::detail {
namespace {

/// Window corners along one axis: every `stride`, and the last flush with the border.
std::vector<int64_t> corners(int64_t len, int64_t window, int64_t stride) {
  std::vector<int64_t> out;
  for (int64_t p = 0; p + window <= len; p += stride) out.push_back(p);
  if (out.empty() || out.back() + window < len) out.push_back(len - window);
  return out;
}

/// The window side and stride `o` gives for an h x w image.
std::pair<int64_t, int64_t> window_of(int64_t h, int64_t w, const ExplainOptions& o) {
  const int64_t win = o.window > 0 ? o.window : std::max<int64_t>(2, std::min(h, w) / 7);
  check_input(win <= std::min(h, w), "--window",
              "a window no larger than the image (" + std::to_string(std::min(h, w)) + " px)",
              std::to_string(win));
  const int64_t stride = o.stride > 0 ? o.stride : std::max<int64_t>(1, win / 2);
  // Pixels between windows would have no drop to average (0/0): refused, as Captum does.
  check_input(stride <= win, "--stride",
              "a stride no larger than the window (" + std::to_string(win) + " px)",
              std::to_string(stride));
  return {win, stride};
}

}  // namespace

torch::Tensor occlusion(Model& model, const torch::Tensor& x, const torch::Tensor& cls,
                        const ExplainOptions& o) {
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const auto [win, stride] = window_of(h, w, o);
  // P window masks, 1 where the window blacks out the image.
  std::vector<torch::Tensor> windows;
  for (int64_t r : corners(h, win, stride))
    for (int64_t c : corners(w, win, stride)) {
      torch::Tensor m = torch::zeros({1, h, w}, x.options());
      m.slice(1, r, r + win).slice(2, c, c + win).fill_(1);
      windows.push_back(m);
    }
  const torch::Tensor masks = torch::stack(windows);  // P×1×H×W
  const int64_t p = masks.size(0);
  const torch::Tensor clean = model.forward(x).gather(1, cls);  // N×1
  std::vector<torch::Tensor> drops;
  for (int64_t b = 0; b < n * p; b += o.batch) {
    const int64_t e = std::min(n * p, b + o.batch);
    const torch::Tensor idx = torch::arange(b, e, torch::kLong).to(x.device());
    const torch::Tensor items = idx.div(p, "floor");
    const torch::Tensor occluded =
        x.index_select(0, items) * (1 - masks.index_select(0, idx.remainder(p)));
    drops.push_back(clean.index_select(0, items).squeeze(1) -
                    model.forward(occluded).gather(1, cls.index_select(0, items)).squeeze(1));
  }
  const torch::Tensor flat = masks.view({p, h * w});
  const torch::Tensor cover = flat.sum(0);  // > 0 everywhere: the last corners are flush
  return torch::relu(torch::cat(drops).view({n, p}).matmul(flat) / cover).view({n, h, w});
}

}  // namespace foil::detail

namespace foil {

int64_t occlusion_windows(int64_t h, int64_t w, const ExplainOptions& o) {
  const auto [win, stride] = detail::window_of(h, w, o);
  return static_cast<int64_t>(detail::corners(h, win, stride).size() *
                              detail::corners(w, win, stride).size());
}

}  // namespace foil
