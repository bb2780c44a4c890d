// PatchCleanser's mask set, double masking and certificate (Xiang et al. 2022).
#include "foil/certify/patchcleanser.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "foil/core/error.h"

namespace foil {
namespace {

/// Mask positions along one axis of `len` pixels: every `stride` from 0, and the last one flush
/// with the end when the stride does not land there.
std::vector<int64_t> positions(int64_t len, int64_t mask, int64_t stride) {
  std::vector<int64_t> out;
  for (int64_t p = 0; p <= len - mask; p += stride) out.push_back(p);
  if ((len - mask) % stride != 0) out.push_back(len - mask);
  return out;
}

/// The unordered pairs (i <= j) of a set's masks and their combined keep maps (P x 1 x H x W).
struct MaskPairs {
  std::vector<std::pair<int64_t, int64_t>> index;
  torch::Tensor keep;
};

MaskPairs mask_pairs(const PatchMaskSet& set) {
  MaskPairs p;
  const int64_t k = set.size();
  std::vector<int64_t> a, b;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = i; j < k; ++j) {
      p.index.emplace_back(i, j);
      a.push_back(i);
      b.push_back(j);
    }
  p.keep = set.keep.index_select(0, torch::tensor(a)) * set.keep.index_select(0, torch::tensor(b));
  return p;
}

/// The top class of `model` on `count` masked images made by `make(begin, end)`, `batch` at
/// a time.
template <class Make>
torch::Tensor predict_masked(Model& model, int64_t count, int64_t batch, const Make& make) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < count; b += batch)
    parts.push_back(model.forward(make(b, std::min(count, b + batch))).argmax(1).cpu());
  return parts.empty() ? torch::empty({0}, torch::kLong) : torch::cat(parts);
}

/// The one-mask majority: the label with the most votes, the smaller one on a tie.
int64_t majority_of(const std::vector<int64_t>& one) {
  std::map<int64_t, int64_t> votes;
  for (int64_t v : one) ++votes[v];
  int64_t majority = votes.begin()->first;
  for (const auto& [label, count] : votes)
    if (count > votes[majority]) majority = label;
  return majority;
}

}  // namespace

int64_t certified_patch_side(double area, const ImageShape& image) {
  check_input(std::isfinite(area) && area > 0 && area < 1, "--patch",
              "a patch area in (0, 1), a share of the image", fmt::format("{}", area));
  const double pixels = area * static_cast<double>(image.height * image.width);
  const auto side = static_cast<int64_t>(std::ceil(std::sqrt(pixels) - 1e-9));
  check_input(side >= 1 && side <= std::min(image.height, image.width), "--patch",
              fmt::format("an area whose square fits the {}x{} image", image.height, image.width),
              fmt::format("{:g} (a {}-pixel side)", area, side));
  return side;
}

PatchMaskSet patch_mask_set(const ImageShape& image, int64_t patch, int64_t masks_per_axis) {
  check_input(patch >= 1 && patch <= std::min(image.height, image.width), "--patch",
              fmt::format("a patch side in 1..{}", std::min(image.height, image.width)),
              std::to_string(patch));
  check_input(masks_per_axis >= 1 && masks_per_axis <= 64, "--masks", "an integer in 1..64",
              std::to_string(masks_per_axis));
  PatchMaskSet s;
  s.patch = patch;
  s.stride_h = (image.height - patch + 1 + masks_per_axis - 1) / masks_per_axis;
  s.stride_w = (image.width - patch + 1 + masks_per_axis - 1) / masks_per_axis;
  s.mask_h = std::min(patch + s.stride_h - 1, image.height);
  s.mask_w = std::min(patch + s.stride_w - 1, image.width);
  s.rows = positions(image.height, s.mask_h, s.stride_h);
  s.cols = positions(image.width, s.mask_w, s.stride_w);
  s.keep = torch::ones({s.size(), 1, image.height, image.width});
  int64_t k = 0;
  for (int64_t r : s.rows)
    for (int64_t c : s.cols)
      s.keep[k++].slice(1, r, r + s.mask_h).slice(2, c, c + s.mask_w).zero_();
  return s;
}

torch::Tensor mask_fill(const Model& model, int64_t channels) {
  const auto& mean = model.info().mean;
  if (static_cast<int64_t>(mean.size()) == channels)
    return torch::tensor(mean, torch::kFloat).view({1, channels, 1, 1});
  if (mean.size() == 1) return torch::full({1, channels, 1, 1}, mean[0]);
  return torch::zeros({1, channels, 1, 1});
}

torch::Tensor apply_masks(const torch::Tensor& x, const torch::Tensor& keep,
                          const torch::Tensor& fill) {
  const int64_t n = x.size(0), m = keep.size(0);
  const torch::Tensor k = keep.to(x.device()).unsqueeze(0);    // 1 x M x 1 x H x W
  const torch::Tensor f = fill.to(x.device()).unsqueeze(0);    // 1 x 1 x C x 1 x 1
  const torch::Tensor out = x.unsqueeze(1) * k + f * (1 - k);  // N x M x C x H x W
  return out.reshape({n * m, x.size(1), x.size(2), x.size(3)});
}

