#!/usr/bin/env bash
# Installs the Debian dependencies and the npm assets (once) and builds foil into build/ (Release, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-assets.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
