#pragma once
/// @file
/// The common corruptions of Hendrycks & Dietterich (ICLR 2019, "Benchmarking Neural Network
/// Robustness to Common Corruptions and Perturbations"): 15 benchmark corruptions and 4
/// held-out ones, each at severities 1..5, on image tensors of any size with 1 or 3 channels.
/// Each follows the benchmark's reference code (hendrycks/robustness) and its constants: the
/// CIFAR-10-C table (made for 32 pixels) for images whose longer side is under 48 pixels, the
/// Tiny-ImageNet-C table (64 pixels) for 48 to 99, the ImageNet-C table (224) from 100. Where
/// foil differs it says so in `CorruptionInfo::variant`. The results are float images; the
/// published sets were stored as 8 bits (store_as_published does the same).
///
/// Example:
///   torch::Tensor fogged = foil::corrupt(images, "fog", 3, /*seed=*/0);
///   torch::Tensor as_cifar_10_c = foil::store_as_published(fogged, "cifar-10-c");

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace foil {

/// One corruption and where it stands in the benchmark.
struct CorruptionInfo {
  std::string name;     ///< the reference's name, e.g. "gaussian_noise"
  std::string family;   ///< noise, blur, weather or digital
  bool benchmark;       ///< one of the 15 in mCE (false: the 4 held-out ones)
  std::string variant;  ///< "" when it follows the reference; else how foil's differs
};

/// The 19 corruptions in the benchmark's order: the 15 of mCE, then speckle_noise,
/// gaussian_blur, spatter and saturate.
const std::vector<CorruptionInfo>& corruption_list();

/// The info of corruption `name`; throws InputError naming the known ones.
const CorruptionInfo& corruption_info(const std::string& name);

/// A comma-separated list of corruption names or groups: all (19), benchmark (15), held-out
/// (4), noise, blur, weather, digital. In the benchmark's order, each once. Throws InputError
/// (naming `flag`) for an unknown name or an empty list.
std::vector<std::string> parse_corruptions(const std::string& list, const std::string& flag);

/// Severities "1-5", "3" or "1,3,5" (each in 1..5), sorted, each once; InputError otherwise.
std::vector<int> parse_severities(const std::string& text, const std::string& flag);

/// The constants a corruption uses on H×W images, by the longer side: "cifar-10-c" (under 48
/// pixels; the table made for 32), "tiny-imagenet-c" (48 to 99; made for 64) or "imagenet-c"
/// (100 and over; made for 224).
std::string corruption_table(int64_t height, int64_t width);

/// How the published set of `table` stored its corrupted images, in words: CIFAR-10-C as
/// uint8 arrays (values times 255, truncated); Tiny-ImageNet-C and ImageNet-C as JPEG files of
/// quality 85 (PIL) of the truncated 8-bit images. InputError for an unknown table.
std::string published_storage(const std::string& table);

/// `images` (N×C×H×W in [0,1], C 1 or 3) stored as the published set of `table` stored its
/// images, and read back in [0,1]: each value times 255 truncated to a whole number (numpy's
/// uint8 cast; a value within 1e-4 of a step counts as it), and for "tiny-imagenet-c" and
/// "imagenet-c" then encoded as JPEG of quality 85 (OpenCV's libjpeg, 4:2:0 chroma as PIL's
/// default) and decoded. Compare accuracies with published ones on images stored this way.
torch::Tensor store_as_published(const torch::Tensor& images, const std::string& table);

/// `images` (N×C×H×W in [0,1], C 1 or 3) rounded to 8 bits, encoded as JPEG of `quality`
/// (1..100; OpenCV's libjpeg, 4:2:0 chroma for colour as PIL's default) and decoded, in [0,1].
torch::Tensor jpeg_round_trip(const torch::Tensor& images, int quality);

/// Why corruption `name` cannot apply to images of `channels` channels ("" when it can):
/// saturate needs colour; every corruption needs 1 or 3 channels.
std::string corruption_unfit(const std::string& name, int64_t channels);

/// `images` (N×C×H×W in [0,1], C 1 or 3, any device) under corruption `name` at `severity`
/// (1..5), in [0,1] on the same device. Item i draws its randomness from (seed, name,
/// severity, first_index + i) only, so a batch gives each item what it gives alone.
torch::Tensor corrupt(const torch::Tensor& images, const std::string& name, int severity,
                      uint64_t seed, int64_t first_index = 0);

}  // namespace foil
