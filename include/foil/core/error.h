#pragma once
/// @file
/// Errors thrown by the foil library.
///
/// Library code throws; only the CLI prints and chooses exit codes. `InputError` means the
/// user gave something wrong (a path, a file, a shape, an option) and maps to exit code 2;
/// any other exception maps to exit code 1.

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace foil {

/// Bad input from the user: the message names what was wrong and what was expected, on
/// one line. Example: `throw InputError("--eps: expected a value >= 0, got -1")`.
class InputError : public std::runtime_error {
 public:
  /// `what`: the one-line message.
  explicit InputError(const std::string& what) : std::runtime_error(what) {}
};

/// Throws InputError(`what`: expected `expected`, got `got`) unless `ok`.
inline void check_input(bool ok, const std::string& what, const std::string& expected,
                        const std::string& got) {
  if (!ok) throw InputError(what + ": expected " + expected + ", got " + got);
}

/// A decimal integer made of digits only (an optional leading '-' when `negative_ok`), or
/// nothing when `text` is not one or does not fit in 64 bits.
inline std::optional<int64_t> parse_integer(const std::string& text, bool negative_ok = false) {
  const size_t first = negative_ok && !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() == first || text.find_first_not_of("0123456789", first) != std::string::npos)
    return std::nullopt;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE) return std::nullopt;
  return v;
}

/// A finite number written in decimal ("0.1", "-2", "1e-3"), or nothing: no hex ("0x10"),
/// no "inf"/"nan", no trailing characters. How foil reads every number a user gives.
inline std::optional<double> parse_decimal(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !(v - v == 0)) return std::nullopt;
  return v;
}

/// The items of a comma-separated list given with `flag`; an empty list, an empty item
/// ("a,,b", "a,") throws InputError naming the flag.
inline std::vector<std::string> split_list(const std::string& text, const std::string& flag) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? comma : comma - start);
    check_input(!item.empty(), flag, "a comma-separated list without empty items",
                "'" + text + "'");
    out.push_back(item);
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

/// The first line of `text`, at most `max` characters: keeps messages from libraries
/// (LibTorch, OpenCV) on one line.
inline std::string first_line(const std::string& text, size_t max = 160) {
  std::string line = text.substr(0, text.find('\n'));
  return line.size() > max ? line.substr(0, max) + "..." : line;
}

/// The informative line of an exception from LibTorch: TorchScript interpreter errors put
/// the cause last ("RuntimeError: ..."), others first.
inline std::string library_message(const std::string& text, size_t max = 200) {
  const std::string key = "RuntimeError: ";
  const auto at = text.rfind(key);
  return first_line(at == std::string::npos ? text : text.substr(at + key.size()), max);
}

}  // namespace foil
