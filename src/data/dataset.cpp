#include "foil/data/dataset.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "frames.h"

namespace fs = std::filesystem;

namespace foil {

ImageShape shape_of(const Dataset& d) {
  return {d.images.size(1), d.images.size(2), d.images.size(3)};
}

Dataset Dataset::head(int64_t n) const {
  if (n < 0 || n >= size()) return *this;
  return slice(0, n);
}

Dataset Dataset::slice(int64_t begin, int64_t end) const {
  Dataset d = *this;
  d.images = images.slice(0, begin, end);
  d.labels = labels.slice(0, begin, end);
  if (!frames.empty()) d.frames.assign(frames.begin() + begin, frames.begin() + end);
  return d;
}

Dataset Dataset::shuffled(uint64_t seed) const {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto perm = torch::randperm(size(), gen, torch::kLong);
  Dataset d = *this;
  d.images = images.index_select(0, perm);
  d.labels = labels.index_select(0, perm);
  if (!frames.empty())
    for (int64_t i = 0; i < size(); ++i) d.frames[i] = frames[perm[i].item<int64_t>()];
  return d;
}

torch::Tensor PhotoFrame::read(int64_t channels) const {
  // A video's frame (VIDEO/frameNNNNNN): that frame, decoded again at its own size.
  const std::filesystem::path p(path);
  const std::string name = p.filename().string();
  DataSpec video;
  if (name.rfind("frame", 0) == 0 && name.size() > 5 &&
      name.find_first_not_of("0123456789", 5) == std::string::npos &&
      parse_video_spec(p.parent_path().string(), video)) {
    video.first_frame = video.last_frame = std::stoll(name.substr(5));
    return load_video(video, {channels, 0, 0}).images;
  }
  return read_image(path, {channels, 0, 0}, crop);
}

torch::Tensor PhotoFrame::to_photo(const torch::Tensor& xy) const {
  const auto opts = xy.options();
  const auto scale = torch::tensor({scale_x, scale_y}, opts),
             pad = torch::tensor({pad_x, pad_y}, opts);
  return (xy - pad) / scale + torch::tensor({crop_x, crop_y}, opts);
}

std::string ImageShape::str() const {
  auto s = [](int64_t v) { return v > 0 ? std::to_string(v) : std::string("any"); };
  return s(channels) + "x" + s(height) + "x" + s(width);
}

const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser",   "Pullover", "Dress",
                                                 "Coat",        "Sandal",    "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

std::string fashion_mnist_dir() {
  if (const char* env = std::getenv("FOIL_FASHION_MNIST_DIR")) return env;
  return "/usr/share/datasets/fashion-mnist";
}

namespace {

constexpr int64_t kMaxImagePixels = 100000000;  ///< 100 megapixels

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".ppm" ||
         ext == ".pgm" || ext == ".tif" || ext == ".tiff" || ext == ".webp";
}

/// Width and height an image file's header declares (PNG, JPEG, BMP), or {0, 0} when the
/// format is another or the header is unreadable: checked before decoding, so that a few
/// bytes claiming a gigapixel image are refused instead of allocated.
std::pair<int64_t, int64_t> declared_size(const std::string& b) {
  auto u8 = [&](size_t i) { return static_cast<int64_t>(static_cast<unsigned char>(b[i])); };
  auto be16 = [&](size_t i) { return u8(i) << 8 | u8(i + 1); };
  auto be32 = [&](size_t i) { return be16(i) << 16 | be16(i + 2); };
  auto le32 = [&](size_t i) {
    return static_cast<int64_t>(static_cast<int32_t>(
        static_cast<uint32_t>(u8(i) | u8(i + 1) << 8 | u8(i + 2) << 16 | u8(i + 3) << 24)));
  };
  if (b.size() >= 24 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) return {be32(16), be32(20)};
  if (b.size() >= 26 && b.compare(0, 2, "BM") == 0) return {std::abs(le32(18)), std::abs(le32(22))};
  if (b.size() < 4 || u8(0) != 0xFF || u8(1) != 0xD8) return {0, 0};
  // JPEG: walk the segments up to the scan; the largest frame header counts (a file may
  // carry several, and the decoder takes the last).
  std::pair<int64_t, int64_t> largest{0, 0};
  for (size_t i = 2; i + 9 < b.size();) {
    if (u8(i) != 0xFF) {  // garbage between segments: the decoder skips to the next marker
      ++i;
      continue;
    }
    const int64_t m = u8(i + 1);
    if (m == 0xFF) {
      ++i;
      continue;
    }
    if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC &&
        be16(i + 7) * be16(i + 5) > largest.first * largest.second)
      largest = {be16(i + 7), be16(i + 5)};
    if (m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
      i += 2;
      continue;
    }
    if (m == 0xDA) break;
    i += 2 + static_cast<size_t>(be16(i + 2));
  }
  return largest;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), ::isdigit);
}

