// Replays every file of the fuzz seed corpus (fuzz/corpus/<target>/) through its fuzz entry
// point: a parser change that crashes, or throws anything but InputError, fails here without
// a clang fuzzing build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

TEST(FuzzCorpus, EveryTargetHasSeedsAndEverySeedIsHandled) {
  for (const auto& target : foil::fuzz::targets()) {
    const fs::path dir = fs::path(FOIL_FUZZ_CORPUS) / target.name;
    ASSERT_TRUE(fs::is_directory(dir)) << dir;
    int files = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      std::ifstream in(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)), {});
      SCOPED_TRACE(entry.path().string());
      EXPECT_NO_THROW(target.entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
      ++files;
    }
    EXPECT_GE(files, 2) << target.name << ": a seed corpus needs valid and invalid examples";
  }
}
