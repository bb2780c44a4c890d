#!/usr/bin/env bash
# Fuzzes one parser of untrusted input with libFuzzer (clang; AddressSanitizer and
# UndefinedBehaviorSanitizer on), starting from the seed corpus in fuzz/corpus/TARGET.
#   scripts/fuzz.sh TARGET SECONDS
# Targets: idx image tfjs onnx foil-model patch pose spec report (fuzz/targets.cpp). The build lives in
# build-fuzz/; inputs found to be new are kept in build-fuzz/corpus/TARGET and crashes as
# build-fuzz/crash-TARGET-*. To replay one: build-fuzz/fuzz-TARGET FILE. The normal test
# suite replays the seed corpus through the same entry points (tests/fuzz/corpus_test.cpp).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS (idx image tfjs onnx foil-model patch pose spec report)}
seconds=${2:-60}
[ -d "fuzz/corpus/$target" ] || { echo "fuzz.sh: no target '$target'" >&2; exit 2; }
bash scripts/install-deps.sh --fuzz
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=vptr -fno-sanitize-recover=undefined"
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOIL_FUZZ=ON -DFOIL_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-fuzz --target "fuzz-$target" -j"$(nproc)"
mkdir -p "build-fuzz/corpus/$target"
# LibTorch is not instrumented and keeps allocations until exit: no leak reports.
ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
  "build-fuzz/fuzz-$target" "build-fuzz/corpus/$target" "fuzz/corpus/$target" \
  -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 -timeout=30 \
  -artifact_prefix="build-fuzz/crash-$target-" -print_final_stats=1
