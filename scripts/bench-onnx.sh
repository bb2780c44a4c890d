#!/usr/bin/env bash
# Speed of ONNX models in foil next to PyTorch eager on the same architecture, same batch and
# threads: forward and forward+backward (input gradient), medians. Uses the test fixtures that
# the build exports (build/tests/fixtures/onnx, torchvision architectures, random weights).
#   scripts/bench-onnx.sh [REPEATS] [BATCH] [THREADS] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
repeats=${1:-10}
batch=${2:-8}
threads=${3:-$(nproc)}
out=${4:-$root/out/bench-onnx}
fixtures=$root/build/tests/fixtures/onnx
assets=${FOIL_ASSETS:-$root/assets}
mkdir -p "$out/photos/all"
# A batch of real photos (repeated up to BATCH), resized by foil to each model's input.
photos=("$assets"/photos/*.jpg "$assets"/photos/*.png)
for ((i = 0; i < batch; i++)); do
  cp "${photos[i % ${#photos[@]}]}" "$out/photos/all/$i.${photos[i % ${#photos[@]}]##*.}"
done
export FOIL_PROGRESS=0
printf '%-20s %10s %10s %8s %12s %12s %8s\n' model "foil fwd" "torch fwd" ratio \
  "foil fwd+bwd" "torch f+b" ratio
for name in resnet18 mobilenet_v2 mobilenet_v3_small efficientnet_b0 squeezenet1_1 \
            shufflenet_v2_x0_5 densenet121 vit_b_16; do
  "$root/build/foil" bench --model-only --model "$fixtures/$name.onnx" --threads "$threads" \
    --data "$out/photos" --batch "$batch" --repeats "$repeats" \
    --json "$out/$name-foil.json" >/dev/null
  /usr/bin/python3 "$root/scripts/bench_onnx_pytorch.py" "$name" "$batch" "$threads" \
    "$repeats" "$out/$name-torch.json" 2>/dev/null
  /usr/bin/python3 -c "
import json
f = json.load(open('$out/$name-foil.json')); t = json.load(open('$out/$name-torch.json'))
print(f\"{'$name':20} {f['forward_ms']:10.1f} {t['forward_ms']:10.1f} \"
      f\"{f['forward_ms'] / t['forward_ms']:8.2f} {f['forward_backward_ms']:12.1f} \"
      f\"{t['forward_backward_ms']:12.1f} {f['forward_backward_ms'] / t['forward_backward_ms']:8.2f}\")"
done
echo "(ms, batch $batch, $threads threads, median of $repeats; ratio = foil / PyTorch eager)"
