#!/usr/bin/env bash
# The region and defence measurements of the closing notes: IoU(RoI, RoA) and confined-
# perturbation accuracy for FGSM and PGD on the CNN and the residual CNN, and the
# neutralisation defence against non-adaptive and adaptive PGD.
# Usage: scripts/regions-experiments.sh ZOO_DIR [OUT_DIR]   (ZOO_DIR from train-zoo.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
zoo=${1:?usage: regions-experiments.sh ZOO_DIR [OUT_DIR]} out=${2:-regions-results}
mkdir -p "$out"
for m in cnn resnet; do
  for a in fgsm pgd; do
    echo "== $m $a"
    steps=()  # FGSM takes one step of eps: it reads neither flag
    [ $a = pgd ] && steps=(--alpha 0.025 --steps 10)
    build/foil regions --model "$zoo/$m.foil" --data fashion-mnist:test:1000 --attack $a \
      --eps 0.1 "${steps[@]}" --out "$out/$m-$a"
  done
done
for fill in blur median; do
  echo "== defend cnn $fill"
  build/foil defend --model "$zoo/cnn.foil" --data fashion-mnist:test:1000 --fill $fill \
    --eps 0.05 --alpha 0.0125 --steps 10 --json "$out/defend-cnn-$fill.json"
done
