#pragma once
/// @file
/// Process-wide memory allocator settings for LibTorch on the CPU.

namespace foil {

/// Makes glibc's malloc keep freed memory in the process: no separate mapping per large
/// block (`M_MMAP_MAX` 0) and no return to the system while less than 1 GiB is free at the
/// top of the heap (`M_TRIM_THRESHOLD`). Without it every large tensor of a forward or
/// backward pass is a fresh mapping whose pages the kernel faults in and zeroes again: the
/// backward pass of a ResNet-18 on the CPU ran 2.7x slower (see README, "Speed"). The peak
/// memory stays about the same; freed memory is reused instead of returned. Call once at
/// start-up, before the work (the foil CLI and the test runner do); a no-op without glibc.
/// Returns whether the settings were applied.
bool keep_freed_memory();

}  // namespace foil
