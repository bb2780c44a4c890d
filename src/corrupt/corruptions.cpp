// The corruption registry, the lists users name, and corrupt(): each item of a batch as an
// OpenCV image with its own random stream.
#include "foil/corrupt/corruptions.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

#include "foil/core/error.h"
#include "kernels.h"

namespace foil {
namespace {

struct Entry {
  CorruptionInfo info;
  corruption::Fn fn;
};

const std::vector<Entry>& entries() {
  static const std::string kMotion =
      "imagecorruptions' shift-and-add motion blur (the reference calls ImageMagick)";
  static const std::vector<Entry> list = {
      {{"gaussian_noise", "noise", true, ""}, corruption::gaussian_noise},
      {{"shot_noise", "noise", true, ""}, corruption::shot_noise},
      {{"impulse_noise", "noise", true, ""}, corruption::impulse_noise},
      {{"defocus_blur", "blur", true, ""}, corruption::defocus_blur},
      {{"glass_blur", "blur", true,
        "each pixel takes a neighbour's value, as the reference's code runs (its 'swap' of two "
        "numpy views copies one way); the paper says 'locally shuffle'"},
       corruption::glass_blur},
      {{"motion_blur", "blur", true, kMotion}, corruption::motion_blur},
      {{"zoom_blur", "blur", true, ""}, corruption::zoom_blur},
      {{"snow", "weather", true, kMotion}, corruption::snow},
      {{"frost", "weather", true,
        "procedural ice textures (veins of blurred noise over a cloudy plasma fractal) with the "
        "mean colour, spread and texture scale of the reference's five frost photographs, which "
        "foil does not ship"},
       corruption::frost},
      {{"fog", "weather", true, "plasma fractal of the image's size (next power of two)"},
       corruption::fog},
      {{"brightness", "digital", true, ""}, corruption::brightness},
      {{"contrast", "digital", true, ""}, corruption::contrast},
      {{"elastic_transform", "digital", true,
        "OpenCV's remap with reflected borders for scipy's map_coordinates"},
       corruption::elastic_transform},
      {{"pixelate", "digital", true, ""}, corruption::pixelate},
      {{"jpeg_compression", "digital", true, "libjpeg through OpenCV (the reference: PIL)"},
       corruption::jpeg_compression},
      {{"speckle_noise", "noise", false, ""}, corruption::speckle_noise},
      {{"gaussian_blur", "blur", false, ""}, corruption::gaussian_blur},
      {{"spatter", "weather", false, ""}, corruption::spatter},
      {{"saturate", "digital", false, ""}, corruption::saturate},
  };
  return list;
}

const Entry& entry(const std::string& name) {
  for (const auto& e : entries())
    if (e.info.name == name) return e;
  std::string known;
  for (const auto& e : entries()) known += (known.empty() ? "" : ", ") + e.info.name;
  throw InputError(fmt::format("unknown corruption '{}' (known: {})", name, known));
}

/// A 64-bit mix (splitmix64's finaliser).
uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t item_seed(uint64_t seed, const std::string& name, int severity, int64_t index) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a of the name
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ULL;
  return mix(mix(mix(seed) ^ h) ^ (static_cast<uint64_t>(severity) << 56) ^
             static_cast<uint64_t>(index));
}

}  // namespace

const std::vector<CorruptionInfo>& corruption_list() {
  static const std::vector<CorruptionInfo> list = [] {
    std::vector<CorruptionInfo> out;
    for (const auto& e : entries()) out.push_back(e.info);
    return out;
  }();
  return list;
}

const CorruptionInfo& corruption_info(const std::string& name) { return entry(name).info; }

std::vector<std::string> parse_corruptions(const std::string& list, const std::string& flag) {
  std::vector<bool> chosen(entries().size(), false);
  std::stringstream ss(list);
  std::string item;
  bool any = false;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    any = true;
    bool group = false;
    for (size_t i = 0; i < entries().size(); ++i) {
      const CorruptionInfo& c = entries()[i].info;
      const bool in = item == "all" || (item == "benchmark" && c.benchmark) ||
                      (item == "held-out" && !c.benchmark) || item == c.family;
      if (in) chosen[i] = true;
      group =
          group || item == "all" || item == "benchmark" || item == "held-out" || item == c.family;
    }
    if (group) continue;
    try {
      const Entry& e = entry(item);
      chosen[&e - entries().data()] = true;
    } catch (const InputError& e) {
      throw InputError(flag + ": " + e.what() +
                       "; or a group: all, benchmark, held-out, noise, blur, weather, digital");
    }
  }
  check_input(any, flag, "corruption names or groups (e.g. all, noise, fog)", "an empty list");
  std::vector<std::string> out;
  for (size_t i = 0; i < entries().size(); ++i)
    if (chosen[i]) out.push_back(entries()[i].info.name);
  return out;
}

std::vector<int> parse_severities(const std::string& text, const std::string& flag) {
  std::vector<bool> chosen(6, false);
  std::stringstream ss(text);
  std::string item;
  bool any = false;
  const std::string expected = "severities in 1..5: 1-5, 3 or 1,3,5";
  auto level = [&](const std::string& s) {
    check_input(s.size() == 1 && s[0] >= '1' && s[0] <= '5', flag, expected, text);
    return s[0] - '0';
  };
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    const size_t dash = item.find('-');
    const int lo = level(item.substr(0, dash));
    const int hi = dash == std::string::npos ? lo : level(item.substr(dash + 1));
    check_input(lo <= hi, flag, expected, text);
    for (int s = lo; s <= hi; ++s) chosen[s] = any = true;
  }
  check_input(any, flag, expected, text.empty() ? "an empty list" : text);
  std::vector<int> out;
  for (int s = 1; s <= 5; ++s)
    if (chosen[s]) out.push_back(s);
  return out;
}

