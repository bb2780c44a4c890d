#!/usr/bin/env bash
# Assets of the TensorFlow.js importer's tests and demos, all from package registries, never
# at run time:
#   $FOIL_ASSETS/human/models/   the @vladmandic/human 3.3.6 graph models (npm pack, checked
#                                against the registry's sha512)
#   $FOIL_ASSETS/photos/         real photographs from Debian's opencv-doc and python3-skimage
#   tools/tfjs-reference/node_modules   the pure-JavaScript TensorFlow.js reference runtime
# FOIL_ASSETS defaults to assets/ in the checkout. Safe to run again.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
assets=${FOIL_ASSETS:-$root/assets}
human=@vladmandic/human@3.3.6
integrity=sha512-Nr5mPfq1gQ+uKeXY5uM3Fj8UxvF5CEh2s6txM5wRThqaW0mF9huooOuZSrT8hhGho0hGaXLFdAwfD/2+teCv6A==
mkdir -p "$assets/human" "$assets/photos"

if [ ! -f "$assets/human/models/movenet-lightning.json" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-assets: npm pack $human" >&2
  (cd "$tmp" && npm pack --silent "$human" >/dev/null 2>&1)
  got="sha512-$(openssl dgst -sha512 -binary "$tmp"/vladmandic-human-3.3.6.tgz | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "fetch-assets: $human tarball has integrity $got, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "$tmp"/vladmandic-human-3.3.6.tgz -C "$assets/human" --strip-components=1 \
    package/models package/LICENSE package/package.json
fi

if [ ! -d "$root/tools/tfjs-reference/node_modules/@tensorflow/tfjs-converter" ]; then
  echo "fetch-assets: npm ci (TensorFlow.js reference runtime)" >&2
  (cd "$root/tools/tfjs-reference" && npm ci --silent --no-audit --no-fund >/dev/null 2>&1)
fi

for f in /usr/share/doc/opencv-doc/examples/data/messi5.jpg \
         /usr/share/doc/opencv-doc/examples/data/basketball1.png \
         /usr/lib/python3/dist-packages/skimage/data/astronaut.png; do
  if [ ! -f "$f" ]; then
    echo "fetch-assets: $f is missing (scripts/install-deps.sh installs opencv-doc and python3-skimage)" >&2
    exit 1
  fi
  ln -sf "$f" "$assets/photos/$(basename "$f")"
done
