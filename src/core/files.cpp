// Outputs that never replace what they must not, and reads that stay inside their folder.
#include "foil/core/files.h"

#include <ATen/core/Tensor.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "foil/core/error.h"

namespace foil {
namespace fs = std::filesystem;

namespace {

std::string kind_of(const fs::file_status& s) {
  switch (s.type()) {
    case fs::file_type::directory:
      return "a folder";
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::character:
      return "a character device";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::regular:
    case fs::file_type::not_found:
      return "";
    default:
      return "a special file";
  }
}

}  // namespace

std::string shell_quoted(const std::string& word) {
  if (!word.empty() && word.find_first_of(" \t'\"$\\;&|<>*?()") == std::string::npos) return word;
  std::string quoted = "'";
  for (char ch : word) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return quoted + "'";
}

std::string unreplaceable_kind(const std::string& path) {
  std::error_code ec;
  const fs::file_status link = fs::symlink_status(path, ec);
  if (link.type() == fs::file_type::not_found) return "";
  const fs::file_status target = fs::status(path, ec);
  if (fs::is_symlink(link) && target.type() == fs::file_type::not_found) return "a link to nothing";
  const std::string kind = kind_of(target);
  return kind.empty() || !fs::is_symlink(link) ? kind : "a link to " + kind;
}

void check_replaceable(const std::string& path, const std::string& what) {
  const std::string kind = unreplaceable_kind(path);
  if (!kind.empty())
    throw InputError(what + " " + path + ": expected a regular file or a new name, got " + kind);
}

void replace_with(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  try {
    check_replaceable(path, "output");
    // A link of that name is replaced itself: what it names (a model, a data image, a file
    // elsewhere) is never written through it.
    fs::rename(tmp, path);
  } catch (...) {
    fs::remove(tmp, ec);
    throw;
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  check_replaceable(path, "output");
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) throw InputError(path + ": cannot write (check the folder exists and is writable)");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw InputError(path + ": write failed");
    }
  }
  replace_with(tmp, path);
}

std::string read_folder_file(const std::string& dir, const std::string& name, int64_t max_bytes) {
  const std::string path = (fs::path(dir) / name).string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP)
      throw InputError(path + ": expected a file of this folder, got a link (not followed)");
    throw InputError(path + ": cannot open (" + std::strerror(err) + ")");
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw InputError(path + ": expected a regular file, got " + kind_of(fs::status(path)) +
                     " (not read)");
  if (st.st_size > max_bytes)
    throw InputError(path + ": expected at most " + std::to_string(max_bytes >> 20) + " MiB, got " +
                     std::to_string(st.st_size >> 20) + " MiB (not read)");
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

std::string digest(const void* bytes, size_t size, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  const auto* b = static_cast<const unsigned char*>(bytes);
  for (size_t i = 0; i < size; ++i) h = (h ^ b[i]) * 0x100000001b3ULL;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

std::string tensor_digest(const at::Tensor& t) {
  const at::Tensor c = t.detach().cpu().contiguous();
  return digest(c.data_ptr(), c.numel() * c.element_size(), static_cast<uint64_t>(c.numel()));
}

std::string model_file_digest(const std::string& path) {
  auto file = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw InputError(p.string() + ": cannot read");
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return digest(bytes.data(), bytes.size());
  };
  std::string all = file(path);
  if (fs::path(path).extension() == ".json") {
    std::vector<fs::path> shards;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(
             fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path(),
             ec))
      if (e.path().extension() == ".bin" && e.is_regular_file()) shards.push_back(e.path());
    std::sort(shards.begin(), shards.end());
    for (const auto& s : shards) all += s.filename().string() + file(s);
  }
  return digest(all.data(), all.size());
}

}  // namespace foil
