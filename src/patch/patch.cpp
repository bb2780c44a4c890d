#include "foil/patch/patch.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "foil/core/error.h"
#include "foil/corrupt/corruptions.h"

namespace foil {
namespace F = torch::nn::functional;

namespace {

int64_t patch_side(const PatchOptions& o, const ImageShape& image) {
  check_input(o.area() > 0 && o.area() <= 0.5, "--area", "a fraction in (0, 0.5]",
              fmt::format("{}", o.area()));
  check_input(o.param() == "grid" || o.param() == "free", "--param", "grid or free",
              "'" + o.param() + "'");
  check_input(o.shape() == "square" || o.shape() == "circle", "--shape", "square or circle",
              "'" + o.shape() + "'");
  check_input(image.channels > 0 && image.height > 0 && image.width > 0, "patch",
              "a model or data with a known image size", image.str());
  const double raw = std::sqrt(o.area() * static_cast<double>(image.height * image.width));
  int64_t side = static_cast<int64_t>(std::llround(raw));
  check_input(side >= 2, "--area", "a patch of at least 2x2 pixels",
              fmt::format("{} pixel(s) per side", side));
  if (o.param() == "grid") {
    check_input(o.cells() >= 1 && o.cells() <= side, "--cells",
                fmt::format("1..{} (the patch is {} pixels wide)", side, side),
                std::to_string(o.cells()));
    // Equal cells: the side is the multiple of the cell count nearest the requested area
    // that still fits the image.
    const int64_t g = o.cells(), fit = std::min(image.height, image.width) / g;
    side = g * std::max<int64_t>(1, std::min(fit, static_cast<int64_t>(std::llround(raw / g))));
  }
  return side;
}

/// Focal length, in patch half-widths, of the camera that sees a tilted patch.
constexpr double kTiltFocal = 3.0;

/// Perspective tilt of the patch plane: `grid` (N×H×W×2) holds, per image pixel, the point of
/// the untilted patch plane it sees (patch coordinates in [-1, 1]); returns the point of the
/// plane turned by Ry(tilt_y)·Rx(tilt_x) about the patch centre, with the camera kTiltFocal
/// half-widths in front of it. The ray through (u, v, f) meets the plane n·(P - c) = 0 at
/// t = n·c / n·(u, v, f); the sampled point is (r1·P, r2·P) with P = t(u, v, f) - c.
torch::Tensor tilt_grid(const torch::Tensor& grid, const std::vector<Placement>& placements) {
  bool any = false;
  for (const auto& p : placements) any |= p.tilt_x_deg != 0 || p.tilt_y_deg != 0;
  if (!any) return grid;
  const double f = kTiltFocal;
  std::vector<float> coef;  // per image: n (3), r1 (3), r2 (3)
  for (const auto& p : placements) {
    const double a = p.tilt_x_deg * M_PI / 180, b = p.tilt_y_deg * M_PI / 180;
    const double ca = std::cos(a), sa = std::sin(a), cb = std::cos(b), sb = std::sin(b);
    // R = Ry(b) Rx(a); columns r1, r2, r3 = n.
    const double r[3][3] = {{cb, sb * sa, sb * ca}, {0, ca, -sa}, {-sb, cb * sa, cb * ca}};
    for (int col : {2, 0, 1})
      for (int row = 0; row < 3; ++row) coef.push_back(static_cast<float>(r[row][col]));
  }
  const int64_t n = grid.size(0);
  const torch::Tensor k = torch::tensor(coef, grid.options()).view({n, 9, 1, 1});
  auto c = [&](int i) { return k.select(1, i); };
  const torch::Tensor u = grid.select(3, 0), v = grid.select(3, 1);
  const torch::Tensor depth = c(0) * u + c(1) * v + c(2) * f;
  const torch::Tensor t = c(2) * f / depth;
  const torch::Tensor px = t * u, py = t * v, pz = t * f - f;
  const torch::Tensor gx = c(3) * px + c(4) * py + c(5) * pz;
  const torch::Tensor gy = c(6) * px + c(7) * py + c(8) * pz;
  // Far from a small patch the depth crosses zero: those pixels see no plane in front of the
  // camera, and the division gave inf/NaN there (NaN pixels in the pasted image, and a crash in
  // LibTorch 1.13's grid-sampler backward). They, and every point beyond the patch, map to a
  // point well outside it (|g| <= 2 samples exactly what the unbounded grid sampled: nothing,
  // or the border colour under a zero mask).
  const torch::Tensor seen = (depth > 1e-3).unsqueeze(3);
  return torch::where(seen, torch::stack({gx, gy}, 3).clamp(-2, 2),
                      torch::full({}, 2.0, grid.options()));
}

}  // namespace

Patch Patch::create(const PatchOptions& o, const ImageShape& image, uint64_t seed) {
  Patch p;
  p.options_ = o;
  p.side_ = patch_side(o, image);
  const int64_t g = o.param() == "grid" ? o.cells() : p.side_;
  check_input(o.init() == "grey" || o.init() == "random", "--init", "grey or random",
              "'" + o.init() + "'");
  if (o.init() == "grey") {
    p.params_ = torch::full({image.channels, g, g}, 0.5);
  } else {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    p.params_ = torch::rand({image.channels, g, g}, gen);
  }
  return p;
}

Patch Patch::from_params(torch::Tensor params, const PatchOptions& o, const ImageShape& image) {
  Patch p;
  p.options_ = o;
  p.side_ = patch_side(o, image);
  const int64_t g = o.param() == "grid" ? o.cells() : p.side_;
  const bool ok = params.dim() == 3 && params.size(0) == image.channels && params.size(1) == g &&
                  params.size(2) == g;
  check_input(ok, "--patch", fmt::format("a patch tensor of shape {}x{}x{}", image.channels, g, g),
              fmt::format("shape {}", fmt::join(params.sizes(), "x")));
  p.params_ = params.to(torch::kFloat32).clamp(0, 1);
  return p;
}

torch::Tensor Patch::render() const {
  if (options_.param() == "free") return params_;
  // Each cell is one colour repeated over its k×k pixels. The value is params_; the gradient
  // a cell receives is the mean of its pixels' gradients (the source's per-cell average), not
  // their sum, so step sizes mean the same for any cell size.
  const int64_t k = side_ / params_.size(1);
  const torch::Tensor scaled = params_ / static_cast<double>(k * k);
  const torch::Tensor p = params_.detach() + (scaled - scaled.detach());  // exactly params_
  // Cell (i, j) to pixels (i*k..i*k+k-1, j*k..j*k+k-1) by broadcasting: repeat_interleave
  // reads its repeat count back from a tensor (two waits for a GPU per call, seen with
  // `foil bench --profile`); this has none.
  const int64_t c = params_.size(0), g = params_.size(1);
  return p.view({c, g, 1, g, 1}).expand({c, g, k, g, k}).reshape({c, g * k, g * k});
}

torch::Tensor Patch::mask() const {
  auto opts = params_.options().requires_grad(false);
  if (options_.shape() == "square") return torch::ones({side_, side_}, opts);
  auto r = torch::arange(side_, opts).add(0.5).sub(side_ / 2.0);
  auto d = r.view({-1, 1}).pow(2) + r.view({1, -1}).pow(2);
  return d.le(side_ * side_ / 4.0).to(opts.dtype());
}

void check_placement_options(const PlacementOptions& o) {
  check_input(o.keep_out() >= 0 && o.keep_out() < 1, "--keep-out", "a fraction in [0, 1)",
              fmt::format("{}", o.keep_out()));
  check_input(o.on_object() < 0 || o.on_object() <= 1, "--on-object", "a fraction in [0, 1]",
              fmt::format("{}", o.on_object()));
  check_input(o.on_object() < 0 || o.keep_out() == 0, "--on-object",
              "no --keep-out (the patch goes on the object, not around it)",
              fmt::format("--keep-out {}", o.keep_out()));
  check_input(o.objects() >= 1 && o.objects() <= 1000, "--objects", "an integer in 1..1000",
              std::to_string(o.objects()));
  check_input(o.objects() == 1 || o.on_object() >= 0, "--objects",
              "--on-object (the patches go on detected objects)", "no --on-object");
  for (const auto& c : o.eot_corruptions()) {
    try {
      corruption_info(c);
    } catch (const InputError& e) {
      throw InputError(std::string("--eot-corruptions: ") + e.what());
    }
  }
  if (!o.eot()) return;
  check_input(o.scale_min() > 0 && o.scale_min() <= o.scale_max(), "--scale", "0 < min <= max",
              fmt::format("{}..{}", o.scale_min(), o.scale_max()));
  check_input(o.tilt() >= 0 && o.tilt() < 60, "--tilt", "degrees in [0, 60)",
              fmt::format("{}", o.tilt()));
}

std::vector<Placement> sample_placements(const Patch& patch, int64_t n, const ImageShape& image,
                                         const PlacementOptions& o, at::Generator& gen,
                                         const std::vector<ObjectBox>& objects) {
  check_placement_options(o);
  check_input(objects.empty() || static_cast<int64_t>(objects.size()) == n, "object boxes",
              std::to_string(n) + " (one per image)", std::to_string(objects.size()));
  const int64_t h = image.height, w = image.width;
  // The box the patch may occupy: its largest scaled, rotated and tilted extent (the near
  // edge of a tilted patch grows by at most 1 / (1 - sin(tilt) / kTiltFocal)).
  const double rot = std::min(45.0, std::abs(o.rotation())) * M_PI / 180.0;
  const double tilt_growth = 1.0 / (1.0 - std::sin(o.tilt() * M_PI / 180.0) / kTiltFocal);
  const double extent = o.eot() ? patch.side() * std::sqrt(o.scale_max()) *
                                      (std::cos(rot) + std::sin(rot)) * tilt_growth
                                : static_cast<double>(patch.side());
  const auto box = static_cast<int64_t>(std::ceil(extent - 1e-9));
  check_input(box <= h && box <= w, "patch", fmt::format("a patch that fits the {}x{} image", h, w),
              fmt::format("an extent of {} pixels", box));
  for (const auto& c : o.eot_corruptions()) {
    const std::string unfit = corruption_unfit(c, image.channels);
    check_input(unfit.empty(), "--eot-corruptions", "corruptions these images can take", unfit);
  }
  const double k0 = (1 - o.keep_out()) / 2, k1 = (1 + o.keep_out()) / 2;
  // Raw draws from the CPU generator: a tensor op per number cost ~13 us per EOT placement,
  // a few ms per batch, time a GPU step waits for.
  check_input(gen.device().is_cpu(), "placement generator", "a CPU generator", gen.device().str());
  std::lock_guard<std::mutex> lock(gen.mutex());
  auto* engine = gen.get<at::CPUGeneratorImpl>();
  auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(engine->random64() >> 11) * 0x1.0p-53;
  };
  // Uniform in [0, k): the 53-bit draw scaled (bias below k / 2^53).
  auto below = [&](int64_t k) {
    return std::min<int64_t>(k - 1, static_cast<int64_t>(uniform(0, static_cast<double>(k))));
  };
  std::vector<Placement> out;
  for (int64_t i = 0; i < n; ++i) {
    Placement p;
    bool placed = false;
    if (o.on_object() >= 0 && !objects.empty() && !objects[i].empty()) {
      // The centre drawn in the box's central fraction, the placement box kept in the image.
      const ObjectBox& b = objects[i];
      const double f = o.on_object();
      const double cx = (b.x1 + b.x2) / 2.0 + (uniform(0, 1) - 0.5) * f * (b.x2 - b.x1);
      const double cy = (b.y1 + b.y2) / 2.0 + (uniform(0, 1) - 0.5) * f * (b.y2 - b.y1);
      p.left = std::clamp<int64_t>(std::llround(cx - box / 2.0), 0, w - box);
      p.top = std::clamp<int64_t>(std::llround(cy - box / 2.0), 0, h - box);
      placed = true;
    }
    for (int attempt = 0; attempt < 1000 && !placed; ++attempt) {
      p.top = below(h - box + 1);
      p.left = below(w - box + 1);
      const bool overlaps = o.keep_out() > 0 && p.top < k1 * h && p.top + box > k0 * h &&
                            p.left < k1 * w && p.left + box > k0 * w;
      placed = !overlaps;
    }
    check_input(placed, "--keep-out", "room for the patch outside the central region",
                fmt::format("a {}-pixel patch and keep-out {}", box, o.keep_out()));
    if (o.eot()) {
      p.scale = uniform(o.scale_min(), o.scale_max());
      p.angle_deg = uniform(-o.rotation(), o.rotation());
      p.brightness = uniform(-o.brightness(), o.brightness());
      p.contrast = uniform(o.contrast_min(), o.contrast_max());
      if (o.tilt() > 0) {
        p.tilt_x_deg = uniform(-o.tilt(), o.tilt());
        p.tilt_y_deg = uniform(-o.tilt(), o.tilt());
      }
      p.noise_seed = engine->random64();
    }
    const auto& corruptions = o.eot_corruptions();
    if (!corruptions.empty()) {
      p.corruption = corruptions[below(static_cast<int64_t>(corruptions.size()))];
      p.severity = static_cast<int>(1 + below(5));
      p.corruption_seed = engine->random64();
    }
    // The patch's own box sits centred in the placement box.
    p.top += (box - patch.side()) / 2;
    p.left += (box - patch.side()) / 2;
    out.push_back(p);
  }
  return out;
}

