#!/usr/bin/env bash
# Builds the library, the CLI and the unit tests with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc) in build-asan/ and runs the whole test suite there.
#   scripts/sanitize.sh [CTEST ARGS...]   e.g. scripts/sanitize.sh -R 'Cli|Fuzz'
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-assets.sh
flags="-fsanitize=address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-asan -j"$(nproc)"
# LibTorch is not instrumented and keeps allocations until exit: no leak reports.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1
# The package tests build a consumer of the installed library without the sanitizer runtime
# (they test installation, not code): left out here, run by scripts/test.sh.
ctest --test-dir build-asan -j"$(nproc)" --output-on-failure --timeout 3600 -E '^package_' "$@"