Dataset load_fashion_mnist(const std::string& split) {
  const std::string dir = fashion_mnist_dir();
  const std::string prefix = split == "train" ? "train" : "t10k";
  Dataset d = load_idx(dir + "/" + prefix + "-images-idx3-ubyte.gz",
                       dir + "/" + prefix + "-labels-idx1-ubyte.gz");
  d.source = "fashion-mnist:" + split;
  return d;
}

// The image files directly in `dir`, sorted.
std::vector<fs::path> image_files(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && is_image_file(e.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// One sub-folder per class (labels by sorted folder name), or a folder of photos without
// sub-folders (unlabelled, -1, as a single image file is).
Dataset load_image_folder(const std::string& dir, ImageShape want) {
  std::vector<std::string> classes;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  std::vector<std::pair<fs::path, int64_t>> files;
  for (size_t c = 0; c < classes.size(); ++c)
    for (const auto& f : image_files(fs::path(dir) / classes[c]))
      files.emplace_back(f, static_cast<int64_t>(c));
  if (classes.empty())
    for (const auto& f : image_files(dir)) files.emplace_back(f, -1);
  check_input(!files.empty(), dir,
              "image files (png, jpg, ...): one sub-folder per class, or photos in the folder",
              "none");
  std::vector<torch::Tensor> images;
  std::vector<int64_t> labels;
  std::vector<PhotoFrame> frames;
  for (const auto& [f, label] : files) {
    PhotoFrame frame;
    torch::Tensor img = read_image(f.string(), want, {}, &frame);
    frames.push_back(frame);
    // Without a model size, every image takes the size of the first one.
    if (want.height == 0) want = {img.size(1), img.size(2), img.size(3)};
    images.push_back(img);
    labels.push_back(label);
  }
  Dataset d;
  d.images = torch::cat(images, 0);
  d.labels = torch::tensor(labels, torch::kInt64);
  d.class_names = classes;
  d.source = dir;
  d.frames = std::move(frames);
  return d;
}

}  // namespace

std::string folder_safe_name(const std::string& class_name) {
  std::string out = class_name;
  std::replace(out.begin(), out.end(), '/', '_');
  return out;
}

void Dataset::relabel_to(const std::vector<std::string>& names, const std::string& what) {
  if (names.empty() || class_names.empty() || names == class_names) return;
  std::vector<int64_t> map(class_names.size());
  for (size_t k = 0; k < class_names.size(); ++k) {
    auto it = std::find(names.begin(), names.end(), class_names[k]);
    if (it == names.end())  // a folder named for a class with '/' in its name
      it = std::find_if(names.begin(), names.end(), [&](const std::string& n) {
        return folder_safe_name(n) == class_names[k];
      });
    if (it == names.end()) {
      std::string known;
      for (size_t j = 0; j < names.size() && j < 12; ++j) known += (j ? ", " : "") + names[j];
      throw InputError(fmt::format("{}: class '{}' is not one of the model's classes ({}{})", what,
                                   class_names[k], known, names.size() > 12 ? ", ..." : ""));
    }
    map[k] = it - names.begin();
  }
  const torch::Tensor lookup = torch::tensor(map, torch::kInt64);
  labels = torch::where(labels.ge(0), lookup.index({labels.clamp_min(0)}), labels);
  class_names = names;
}

DataSpec parse_data_spec(const std::string& spec) {
  std::error_code ec;  // paths too long, loops, no permission: treated as not there
  check_input(!spec.empty(), "--data", "a data spec (fashion-mnist:test, a folder or an image)",
              "an empty string");
  DataSpec ds{DataSpec::Kind::kImageFile, spec, -1};
  std::string body = spec;
  const auto colon = spec.rfind(':');
  if (colon != std::string::npos && all_digits(spec.substr(colon + 1))) {
    body = spec.substr(0, colon);
    ds.limit = parse_integer(spec.substr(colon + 1)).value_or(0);
    check_input(ds.limit > 0, "--data " + spec, "a :N suffix with N >= 1 (at most 2^63 - 1)",
                "'" + spec.substr(colon + 1) + "'");
  }
  if (body.rfind("fashion-mnist", 0) == 0) {
    ds.kind = DataSpec::Kind::kFashionMnist;
    ds.path = body == "fashion-mnist" ? "test" : body.substr(std::string("fashion-mnist:").size());
    check_input(ds.path == "test" || ds.path == "train", "--data " + spec,
                "fashion-mnist:test[:N] or fashion-mnist:train[:N] (N: how many items)",
                "'" + spec + "'");
    return ds;
  }
  if (parse_video_spec(body, ds)) return ds;
  const auto at = body.rfind('@');
  if (at != std::string::npos && !fs::exists(body, ec) &&
      fs::is_regular_file(body.substr(0, at), ec)) {
    const std::string box = body.substr(at + 1);
    std::stringstream ss(box);
    std::string item;
    while (std::getline(ss, item, ',')) ds.crop.push_back(parse_integer(item).value_or(-1));
    const bool ok = ds.crop.size() == 4 && ds.crop[0] >= 0 && ds.crop[1] >= 0 && ds.crop[2] > 0 &&
                    ds.crop[3] > 0;
    check_input(ok, "--data " + spec, "a crop @X,Y,W,H of non-negative pixel numbers",
                "'@" + box + "'");
    body = body.substr(0, at);
  }
  ds.path = body;
  if (fs::is_directory(body, ec)) {
    ds.kind = DataSpec::Kind::kImageFolder;
  } else if (fs::is_regular_file(body, ec)) {
    ds.kind = DataSpec::Kind::kImageFile;
  } else {
    throw InputError("--data " + spec +
                     ": no such file or folder (expected fashion-mnist:test|train[:N], an image "
                     "folder or an image file)");
  }
  return ds;
}

Dataset load_data(const std::string& spec, const ImageShape& want) {
  const DataSpec ds = parse_data_spec(spec);
  Dataset d;
  switch (ds.kind) {
    case DataSpec::Kind::kFashionMnist: {
      d = load_fashion_mnist(ds.path);
      if (want.channels > 0 && want.channels != 1 && want.channels != 3)
        throw InputError("--data " + spec + ": images are 1x28x28 but the model expects " +
                         want.str() + " (channels differ)");
      // Grey to RGB as image folders are converted: the value repeated in each channel.
      if (want.channels == 3) d.images = d.images.repeat({1, 3, 1, 1});
      if ((want.height > 0 && want.height != 28) || (want.width > 0 && want.width != 28))
        d.images = torch::nn::functional::interpolate(
            d.images, torch::nn::functional::InterpolateFuncOptions()
                          .size(std::vector<int64_t>{want.height, want.width})
                          .mode(torch::kBilinear)
                          .align_corners(false));
      break;
    }
    case DataSpec::Kind::kImageFolder:
      try {
        d = load_image_folder(ds.path, want);
      } catch (const fs::filesystem_error& e) {  // an unreadable sub-folder, a loop
        throw InputError(ds.path + ": cannot read the image folder (" + e.code().message() + ")");
      }
      break;
    case DataSpec::Kind::kVideo:
      d = load_video(ds, want);
      break;
    case DataSpec::Kind::kImageFile:
      d.frames.resize(1);
      d.images = read_image(ds.path, want, ds.crop, &d.frames[0]);
      d.labels = torch::full({1}, -1, torch::kInt64);
      d.source = ds.path;
      break;
  }
  d.source = spec;
  return d.head(ds.limit);
}

torch::Tensor read_image(const std::string& path, const ImageShape& want,
                         const std::vector<int64_t>& crop, PhotoFrame* frame) {
  std::error_code ec;  // a name too long or a symlink loop reads as "not found"
  if (!fs::is_regular_file(path, ec)) throw InputError(path + ": image file not found");
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  check_input(bytes.size() < (size_t{1} << 30), path, "an image file under 1 GiB",
              fmt::format("{} bytes", bytes.size()));
  const auto [declared_w, declared_h] = declared_size(bytes);
  if (static_cast<double>(declared_w) * static_cast<double>(declared_h) > kMaxImagePixels)
    throw InputError(
        fmt::format("{}: the image declares {}x{} pixels; foil reads images up to {} megapixels",
                    path, declared_w, declared_h, kMaxImagePixels / 1000000));
  cv::Mat img;
  std::string decoder_messages;
  {
    // libjpeg and libpng print their warnings to stderr themselves; keep them off the
    // terminal and judge by them (a truncated JPEG only warns and decodes half an image).
    StderrCapture capture;
    try {
      const int mode = want.channels == 1   ? cv::IMREAD_GRAYSCALE
                       : want.channels == 3 ? cv::IMREAD_COLOR
                                            : cv::IMREAD_ANYCOLOR;  // unknown: as stored
      img = cv::imread(path, mode);
    } catch (const cv::Exception&) {
      img = cv::Mat();
    }
    decoder_messages = capture.text();
  }
  if (img.empty())
    throw InputError(path + ": cannot decode image (expected a valid PNG/JPEG/BMP file)");
  // A JPEG cut short decodes with grey rows and at most a warning: its image data (after the
  // first start-of-scan marker) must reach an end-of-image marker.
  const bool jpeg = bytes.compare(0, 2, "\xFF\xD8") == 0;
  const auto scan = bytes.find("\xFF\xDA"), end = bytes.rfind("\xFF\xD9");
  const bool jpeg_cut =
      jpeg && (scan == std::string::npos || end == std::string::npos || end < scan);
  if (jpeg_cut || decoder_messages.find("remature end") != std::string::npos)
    throw InputError(path + ": the image file is truncated (the decoder ran out of data)");
  return frame_tensor(img, path, want, crop, frame);
}

torch::Tensor frame_tensor(cv::Mat img, const std::string& path, const ImageShape& want,
                           const std::vector<int64_t>& crop, PhotoFrame* frame) {
  if (want.channels > 0 && want.channels != 1 && want.channels != 3)
    throw InputError(path + ": the model expects " + want.str() +
                     " images; only 1- or 3-channel models can read image files");
  // Decoded video frames come in colour whatever the model takes (image files are decoded
  // to its channels).
  if (want.channels == 1 && img.channels() == 3) cv::cvtColor(img, img, cv::COLOR_BGR2GRAY);
  if (want.channels == 3 && img.channels() == 1) cv::cvtColor(img, img, cv::COLOR_GRAY2BGR);
  if (img.channels() == 3) cv::cvtColor(img, img, cv::COLOR_BGR2RGB);
  if (!crop.empty()) {
    const bool inside = crop[0] + crop[2] <= img.cols && crop[1] + crop[3] <= img.rows;
    check_input(inside, path + "@" + fmt::format("{}", fmt::join(crop, ",")),
                fmt::format("a crop inside the {}x{} image", img.cols, img.rows), "one outside");
    img = img(cv::Rect(static_cast<int>(crop[0]), static_cast<int>(crop[1]),
                       static_cast<int>(crop[2]), static_cast<int>(crop[3])))
              .clone();
  }
  PhotoFrame f;
  f.path = path;
  f.crop = crop;
  f.width = img.cols;
  f.height = img.rows;
  if (!crop.empty())
    f.crop_x = static_cast<double>(crop[0]), f.crop_y = static_cast<double>(crop[1]);
  if (want.height > 0 && want.width > 0 && (img.rows != want.height || img.cols != want.width)) {
    f.scale_x = static_cast<double>(want.width) / img.cols;
    f.scale_y = static_cast<double>(want.height) / img.rows;
    cv::Size size(static_cast<int>(want.width), static_cast<int>(want.height));
    if (want.letterbox) {
      f.scale_x = f.scale_y = std::min(f.scale_x, f.scale_y);
      size = cv::Size(std::max(1, static_cast<int>(std::lround(img.cols * f.scale_x))),
                      std::max(1, static_cast<int>(std::lround(img.rows * f.scale_y))));
    }
    cv::resize(img, img, size, 0, 0, cv::INTER_AREA);
    if (want.letterbox) {
      const int left = static_cast<int>(want.width - img.cols) / 2;
      const int top = static_cast<int>(want.height - img.rows) / 2;
      cv::copyMakeBorder(img, img, top, static_cast<int>(want.height) - img.rows - top, left,
                         static_cast<int>(want.width) - img.cols - left, cv::BORDER_CONSTANT,
                         cv::Scalar::all(0));
      f.pad_x = left;
      f.pad_y = top;
    }
  }
  if (frame) *frame = f;
  auto t = torch::from_blob(img.data, {img.rows, img.cols, img.channels()}, torch::kUInt8)
               .permute({2, 0, 1})
               .to(torch::kFloat32)
               .div(255.0)
               .unsqueeze(0)
               .contiguous();
  return t;
}

void write_image(const std::string& path, const torch::Tensor& image) {
  torch::Tensor t = image.dim() == 4 ? image[0] : image;
  t = t.detach().to(torch::kCPU).clamp(0, 1).mul(255).round().to(torch::kUInt8);
  t = t.permute({1, 2, 0}).contiguous();
  const int c = static_cast<int>(t.size(2));
  cv::Mat m(static_cast<int>(t.size(0)), static_cast<int>(t.size(1)), c == 1 ? CV_8UC1 : CV_8UC3,
            t.data_ptr());
  cv::Mat out;
  if (c == 3)
    cv::cvtColor(m, out, cv::COLOR_RGB2BGR);
  else
    out = m.clone();
  const std::string ext = std::filesystem::path(path).extension().string();
  std::vector<uchar> bytes;
  if (!cv::imencode(ext.empty() ? ".png" : ext, out, bytes))
    throw InputError(path + ": cannot write image");
  write_file_atomically(path, std::string(bytes.begin(), bytes.end()));
}

}  // namespace foil