/// apply_patch without the EOT corruptions.
torch::Tensor paste_patch(const torch::Tensor& x, const torch::Tensor& pixels,
                          const torch::Tensor& mask, const std::vector<Placement>& placements,
                          const PlacementOptions& o);

namespace {

/// Each image under its placement's corruption, gradients passed straight through (BPDA).
torch::Tensor corrupt_placed(const torch::Tensor& x, const std::vector<Placement>& placements) {
  bool any = false;
  for (const auto& p : placements) any = any || !p.corruption.empty();
  if (!any) return x;
  std::vector<torch::Tensor> rows;
  const torch::Tensor plain = x.detach();
  for (size_t i = 0; i < placements.size(); ++i) {
    const Placement& p = placements[i];
    const auto k = static_cast<int64_t>(i);
    rows.push_back(p.corruption.empty() ? plain[k]
                                        : corrupt(plain.slice(0, k, k + 1), p.corruption,
                                                  p.severity, p.corruption_seed)[0]);
  }
  return x + (torch::stack(rows) - plain);
}

}  // namespace

torch::Tensor apply_patch(const torch::Tensor& x, const torch::Tensor& pixels,
                          const torch::Tensor& mask, const std::vector<Placement>& placements,
                          const PlacementOptions& o) {
  return corrupt_placed(paste_patch(x, pixels, mask, placements, o), placements);
}

