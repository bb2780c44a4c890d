#pragma once
/// @file
/// Files foil writes and reads without harming what is there: an output only ever replaces a
/// regular file (never a device, FIFO, socket or folder), appears whole or not at all, and a
/// file read from a results or model folder is a regular file of bounded size inside it.

#include <cstddef>
#include <cstdint>
#include <string>

namespace at {
class Tensor;
}

namespace foil {

/// `word` (a path, a flag's value) as a POSIX shell reads it back: in single quotes when it is
/// empty or holds a space, quote, `$`, `\`, `;`, `&`, `|`, `<`, `>`, `*`, `?` or a parenthesis.
std::string shell_quoted(const std::string& word);

/// What is at `path` when it is not something foil may replace ("a FIFO", "a device", "a
/// socket", "a folder", "a link to a folder", ...); "" for a regular file, a link to one, or
/// nothing there. Links are followed: `--json LINK` writes where the link points.
std::string unreplaceable_kind(const std::string& path);

/// Throws InputError("`what` `path`: expected a regular file or a new name, got a FIFO")
/// unless unreplaceable_kind(path) is "".
void check_replaceable(const std::string& path, const std::string& what);

/// Writes `bytes` to `path` through a temporary file beside it, renamed over `path` in one
/// step, so a reader sees the old or the new file, never half of one. Refuses (InputError)
/// a `path` that check_replaceable refuses; the temporary file never outlives a failure.
void write_file_atomically(const std::string& path, const std::string& bytes);

/// Renames the finished temporary file `tmp` over `path` (checked as above); removes `tmp`
/// when that fails. A link at `path` is itself replaced, never written through. For writers
/// that must write the temporary file themselves (torch::save, OpenCV).
void replace_with(const std::string& tmp, const std::string& path);

/// The bytes of the regular file `name` directly inside folder `dir`, for pages and resumes
/// that must stay inside their folder: a link, FIFO, device or folder is an InputError, and
/// so is a file larger than `max_bytes`. Opens without following links and without blocking.
std::string read_folder_file(const std::string& dir, const std::string& name, int64_t max_bytes);

/// A 64-bit FNV-1a digest of `size` bytes, as 16 hex digits: tells whether a resumed or
/// reused piece of work was made from the same inputs (not a cryptographic hash).
std::string digest(const void* bytes, size_t size, uint64_t seed = 0);

/// The digest of a tensor's values (copied to the CPU, contiguous).
std::string tensor_digest(const at::Tensor& t);

/// The digest of a model file's contents; for a TF.js `model.json`, of it and every `.bin`
/// weight shard in its folder. Throws InputError when a file cannot be read.
std::string model_file_digest(const std::string& path);

}  // namespace foil
