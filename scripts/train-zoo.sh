#!/usr/bin/env bash
# Trains the Fashion-MNIST zoo (the model set for transfer experiments) and the PGD
# adversarially trained CNN, then measures the CNN's robustness under PGD-20 Linf eps 0.1.
# Writes models and JSON histories to ${1:-zoo/}. Long: about 20-30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-zoo}
mkdir -p "$out"
foil=build/foil
for spec in mlp:10 cnn:8 resnet:6 mobilenet:6; do
  arch=${spec%%:*} epochs=${spec##*:}
  /usr/bin/time -f "$arch: %e s wall" $foil train --arch "$arch" --epochs "$epochs" \
    --out "$out/$arch.foil" --json "$out/$arch.json"
done
/usr/bin/time -f "cnn-pgd: %e s wall" $foil train --arch cnn --epochs 5 --adv-train pgd --eps 0.1 \
  --alpha 0.025 --steps 5 --out "$out/cnn-pgd.foil" --json "$out/cnn-pgd.json"
for m in cnn cnn-pgd; do
  $foil attack --model "$out/$m.foil" --attack pgd --eps 0.1 --alpha 0.01 --steps 20 \
    --json "$out/$m-pgd20.json"
done
