#pragma once
// Inside the data module: decoded pictures (image files, video frames) to tensors, and video
// specs.
#include <torch/torch.h>
#include <unistd.h>

#include <cstdio>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "foil/data/dataset.h"

namespace foil {

/// Sends what is written to stderr (file descriptor 2) to a temporary file while alive.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    file_ = std::tmpfile();
    saved_ = file_ ? ::dup(2) : -1;
    if (saved_ >= 0) ::dup2(::fileno(file_), 2);
  }
  ~StderrCapture() {
    restore();
    if (file_) std::fclose(file_);
  }
  /// What was written so far (restores stderr).
  std::string text() {
    restore();
    if (!file_) return "";
    std::string out;
    std::rewind(file_);
    char buf[4096];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, file_)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::FILE* file_ = nullptr;
  int saved_ = -1;
};

/// A decoded 8-bit picture (BGR or grey, as OpenCV decodes) as a 1×C×H×W tensor in [0,1]:
/// cropped to `crop` (X,Y,W,H; empty: whole), resized (letterboxed when `want` says so) to
/// `want`'s size where it has one; `frame` (when given) records the geometry. `path` names
/// the picture in messages.
torch::Tensor frame_tensor(cv::Mat img, const std::string& path, const ImageShape& want,
                           const std::vector<int64_t>& crop, PhotoFrame* frame);

/// Fills `ds` as a video spec when `body` is "VIDEO[:every=N][:frames=A-B]" naming a video
/// file (its limit :N already taken off); false when it is not a video.
bool parse_video_spec(const std::string& body, DataSpec& ds);

/// The frames a video spec selects (unlabelled, -1), at `want`'s size.
Dataset load_video(const DataSpec& ds, const ImageShape& want);

}  // namespace foil
