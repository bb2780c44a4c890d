#!/usr/bin/env bash
# foil's main job from a fresh machine: dependencies, build, then `foil audit` (with no
# arguments it audits the built-in Fashion-MNIST CNN, training it on first use).
# Extra arguments go to `foil audit`, e.g. scripts/audit.sh --model m.pt --data imgs/
set -euo pipefail
cd "$(dirname "$0")/.."
FOIL_RUN_ONLY=1 bash scripts/build.sh foil >&2
exec build/foil audit "$@"
