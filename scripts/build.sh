#!/usr/bin/env bash
# Installs the Debian dependencies and the npm assets (once) and builds foil and its tests into
# build/ (Release, ccache). With arguments, builds only those targets.
# FOIL_RUN_ONLY=1 (scripts/audit.sh): only the packages that building and running foil need,
# no npm assets, and the test suite left out of the configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${FOIL_RUN_ONLY:-0}" = 1 ]; then
  bash scripts/install-deps.sh --run
  tests=OFF
else
  bash scripts/install-deps.sh
  bash scripts/fetch-assets.sh
  tests=ON
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFOIL_BUILD_TESTS=$tests >/dev/null
if [ $# -gt 0 ]; then
  cmake --build build -j"$(nproc)" --target "$@"
else
  cmake --build build -j"$(nproc)"
fi
