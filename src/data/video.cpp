// Video files as data: every Nth frame of a frame range, read with OpenCV's videoio, so a
// clip splits by time ("frames=0-599" to train, "frames=650-" held out) without extracting.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <opencv2/videoio.hpp>

#include "foil/core/error.h"
#include "foil/core/files.h"
#include "frames.h"

namespace foil {
namespace {

bool is_video_file(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return ext == ".avi" || ext == ".mp4" || ext == ".mkv" || ext == ".mov" || ext == ".webm";
}

int64_t whole_number(const std::string& text, const std::string& spec, const std::string& what) {
  const bool digits =
      !text.empty() && text.size() <= 12 &&
      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  check_input(digits, "--data " + spec, what, "'" + text + "'");
  return std::stoll(text);
}

/// Everything a video spec may read, in bytes of float pixels.
constexpr double kMaxVideoBytes = 4.0 * (1 << 30);

}  // namespace

bool parse_video_spec(const std::string& body, DataSpec& ds) {
  std::string path = body;
  std::vector<std::string> options;
  for (auto colon = path.rfind(':'); colon != std::string::npos; colon = path.rfind(':')) {
    const std::string part = path.substr(colon + 1);
    if (part.rfind("every=", 0) != 0 && part.rfind("frames=", 0) != 0) break;
    for (const auto& seen : options)
      check_input(seen.substr(0, seen.find('=')) != part.substr(0, part.find('=')),
                  "--data " + body, "each of every= and frames= once",
                  "'" + part.substr(0, part.find('=') + 1) + "' twice");
    options.push_back(part);
    path = path.substr(0, colon);
  }
  std::error_code ec;
  if (is_video_file(path) && std::filesystem::exists(path, ec) &&
      !std::filesystem::is_regular_file(path, ec)) {
    const std::string kind = unreplaceable_kind(path);
    throw InputError("--data " + body + ": expected a video file, got " +
                     (kind.empty() ? "something else" : kind));
  }
  if (!is_video_file(path) || !std::filesystem::is_regular_file(path, ec)) {
    check_input(options.empty(), "--data " + body, "every= and frames= after a video file",
                "'" + path + "', not a video file (.avi, .mp4, .mkv, .mov, .webm)");
    return false;
  }
  ds.kind = DataSpec::Kind::kVideo;
  ds.path = path;
  for (const auto& o : options) {
    const std::string value = o.substr(o.find('=') + 1);
    if (o.rfind("every=", 0) == 0) {
      ds.every = whole_number(value, body, "every=N with N >= 1");
      check_input(ds.every >= 1, "--data " + body, "every=N with N >= 1", "every=0");
    } else {
      const auto dash = value.find('-');
      check_input(dash != std::string::npos, "--data " + body,
                  "frames=A-B or frames=A- (0-based frame numbers)", "frames=" + value);
      ds.first_frame =
          whole_number(value.substr(0, dash), body, "frames=A-B with A a frame number");
      const std::string last = value.substr(dash + 1);
      ds.last_frame =
          last.empty() ? -1 : whole_number(last, body, "frames=A-B with B a frame number");
      check_input(ds.last_frame < 0 || ds.last_frame >= ds.first_frame, "--data " + body,
                  "frames=A-B with A <= B", "frames=" + value);
    }
  }
  return true;
}

Dataset load_video(const DataSpec& ds, const ImageShape& want) {
  cv::VideoCapture video;
  {
    // FFmpeg and OpenCV report a file they cannot read on stderr; foil says it in one line.
    StderrCapture quiet;
    try {
      video.open(ds.path, cv::CAP_FFMPEG);
    } catch (const cv::Exception&) {
    }
  }
  if (!video.isOpened())
    throw InputError(ds.path + ": cannot open the video (expected a file OpenCV's videoio reads)");
  Dataset d;
  std::vector<torch::Tensor> frames;
  double bytes = 0;
  cv::Mat img;
  // A damaged stream makes FFmpeg's decoders print their own lines while frames are read;
  // foil's one line (if it fails) is printed after this restores stderr.
  StderrCapture quiet;
  for (int64_t index = 0; ds.last_frame < 0 || index <= ds.last_frame; ++index) {
    if (ds.limit > 0 && static_cast<int64_t>(frames.size()) >= ds.limit) break;
    bool read = false;
    try {
      read = video.read(img);
    } catch (const cv::Exception&) {
    }
    if (!read || img.empty()) break;
    if (index < ds.first_frame || (index - ds.first_frame) % ds.every != 0) continue;
    const std::string name = fmt::format("{}/frame{:06d}", ds.path, index);
    PhotoFrame f;
    frames.push_back(frame_tensor(img, name, want, {}, &f));
    d.frames.push_back(f);
    bytes += static_cast<double>(frames.back().numel()) * sizeof(float);
    if (bytes > kMaxVideoBytes)
      throw InputError(fmt::format(
          "--data {}: the frames it selects take more than {} GiB; take fewer (every=N, "
          "frames=A-B, :N) or give a model whose input size they are resized to",
          ds.path, kMaxVideoBytes / (1 << 30)));
  }
  check_input(!frames.empty(), "--data " + ds.path,
              fmt::format("frames from {} on (every {})", ds.first_frame, ds.every),
              "none (the video is shorter, or unreadable)");
  const auto shape = frames.front().sizes();
  for (const auto& t : frames)
    check_input(t.sizes() == shape, "--data " + ds.path, "frames of one size",
                "frames of different sizes");
  d.images = torch::cat(frames);
  d.labels = torch::full({d.size()}, -1, torch::kLong);
  d.source = ds.path;
  return d;
}

}  // namespace foil
