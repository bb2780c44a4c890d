// libFuzzer driver for one target of targets.h, chosen at build time (FOIL_FUZZ_TARGET).
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const foil::fuzz::Entry entry = [] {
    for (const auto& t : foil::fuzz::targets())
      if (std::strcmp(t.name, FOIL_FUZZ_TARGET) == 0) return t.entry;
    std::fprintf(stderr, "no fuzz target %s\n", FOIL_FUZZ_TARGET);
    std::abort();
  }();
  return entry(data, size);
}
