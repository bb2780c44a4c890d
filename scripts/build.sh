#!/usr/bin/env bash
# Installs the Debian dependencies and the npm assets (once) and builds foil into build/
# (Release, ccache). With arguments, builds only those targets (scripts/audit.sh: foil).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-assets.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
if [ $# -gt 0 ]; then
  cmake --build build -j"$(nproc)" --target "$@"
else
  cmake --build build -j"$(nproc)"
fi
