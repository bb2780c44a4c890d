#!/usr/bin/env bash
# API reference: Debian's doxygen over the `///` comments of foil's public headers into
# build/docs/html (open build/docs/html/index.html). Fails on any warning, among them an
# undocumented public type, function or member.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v doxygen >/dev/null || bash scripts/install-deps.sh
mkdir -p build/docs
doxygen docs/Doxyfile
echo "docs: build/docs/html/index.html"
