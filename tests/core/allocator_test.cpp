// The CLI's allocator settings: large tensors come from the heap and stay there when freed.
#include <gtest/gtest.h>
#include <torch/torch.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "foil/core/allocator.h"

namespace foil {
namespace {

TEST(Allocator, LargeTensorsAreReusedNotMapped) {
#if !defined(__GLIBC__)
  GTEST_SKIP() << "glibc only";
#elif defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer replaces malloc: glibc's settings do not apply";
#else
  ASSERT_TRUE(keep_freed_memory());
  const size_t mapped_before = mallinfo2().hblkhd;
  {
    // 128 MiB: above glibc's default threshold (128 KiB, adapting up to 32 MiB) for a mapping.
    const torch::Tensor t = torch::ones({32, 1024, 1024});
    EXPECT_EQ(t.sum().item<double>(), 32.0 * 1024 * 1024);
    EXPECT_EQ(mallinfo2().hblkhd, mapped_before);  // not a separate mapping
  }
  EXPECT_GE(mallinfo2().fordblks, size_t{128} << 20);  // freed, kept for the next tensor
#endif
}

}  // namespace
}  // namespace foil
