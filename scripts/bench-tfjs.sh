#!/usr/bin/env bash
# Speed of TensorFlow.js graph and layers models in foil next to the pure-JavaScript TensorFlow.js runtime
# (tfjs-core + tfjs-backend-cpu, the reference) on this machine: forward and forward+backward
# in foil, forward in JavaScript, batch 1, medians. Needs build/ and scripts/fetch-assets.sh.
#   scripts/bench-tfjs.sh [REPEATS] [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${FOIL_ASSETS:-$root/assets}
repeats=${1:-20}
out=${2:-$root/out/bench-tfjs}
mkdir -p "$out"
export FOIL_PROGRESS=0
printf '%-20s %12s %18s %14s %12s %10s\n' model "foil fwd ms" "foil fwd+bwd ms" "foil 1-thread" "tfjs fwd ms" "tfjs/foil"
for spec in movenet-lightning:3,192,192:int32 emotion:1,64,64:float32 blazeface:3,256,256:float32 \
            movenet-thunder:3,256,256:int32 blazepose-lite:3,256,256:float32 \
            blazepose-full:3,256,256:float32 centernet:3,512,512:float32 \
            efficientpose:3,368,368:float32 gender:1,64,64:float32 gear:3,198,198:float32 \
            nsfw-mobilenet-v2:3,224,224:float32 nsfw-mobilenet-v2-mid:3,224,224:float32 \
            nsfw-inception-v3:3,299,299:float32; do
  IFS=: read -r name chw dtype <<<"$spec"
  IFS=, read -r c h w <<<"$chw"
  model="$assets/human/models/$name.json"
  [[ $name == nsfw-* ]] && model="$assets/nsfwjs/$name.json"
  "$root/build/foil" bench --model-only --model "$model" --data "$assets/photos/messi5.jpg" \
    --repeats "$repeats" --json "$out/$name-foil.json" >/dev/null 2>&1
  "$root/build/foil" bench --model-only --threads 1 --model "$model" \
    --data "$assets/photos/messi5.jpg" --repeats "$repeats" --json "$out/$name-foil1.json" \
    >/dev/null 2>&1
  # The JavaScript side times the same graph on an input of the same shape (zeros).
  head -c $((h * w * c * 4)) /dev/zero >"$out/zeros.bin"
  output=$(node -e "
    const j = require('$model'), t = j.modelTopology;
    if (t.model_config) { console.log(t.model_config.config.output_layers[0][0]); process.exit(0); }
    const s = j.signature || (j.userDefinedMetadata || {}).signature;
    console.log(s ? Object.values(s.outputs)[0].name : t.node[t.node.length - 1].name);")
  node "$root/tools/tfjs-reference/reference.js" "$model" "$out/zeros.bin" "1,$h,$w,$c" "$dtype" \
    "$out/$name-tfjs.json" "$output" --time "$repeats" 2>/dev/null
  node -e "
    const f = require('$out/$name-foil.json'), t = require('$out/$name-tfjs.json');
    const f1 = require('$out/$name-foil1.json');
    const ms = t.forward_ms.sort((a, b) => a - b)[Math.floor(t.forward_ms.length / 2)];
    console.log('$name'.padEnd(20), f.forward_ms.toFixed(2).padStart(12),
                f.forward_backward_ms.toFixed(2).padStart(18), f1.forward_ms.toFixed(2).padStart(14),
                ms.toFixed(2).padStart(12),
                (ms / f.forward_ms).toFixed(1).padStart(10));"
done
echo "(foil: LibTorch on $(nproc) threads, and on 1; tfjs-backend-cpu is single-threaded JavaScript;"
echo " tfjs/foil compares with foil's multi-threaded forward)"
