#pragma once
/// @file Fuzz entry points: one per parser of untrusted input. Each takes raw bytes, feeds
/// them to the parser as a user's file or text would arrive, and returns 0. A user error
/// (InputError) is the expected answer to bad bytes; any other exception, crash or
/// sanitizer report is a finding. Built into libFuzzer executables by scripts/fuzz.sh and
/// into the test executable, which replays the seed corpus in fuzz/corpus/<name>/.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace foil::fuzz {

using Entry = int (*)(const uint8_t* data, size_t size);

struct Target {
  const char* name;
  Entry entry;
};

/// idx, image, tfjs, onnx, foil-model, patch, pose, spec, report.
const std::vector<Target>& targets();

}  // namespace foil::fuzz
