#!/usr/bin/env bash
# The whole test suite from a fresh machine: dependencies, build, then every test via CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build -j"$(nproc)" --output-on-failure --timeout 900
