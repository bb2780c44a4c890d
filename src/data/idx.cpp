// Gzip IDX reader for MNIST-style files (http format by LeCun et al.).
#include <fmt/format.h>
#include <torch/torch.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>

#include "foil/core/error.h"
#include "foil/data/dataset.h"

namespace foil {
namespace {

std::vector<uint8_t> gunzip_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path))
    throw InputError(path + ": file not found (expected a gzip IDX file)");
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open (expected a gzip IDX file)");
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 20);
  while (true) {
    int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int err = 0;
      std::string msg = gzerror(f, &err);
      gzclose(f);
      throw InputError(path + ": corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf.begin(), buf.begin() + n);
  }
  // gzread returns 0 on a truncated stream; gzclose reports it as Z_BUF_ERROR.
  if (gzclose(f) != Z_OK) throw InputError(path + ": truncated gzip stream");
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t off) {
  return (uint32_t(b[off]) << 24) | (uint32_t(b[off + 1]) << 16) | (uint32_t(b[off + 2]) << 8) |
         uint32_t(b[off + 3]);
}

struct Idx {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;
  size_t offset;
};

Idx parse_idx(const std::string& path, uint32_t expected_magic, size_t ndims) {
  Idx idx{{}, gunzip_file(path), 0};
  const auto& b = idx.bytes;
  const size_t header = 4 + 4 * ndims;
  check_input(b.size() >= header, path, "an IDX header of " + std::to_string(header) + " bytes",
              std::to_string(b.size()) + " bytes");
  const uint32_t magic = be32(b, 0);
  check_input(magic == expected_magic, path, fmt::format("IDX magic 0x{:08x}", expected_magic),
              fmt::format("0x{:08x}", magic));
  // The dimensions must describe exactly the bytes present; checked without overflow.
  size_t count = 1;
  for (size_t i = 0; i < ndims; ++i) {
    idx.dims.push_back(be32(b, 4 + 4 * i));
    const auto d = static_cast<size_t>(idx.dims.back());
    check_input(
        d > 0 && count <= (b.size() - header) / d, path,
        "IDX dimensions that fit the file's " + std::to_string(b.size() - header) + " data bytes",
        "dimension " + std::to_string(d));
    count *= d;
  }
  check_input(b.size() - header == count, path,
              std::to_string(count) + " data bytes after the header",
              std::to_string(b.size() - header));
  idx.offset = header;
  return idx;
}

}  // namespace

Dataset load_idx(const std::string& images_gz, const std::string& labels_gz) {
  Idx im = parse_idx(images_gz, 0x00000803, 3);
  Idx lb = parse_idx(labels_gz, 0x00000801, 1);
  check_input(im.dims[0] == lb.dims[0], labels_gz,
              std::to_string(im.dims[0]) + " labels (one per image)", std::to_string(lb.dims[0]));
  const int64_t n = im.dims[0], h = im.dims[1], w = im.dims[2];
  Dataset d;
  d.images = torch::from_blob(im.bytes.data() + im.offset, {n, 1, h, w}, torch::kUInt8)
                 .to(torch::kFloat32)
                 .div_(255.0);
  d.labels = torch::from_blob(lb.bytes.data() + lb.offset, {n}, torch::kUInt8).to(torch::kInt64);
  const int64_t max_label = d.labels.max().item<int64_t>();
  check_input(max_label < 10, labels_gz, "labels 0..9", "label " + std::to_string(max_label));
  d.class_names = fashion_mnist_classes();
  d.source = images_gz;
  return d;
}

}  // namespace foil
