// Fuzz entry points (see targets.h).
#include "targets.h"

#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "foil/attacks/criterion.h"
#include "foil/core/error.h"
#include "foil/data/dataset.h"
#include "foil/keypoints/pose.h"
#include "foil/models/graph_model.h"
#include "foil/models/model.h"
#include "foil/patch/patch.h"
#include "foil/report/html.h"

namespace foil::fuzz {
namespace {
namespace fs = std::filesystem;

/// A folder of this process's own for the files an entry writes.
const fs::path& work_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("foil-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const fs::path path = work_dir() / name;
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

/// Inputs made of several files separate them with this line.
constexpr const char* kSeparator = "\n--foil-fuzz-part--\n";

std::string part(const std::string& bytes, size_t k) {
  size_t begin = 0;
  for (size_t i = 0; i < k; ++i) {
    const size_t at = bytes.find(kSeparator, begin);
    if (at == std::string::npos) return "";
    begin = at + std::char_traits<char>::length(kSeparator);
  }
  const size_t end = bytes.find(kSeparator, begin);
  return bytes.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

/// Runs `body` on the input as a string; InputError is the expected answer to bad bytes.
template <typename F>
int guarded(const uint8_t* data, size_t size, F body) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  torch::NoGradGuard no_grad;
  try {
    body(bytes);
  } catch (const InputError&) {
  }
  return 0;
}

// IDX image and label files (raw or gzip; gzread reads both): images, separator, labels.
int fuzz_idx(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    load_idx(write_file("images-idx3-ubyte.gz", part(b, 0)),
             write_file("labels-idx1-ubyte.gz", part(b, 1)));
  });
}

// An image file through foil's loader, as stored and converted to two model shapes.
int fuzz_image(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    const std::string path = write_file("image", b);
    for (const ImageShape& want : {ImageShape{}, ImageShape{1, 28, 28}, ImageShape{3, 16, 16}}) {
      try {
        read_image(path, want, {});
      } catch (const InputError&) {
      }
    }
    read_image(path, {3, 8, 8}, {1, 1, 4, 4});
  });
}

/// Runs a graph model that loaded once on a small image of its input shape.
void run_once(GraphModel& model) {
  const ImageShape in = model.info().input;
  if (in.channels * in.height * in.width <= 0 || in.channels * in.height * in.width > 4096) return;
  try {
    model.forward(torch::rand({1, in.channels, in.height, in.width}));
  } catch (const c10::Error&) {  // a kernel refusing its shapes is reported as InputError
  }                              // by the CLI (probe_model); not a parser crash
}

// A TensorFlow.js model.json and its weight shard w.bin: json, separator, shard bytes.
int fuzz_tfjs(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    write_file("w.bin", part(b, 1));
    GraphModel model(write_file("model.json", part(b, 0)));
    run_once(model);
  });
}

// An ONNX model and its external data file: model.onnx bytes, separator, model.onnx.data.
int fuzz_onnx(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    write_file("model.onnx.data", part(b, 1));
    GraphModel model(write_file("model.onnx", part(b, 0)));
    run_once(model);
  });
}

// A .foil model file (or anything given as --model x.foil: TorchScript is tried next).
int fuzz_foil_model(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    auto model = load_model(write_file("model.foil", b));
    model->forward(torch::rand(
        {1, model->info().input.channels, model->info().input.height, model->info().input.width}));
  });
}

// A patch.pt and its patch.json sidecar: tensor bytes, separator, json.
int fuzz_patch(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    const std::string sidecar = part(b, 1);
    if (sidecar.empty())
      fs::remove(work_dir() / "patch.json");
    else
      write_file("patch.json", sidecar);
    read_patch(write_file("patch.pt", part(b, 0)), PatchOptions(), {3, 32, 32});
  });
}

// A target pose file (keypoints --target file:POSE.json) for an 11-keypoint 64x64 model.
int fuzz_pose(const uint8_t* data, size_t size) {
  return guarded(data, size,
                 [](const std::string& b) { read_pose_file(write_file("pose.json", b), 11, 64); });
}

// The text flags: data specs with :N and @X,Y,W,H, number lists and --targeted.
int fuzz_spec(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    for (auto parse : {+[](const std::string& s) { parse_data_spec(s); },
                       +[](const std::string& s) { parse_number_list(s, "--mean"); },
                       +[](const std::string& s) { TargetSpec::parse(s, 10); },
                       +[](const std::string& s) {
                         if (s.rfind("pose:", 0) == 0) load_pose_data(s);
                       }}) {
      try {
        parse(b);
      } catch (const InputError&) {
      }
    }
  });
}

// A results folder for `foil report`: parts, each a file name line and the file's bytes. A name
// "@NAME" makes NAME a link to the path the part holds, "|NAME" makes a FIFO; other names are
// plain files (reduced to a base name, so that the folder stays the fuzzer's).
int fuzz_report(const uint8_t* data, size_t size) {
  return guarded(data, size, [](const std::string& b) {
    const fs::path dir = work_dir() / "results";
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (size_t k = 0; k < 16; ++k) {
      const std::string p = part(b, k);
      if (p.empty() && k > 0) break;
      const size_t nl = p.find('\n');
      std::string name = p.substr(0, nl), body = nl == std::string::npos ? "" : p.substr(nl + 1);
      const char kind = name.empty() ? ' ' : name[0];
      if (kind == '@' || kind == '|') name.erase(0, 1);
      name = fs::path(name).filename().string();
      if (name.empty() || name == "." || name == ".." || name == "report.html") continue;
      std::error_code ec;
      if (kind == '@')
        fs::create_symlink(body, dir / name, ec);
      else if (kind == '|')
        ::mkfifo((dir / name).c_str(), 0600);
      else
        std::ofstream(dir / name, std::ios::binary)
            .write(body.data(), static_cast<std::streamsize>(body.size()));
    }
    report_html(dir.string());
  });
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {{"idx", fuzz_idx},
                                          {"image", fuzz_image},
                                          {"tfjs", fuzz_tfjs},
                                          {"onnx", fuzz_onnx},
                                          {"foil-model", fuzz_foil_model},
                                          {"patch", fuzz_patch},
                                          {"pose", fuzz_pose},
                                          {"spec", fuzz_spec},
                                          {"report", fuzz_report}};
  return all;
}

}  // namespace foil::fuzz