std::vector<std::vector<Placement>> sample_object_placements(
    const Patch& patch, int64_t n, const ImageShape& image, const PlacementOptions& o,
    at::Generator& gen, const std::vector<std::vector<ObjectBox>>& objects) {
  check_input(objects.empty() || static_cast<int64_t>(objects.size()) == n, "object boxes",
              std::to_string(n) + " lists (one per image)", std::to_string(objects.size()));
  std::vector<ObjectBox> first;
  size_t rounds = 1;
  for (const auto& boxes : objects) {
    first.push_back(boxes.empty() ? ObjectBox{} : boxes.front());
    rounds = std::max(rounds, boxes.size());
  }
  std::vector<std::vector<Placement>> out(n);
  for (size_t r = 0; r < rounds; ++r) {
    std::vector<ObjectBox> at = first;
    for (size_t i = 0; r > 0 && i < at.size(); ++i)
      at[i] = r < objects[i].size() ? objects[i][r] : ObjectBox{};
    const auto drawn = sample_placements(patch, n, image, o, gen, at);
    for (int64_t i = 0; i < n; ++i)
      if (r == 0 || !at[i].empty()) out[i].push_back(drawn[i]);
  }
  return out;
}

torch::Tensor apply_patch_each(const torch::Tensor& x, const torch::Tensor& pixels,
                               const torch::Tensor& mask,
                               const std::vector<std::vector<Placement>>& placements,
                               const PlacementOptions& o) {
  check_input(static_cast<int64_t>(placements.size()) == x.size(0), "placements",
              std::to_string(x.size(0)) + " lists (one per image)",
              std::to_string(placements.size()));
  std::vector<Placement> first;
  size_t rounds = 0;
  for (const auto& p : placements) {
    check_input(!p.empty(), "placements", "at least one per image", "an image without one");
    first.push_back(p.front());
    rounds = std::max(rounds, p.size());
  }
  torch::Tensor out = paste_patch(x, pixels, mask, first, o);
  for (size_t r = 1; r < rounds; ++r) {
    std::vector<int64_t> rows;
    std::vector<Placement> at;
    for (size_t i = 0; i < placements.size(); ++i)
      if (r < placements[i].size()) {
        rows.push_back(static_cast<int64_t>(i));
        at.push_back(placements[i][r]);
      }
    const torch::Tensor index = torch::tensor(rows, torch::kLong).to(x.device());
    out = out.index_copy(0, index, paste_patch(out.index_select(0, index), pixels, mask, at, o));
  }
  return corrupt_placed(out, first);
}

