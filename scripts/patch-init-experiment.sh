#!/usr/bin/env bash
# The patch-strength measurement of issue #10 item 10: a free square patch trained as IBM ART's
# AdversarialPatchPyTorch is usually run (15% area, rotation +-10 deg and nothing else, Adam lr
# 0.1, batch 100, 10 passes over 1000 training images, one target class), evaluated on 1000
# held-out test images at random placements; once from ART's grey start (foil's default now)
# and once from foil's former uniform random start.
# Usage: scripts/patch-init-experiment.sh MODEL.foil [OUT_DIR] [TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: patch-init-experiment.sh MODEL.foil [OUT_DIR] [TARGET]} out=${2:-patch-init} target=${3:-8}
mkdir -p "$out"
for init in grey random; do
  echo "== init $init"
  /usr/bin/time -f "%e s wall" build/foil patch train --model "$model" --data fashion-mnist:train:1000 \
    --eval-data fashion-mnist:test:1000 --param free --area 0.15 --eot --rotation 10 --scale 1,1 \
    --brightness 0 --contrast 1,1 --noise 0 --tilt 0 --optimizer adam --lr 0.1 --batch 100 \
    --epochs 10 --target "$target" --init "$init" --no-resume --out "$out/$init"
done