torch::Tensor two_mask_predictions(Model& model, const torch::Tensor& x, const PatchMaskSet& set,
                                   int64_t batch) {
  check_input(batch >= 1, "--batch", "an integer >= 1", std::to_string(batch));
  const MaskPairs pairs = mask_pairs(set);
  const int64_t n = x.size(0), p = static_cast<int64_t>(pairs.index.size()), k = set.size();
  const torch::Tensor fill = mask_fill(model, x.size(1));
  const torch::Tensor pred = predict_masked(model, n * p, batch, [&](int64_t b, int64_t e) {
    const torch::Tensor flat = torch::arange(b, e);
    const torch::Tensor items = flat.div(p, "floor"), which = flat.remainder(p);
    const torch::Tensor kp = pairs.keep.index_select(0, which).to(x.device());
    return x.index_select(0, items.to(x.device())) * kp + fill.to(x.device()) * (1 - kp);
  });
  torch::Tensor maps = torch::empty({n, k, k}, torch::kLong);
  auto m = maps.accessor<int64_t, 3>();
  auto v = pred.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t q = 0; q < p; ++q) {
      const auto [a, b] = pairs.index[static_cast<size_t>(q)];
      m[i][a][b] = m[i][b][a] = v[i * p + q];
    }
  return maps;
}

int64_t double_masking(const torch::Tensor& map, int* which) {
  const torch::Tensor m = map.to(torch::kLong).cpu().contiguous();
  const int64_t k = m.size(0);
  auto a = m.accessor<int64_t, 2>();
  std::vector<int64_t> one;
  for (int64_t i = 0; i < k; ++i) one.push_back(a[i][i]);
  if (std::all_of(one.begin(), one.end(), [&](int64_t v) { return v == one[0]; })) {
    if (which) *which = 1;
    return one[0];
  }
  const int64_t majority = majority_of(one);
  // Second round, masks in order: a disagreer whose every two-mask prediction agrees wins.
  for (int64_t i = 0; i < k; ++i) {
    const int64_t dis = a[i][i];
    if (dis == majority) continue;
    bool all = true;
    for (int64_t j = 0; j < k && all; ++j) all = a[i][j] == dis;
    if (all) {
      if (which) *which = 2;
      return dis;
    }
  }
  if (which) *which = 3;
  return majority;
}

bool two_mask_certified(const torch::Tensor& map, int64_t label) {
  return map.eq(label).all().item<bool>();
}

PatchCleanserModel::PatchCleanserModel(std::shared_ptr<Model> base, PatchMaskSet set, int64_t batch)
    : ModelWrapper(std::move(base)), set_(std::move(set)), batch_(batch) {
  info_.name = fmt::format("PatchCleanser({}, {}-px patch)", inner().info().name, set_.patch);
}

TapOutputs PatchCleanserModel::run(const torch::Tensor& x, const std::vector<std::string>&) {
  const torch::Tensor images = x.detach();
  const int64_t n = images.size(0), k = set_.size();
  const torch::Tensor fill = mask_fill(inner(), images.size(1));
  // First round for every image: N x K one-mask predictions.
  const torch::Tensor one =
      predict_masked(inner(), n * k, batch_, [&](int64_t b, int64_t e) {
        const torch::Tensor flat = torch::arange(b, e);
        const torch::Tensor kp = set_.keep.index_select(0, flat.remainder(k)).to(images.device());
        return images.index_select(0, flat.div(k, "floor").to(images.device())) * kp +
               fill.to(images.device()) * (1 - kp);
      }).view({n, k});
  std::vector<int64_t> decided(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    // As double_masking, with the second round computed only for the disagreeing masks.
    const torch::Tensor row = one[i].contiguous();
    const std::vector<int64_t> votes(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + k);
    int64_t pred = majority_of(votes);
    if (std::all_of(votes.begin(), votes.end(), [&](int64_t v) { return v == pred; })) {
      decided[static_cast<size_t>(i)] = pred;
      continue;
    }
    const int64_t majority = pred;
    for (int64_t a = 0; a < k; ++a) {
      const int64_t dis = votes[static_cast<size_t>(a)];
      if (dis == majority) continue;
      const torch::Tensor kp = set_.keep[a].unsqueeze(0) * set_.keep;  // K x 1 x H x W
      const torch::Tensor second = predict_masked(inner(), k, batch_, [&](int64_t b, int64_t e) {
        return apply_masks(images.slice(0, i, i + 1), kp.slice(0, b, e), fill);
      });
      if (second.eq(dis).all().item<bool>()) {
        pred = dis;
        break;
      }
    }
    decided[static_cast<size_t>(i)] = pred;
  }
  const int64_t classes = info_.num_classes > 0 ? info_.num_classes : one.max().item<int64_t>() + 1;
  return {torch::one_hot(torch::tensor(decided), classes).to(torch::kFloat).to(x.device()), {}};
}

RandomMaskModel::RandomMaskModel(std::shared_ptr<Model> base, PatchMaskSet set)
    : ModelWrapper(std::move(base)), set_(std::move(set)) {
  info_.name = fmt::format("{} through random PatchCleanser mask pairs", inner().info().name);
}

TapOutputs RandomMaskModel::run(const torch::Tensor& x, const std::vector<std::string>&) {
  const int64_t n = x.size(0), k = set_.size();
  const torch::Tensor a = torch::randint(k, {n}, torch::kLong),
                      b = torch::randint(k, {n}, torch::kLong);
  const torch::Tensor kp =
      (set_.keep.index_select(0, a) * set_.keep.index_select(0, b)).to(x.device());
  const torch::Tensor fill = mask_fill(inner(), x.size(1)).to(x.device());
  return {inner().forward(x * kp + fill * (1 - kp)), {}};
}

}  // namespace foil