torch::Tensor paste_patch(const torch::Tensor& x, const torch::Tensor& pixels,
                          const torch::Tensor& mask, const std::vector<Placement>& placements,
                          const PlacementOptions& o) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3), s = pixels.size(1);
  check_input(static_cast<int64_t>(placements.size()) == n, "placements",
              std::to_string(n) + " (one per image)", std::to_string(placements.size()));
  const torch::Tensor px = pixels.to(x.device()), mk = mask.to(x.device()).unsqueeze(0);
  if (!o.eot()) {
    // Each image's patch square, gathered, blended and put back by one indexed op each (not
    // a padded canvas per image: one kernel per image is what a GPU is slow at).
    std::vector<int64_t> corners;
    for (const auto& p : placements) {
      check_input(p.top >= 0 && p.left >= 0 && p.top + s <= h && p.left + s <= w, "placement",
                  fmt::format("a patch inside the {}x{} image", h, w),
                  fmt::format("one at ({}, {})", p.top, p.left));
      corners.insert(corners.end(), {p.top, p.left});
    }
    const torch::Tensor tl = torch::tensor(corners, torch::kLong).view({n, 2}).to(x.device());
    const torch::Tensor span = torch::arange(s, tl.options());
    const torch::Tensor b = torch::arange(n, tl.options()).view({n, 1, 1});
    const torch::Tensor r = (tl.select(1, 0).view({n, 1}) + span).view({n, s, 1});
    const torch::Tensor c = (tl.select(1, 1).view({n, 1}) + span).view({n, 1, s});
    const torch::Tensor xl = x.permute({0, 2, 3, 1});  // N×H×W×C
    const torch::Tensor ml = mk.permute({1, 2, 0});    // s×s×1
    const torch::Tensor square = xl.index({b, r, c}) * (1 - ml) + px.permute({1, 2, 0}) * ml;
    return xl.index_put({b, r, c}, square).permute({0, 3, 1, 2}).contiguous();
  }
  // EOT: an affine map from image coordinates to patch coordinates per image.
  std::vector<float> theta;
  for (const auto& p : placements) {
    const double side = s * std::sqrt(p.scale), half = side / 2;
    const double cy = p.top + s / 2.0, cx = p.left + s / 2.0;
    const double a = p.angle_deg * M_PI / 180.0, ca = std::cos(a), sa = std::sin(a);
    const double dx0 = w / 2.0 - cx, dy0 = h / 2.0 - cy;
    theta.insert(
        theta.end(),
        {static_cast<float>(ca * w / 2 / half), static_cast<float>(sa * h / 2 / half),
         static_cast<float>((ca * dx0 + sa * dy0) / half), static_cast<float>(-sa * w / 2 / half),
         static_cast<float>(ca * h / 2 / half), static_cast<float>((-sa * dx0 + ca * dy0) / half)});
  }
  const torch::Tensor th = torch::tensor(theta, x.options()).view({n, 2, 3});
  const torch::Tensor grid =
      tilt_grid(F::affine_grid(th, {n, x.size(1), h, w}, /*align_corners=*/false), placements);
  const auto gs = F::GridSampleFuncOptions()
                      .mode(torch::kBilinear)
                      .padding_mode(torch::kZeros)
                      .align_corners(false);
  // The mask carries the patch's edge (its rim blends with the image once); the colours are
  // sampled with the border extended, so the rim is not darkened by the zeros outside too.
  torch::Tensor canvas = F::grid_sample(px.unsqueeze(0).expand({n, -1, -1, -1}), grid,
                                        F::GridSampleFuncOptions(gs).padding_mode(torch::kBorder));
  const torch::Tensor m = F::grid_sample(mk.unsqueeze(0).expand({n, -1, -1, -1}), grid, gs);
  std::vector<float> b, c;
  for (const auto& p : placements) {
    b.push_back(static_cast<float>(p.brightness));
    c.push_back(static_cast<float>(p.contrast));
  }
  canvas = canvas * torch::tensor(c, x.options()).view({n, 1, 1, 1}) +
           torch::tensor(b, x.options()).view({n, 1, 1, 1});
  if (o.noise() > 0) {
    // Each image's noise from its own generator on the image's device (no CPU draw and
    // copy per step); the same on the CPU in any batch, a different stream on a GPU.
    std::vector<torch::Tensor> noise;
    for (const auto& p : placements) {
      at::Generator gen = x.is_cpu() ? at::make_generator<at::CPUGeneratorImpl>(p.noise_seed)
                                     : at::globalContext().defaultGenerator(x.device()).clone();
      gen.set_current_seed(p.noise_seed);
      noise.push_back(torch::randn(canvas.sizes().slice(1), gen, x.options()));
    }
    canvas = canvas + o.noise() * torch::stack(noise);
  }
  return x * (1 - m) + canvas.clamp(0, 1) * m;
}

