#pragma once
/// @file
/// Datasets held in memory as pixels in [0,1], NCHW, and the data specs of DESIGN §3.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace foil {

/// Where a model-sized image came from: the photo's size (after any crop) and the mapping
/// from model pixels (u, v) back to photo pixels: x = (u - pad_x) / scale_x + crop_x.
struct PhotoFrame {
  std::string path;           ///< the image file; a video's frame: VIDEO/frameNNNNNN
  int64_t width = 0;          ///< photo (or crop) width before resizing
  int64_t height = 0;         ///< photo (or crop) height before resizing
  double scale_x = 1;         ///< model pixels per photo pixel, horizontally
  double scale_y = 1;         ///< model pixels per photo pixel, vertically
  double pad_x = 0;           ///< letterbox padding at the left, model pixels
  double pad_y = 0;           ///< letterbox padding at the top, model pixels
  double crop_x = 0;          ///< left of the crop in the photo
  double crop_y = 0;          ///< top of the crop in the photo
  std::vector<int64_t> crop;  ///< X,Y,W,H when the spec cropped the photo
  /// Model-pixel coordinates (..., 2 as x, y) to photo pixels.
  torch::Tensor to_photo(const torch::Tensor& xy) const;
  /// The photo (or its crop) at its own resolution, 1×C×H×W in [0,1].
  torch::Tensor read(int64_t channels) const;
};

/// A labelled image set: `images` float N×C×H×W in [0,1], `labels` int64 N (−1 = unknown,
/// e.g. a single image file), `class_names` indexed by label.
struct Dataset {
  torch::Tensor images;                  ///< float N×C×H×W in [0,1]
  torch::Tensor labels;                  ///< int64 N, -1 where unknown
  std::vector<std::string> class_names;  ///< indexed by label; may be empty
  std::string source;  ///< the spec or path it came from, for messages and reports
  /// One per image for photos (file or folder), empty for Fashion-MNIST.
  std::vector<PhotoFrame> frames;

  /// Number of items.
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  /// The first `n` items (all when n < 0 or n >= size()).
  Dataset head(int64_t n) const;
  /// Items [begin, end).
  Dataset slice(int64_t begin, int64_t end) const;
  /// A copy in an order fixed by `seed`.
  Dataset shuffled(uint64_t seed) const;
  /// Renumbers the labels so that they index `names` (a model's classes), matching class
  /// names (a folder's name matches a class whose '/' it writes '_', folder_safe_name); throws
  /// InputError (naming `what`) for a class `names` does not hold. Does nothing when either list of
  /// names is empty.
  void relabel_to(const std::vector<std::string>& names, const std::string& what);
};

/// A class name as a folder name: '/' (which no file name can hold) written '_'.
std::string folder_safe_name(const std::string& class_name);

/// The largest image side foil takes: a model or flag that declares more is refused before
/// anything that size is allocated.
constexpr int64_t kMaxImageSide = 16384;
/// The largest element count (C*H*W) of one image foil takes (see kMaxImageSide).
constexpr int64_t kMaxImageElements = int64_t{1} << 28;

/// The shape a model wants: channels, height, width; 0 means "any".
struct ImageShape {
  int64_t channels = 0;  ///< 1 (grey) or 3 (RGB); 0: any
  int64_t height = 0;    ///< pixels; 0: any
  int64_t width = 0;     ///< pixels; 0: any
  /// Photos keep their aspect ratio: scaled to fit and padded with black, centred (as
  /// pose and detection models' own pre-processing does); else stretched to the size.
  bool letterbox = false;
  /// "CxHxW".
  std::string str() const;
};

/// The C x H x W of a dataset's images.
ImageShape shape_of(const Dataset& d);

/// A parsed data spec: `fashion-mnist:test`, `fashion-mnist:train`, an image folder or an
/// image file, with an optional `:N` suffix that keeps the first N items. An image file may
/// carry a crop, `photo.jpg@X,Y,W,H` (pixels), applied before resizing.
struct DataSpec {
  /// What the spec names.
  enum class Kind { kFashionMnist, kImageFolder, kImageFile, kVideo };
  Kind kind;                  ///< what the spec names
  std::string path;           ///< split name for Fashion-MNIST, else the file/folder
  int64_t limit = -1;         ///< -1: all items
  std::vector<int64_t> crop;  ///< X,Y,W,H of an image file; empty: the whole image
  int64_t every = 1;          ///< video: every Nth frame
  int64_t first_frame = 0;    ///< video: the first frame index read
  int64_t last_frame = -1;    ///< video: the last frame index read (-1: to the end)
};

/// Parses a data spec; throws InputError for an unknown spec or a missing path. A video
/// (.avi, .mp4, .mkv, .mov, .webm) is read frame by frame with OpenCV's videoio:
/// "clip.avi[:every=N][:frames=A-B][:N]" takes every Nth frame of frames A..B (0-based,
/// inclusive; B may be left out: to the end), at most N of them.
DataSpec parse_data_spec(const std::string& spec);

/// Loads a data spec. Images are converted to `want`'s channels and resized to its
/// height/width where those are non-zero. Throws InputError on missing/corrupt files.
Dataset load_data(const std::string& spec, const ImageShape& want = {});

/// The Fashion-MNIST class names.
const std::vector<std::string>& fashion_mnist_classes();

/// Where Debian's dataset-fashion-mnist put the files (or $FOIL_FASHION_MNIST_DIR).
std::string fashion_mnist_dir();

/// Reads a gzip IDX image file (magic 0x803) and label file (0x801) into a Dataset,
/// checking magic numbers, dimensions, sizes and that the counts agree.
Dataset load_idx(const std::string& images_gz, const std::string& labels_gz);

/// Reads one image file (PNG/JPEG/... via OpenCV) as a 1×C×H×W tensor in [0,1].
torch::Tensor read_image(const std::string& path, const ImageShape& want = {},
                         const std::vector<int64_t>& crop = {}, PhotoFrame* frame = nullptr);

/// Writes a C×H×W or 1×C×H×W tensor in [0,1] as an 8-bit image file.
void write_image(const std::string& path, const torch::Tensor& image);

}  // namespace foil
