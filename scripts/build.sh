#!/usr/bin/env bash
# Installs the Debian dependencies (once) and builds foil into build/ (Release, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