torch::Tensor total_variation(const torch::Tensor& p) {
  auto dx = (p.slice(2, 1) - p.slice(2, 0, -1)).abs().mean();
  auto dy = (p.slice(1, 1) - p.slice(1, 0, -1)).abs().mean();
  return dx + dy;
}

Patch read_patch(const std::string& path, PatchOptions o, const ImageShape& shape) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError("--patch " + path + ": file not found");
  const auto meta_path = std::filesystem::path(path).replace_extension(".json");
  if (std::filesystem::exists(meta_path)) {
    std::ifstream in(meta_path);
    const auto meta = nlohmann::json::parse(in, nullptr, false);
    check_input(!meta.is_discarded() && meta.is_object(), "--patch " + meta_path.string(),
                "the JSON object 'foil patch train' writes", "something else");
    try {
      o.param(meta.value("param", o.param()));
      o.cells(meta.value("cells", o.cells()));
      o.area(meta.value("area", o.area()));
      o.shape(meta.value("shape", o.shape()));
    } catch (const nlohmann::json::exception& e) {
      throw InputError("--patch " + meta_path.string() + ": " + first_line(e.what()));
    }
  }
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  torch::Tensor t;
  try {
    t = torch::pickle_load(bytes).toTensor();
  } catch (const std::exception&) {
    throw InputError("--patch " + path +
                     ": not a patch tensor (expected patch.pt from 'foil patch train')");
  }
  check_input(t.is_floating_point(), "--patch " + path, "a floating-point patch tensor",
              std::string(c10::toString(t.scalar_type())));
  const bool finite = torch::isfinite(t).all().item<bool>();
  check_input(
      finite && (t.numel() == 0 || (t.min().item<double>() >= 0 && t.max().item<double>() <= 1)),
      "--patch " + path, "colours in [0,1]",
      finite ? "values outside it" : "NaN or infinite values");
  return Patch::from_params(t, o, shape);
}

}  // namespace foil