std::string corruption_table(int64_t height, int64_t width) {
  const int64_t side = std::max(height, width);
  return side < 48 ? "cifar-10-c" : side < 100 ? "tiny-imagenet-c" : "imagenet-c";
}

std::string published_storage(const std::string& table) {
  if (table == "cifar-10-c")
    return "uint8 arrays: each value times 255 truncated (numpy's uint8 cast, not rounded)";
  if (table == "tiny-imagenet-c" || table == "imagenet-c")
    return "JPEG files: each value times 255 truncated to 8 bits (numpy's uint8 cast), then "
           "saved by PIL at quality 85 (4:2:0 chroma)";
  throw InputError(fmt::format(
      "unknown corruption table '{}' (known: cifar-10-c, tiny-imagenet-c, imagenet-c)", table));
}

namespace {

/// `images` (N×C×H×W, C 1 or 3) item by item through `f`, which takes one item as a float
/// H×W×C RGB matrix and gives it back as 8 bits; in [0,1], on the images' device.
template <typename F>
torch::Tensor through_8_bits(const torch::Tensor& images, F f) {
  check_input(images.dim() == 4 && (images.size(1) == 1 || images.size(1) == 3), "images",
              "N×C×H×W with 1 or 3 channels", fmt::format("{}", images.sizes()));
  const torch::Tensor hwc =
      images.detach().to(torch::kCPU, torch::kFloat).permute({0, 2, 3, 1}).contiguous();
  torch::Tensor out = torch::empty_like(hwc);
  const int rows = static_cast<int>(hwc.size(1)), cols = static_cast<int>(hwc.size(2));
  const int ch = static_cast<int>(hwc.size(3));
  at::parallel_for(0, hwc.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const cv::Mat x(rows, cols, CV_32FC(ch), hwc[i].data_ptr<float>());
      cv::Mat dst(rows, cols, CV_32FC(ch), out[i].data_ptr<float>());
      f(x).convertTo(dst, CV_32F, 1 / 255.0);
    }
  });
  return out.permute({0, 3, 1, 2}).contiguous().to(images.device(), images.scalar_type());
}

}  // namespace

torch::Tensor jpeg_round_trip(const torch::Tensor& images, int quality) {
  check_input(quality >= 1 && quality <= 100, "JPEG quality", "1..100", std::to_string(quality));
  return through_8_bits(images, [quality](const cv::Mat& x) {
    cv::Mat u8;
    x.convertTo(u8, CV_8U, 255.0);  // rounded, saturated
    return corruption::jpeg_8bit(u8, quality);
  });
}

torch::Tensor store_as_published(const torch::Tensor& images, const std::string& table) {
  published_storage(table);  // checks the name
  const bool jpeg = table != "cifar-10-c";
  return through_8_bits(images, [jpeg](const cv::Mat& x) {
    // numpy's uint8 cast of the 0..255 image: the whole part. A value within 1e-4 of the next
    // step (float32's rounding of one on it) counts as that step.
    cv::Mat u8(x.size(), CV_8UC(x.channels()));
    const float* src = x.ptr<float>();
    uint8_t* dst = u8.ptr<uint8_t>();
    for (size_t k = 0, n = x.total() * x.channels(); k < n; ++k) {
      const double v = std::floor(static_cast<double>(src[k]) * 255.0 + 1e-4);
      dst[k] = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
    }
    return jpeg ? corruption::jpeg_8bit(u8, 85) : u8;  // PIL's save(quality=85)
  });
}

std::string corruption_unfit(const std::string& name, int64_t channels) {
  entry(name);
  if (channels != 1 && channels != 3)
    return fmt::format("{} needs images of 1 or 3 channels, not {}", name, channels);
  if (name == "saturate" && channels != 3)
    return "saturate changes colour saturation; these images have one channel (grey)";
  return "";
}

torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity,
                      uint64_t seed, int64_t first_index) {
  const Entry& e = entry(name);
  check_input(severity >= 1 && severity <= 5, "severity", "1..5", std::to_string(severity));
  check_input(images.dim() == 4, "images", "N×C×H×W", fmt::format("{} dimensions", images.dim()));
  const std::string unfit = corruption_unfit(name, images.size(1));
  if (!unfit.empty()) throw InputError(unfit);
  // H×W×C float images, one per item.
  const torch::Tensor hwc =
      images.detach().to(torch::kCPU, torch::kFloat).permute({0, 2, 3, 1}).contiguous();
  torch::Tensor out = torch::empty_like(hwc);
  const int rows = static_cast<int>(hwc.size(1)), cols = static_cast<int>(hwc.size(2));
  const int ch = static_cast<int>(hwc.size(3));
  const std::string name_of_table = corruption_table(rows, cols);
  const corruption::Table table = name_of_table == "cifar-10-c"   ? corruption::Table::kCifar
                                  : name_of_table == "imagenet-c" ? corruption::Table::kImageNet
                                                                  : corruption::Table::kTiny;
  at::parallel_for(0, hwc.size(0), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      corruption::Rng rng(item_seed(seed, name, severity, first_index + i));
      const cv::Mat x(rows, cols, CV_32FC(ch), hwc[i].data_ptr<float>());
      corruption::Item item{x.clone(), severity, table, rng};
      cv::Mat y = e.fn(item);
      y = cv::min(cv::max(y, 0.0), 1.0);
      cv::Mat dst(rows, cols, CV_32FC(ch), out[i].data_ptr<float>());
      y.convertTo(dst, CV_32F);
    }
  });
  return out.permute({0, 3, 1, 2}).contiguous().to(images.device(), images.scalar_type());
}

}  // namespace foil
