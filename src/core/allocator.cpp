#include "foil/core/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace foil {

bool keep_freed_memory() {
#if defined(__GLIBC__)
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
#else
  return false;
#endif
}

}  // namespace foil
