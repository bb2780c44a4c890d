#!/usr/bin/env python3
"""The real-image corpus of docs/seeds.md, from Debian packages, split and listed.

    scripts/corpus.py [OUT]          (default: out/corpus)

Writes OUT/manifest.csv (one row per video frame and per photo: source package, file, frame,
split, and the foil data spec that reads exactly that item), OUT/photos/PACKAGE/ (links to the
photos, so a folder is a data spec) and OUT/README.md. Videos are not extracted: foil reads
frames in place with a video spec (`clip.avi:every=N:frames=A-B`), so the manifest gives the
spec of each frame and the splits as frame ranges. The splits are by time and fixed here
before any result: vtest.avi frames 0-559 train, 560-599 a gap (no held-out frame is a
neighbour of a training frame), 600- held out; Megamind.avi is another clip (evaluation
only); the photos are never trained on by scripts/seeds-at-scale.sh. None of these items
carries a label: foil labels an item with the first model's clean prediction.
"""
import csv
import os
import struct
import sys

OPENCV = "/usr/share/doc/opencv-doc/examples/data"
SOURCES = [  # package, folder, what is taken
    ("opencv-doc", OPENCV, "photos"),
    ("python3-skimage", "/usr/lib/python3/dist-packages/skimage/data", "photos"),
    ("darknet", "/usr/share/darknet/data", "photos"),
]
VIDEOS = [  # file, (split, first, last) by time
    ("vtest.avi", [("train", 0, 559), ("gap", 560, 599), ("held-out", 600, None)]),
    ("Megamind.avi", [("other-clip", 0, None)]),
    ("tree.avi", [("unused", 0, None)]),
]
PHOTO_EXT = (".jpg", ".jpeg", ".png")


def avi_frames(path):
    """Video chunks ('##dc'/'##db') in the AVI's 'movi' list (the frames a reader decodes; the
    main header's frame count can disagree), or None when it is not a RIFF AVI."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"AVI ":
        return None

    def walk(at, end):
        frames = 0
        while at + 8 <= end:
            cid, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
            if cid == b"LIST":
                frames += walk(at + 12, min(end, at + 8 + size))
            elif cid[2:] in (b"dc", b"db") and size > 0:  # empty: a repeated frame
                frames += 1
            at += 8 + size + (size & 1)
        return frames

    return walk(12, len(data))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "out", "corpus")
    if not os.path.isdir(OPENCV):
        sys.exit(f"corpus: {OPENCV} is missing (apt-get install opencv-doc)")
    os.makedirs(out, exist_ok=True)
    rows, counts = [], {}
    for name, splits in VIDEOS:
        path = os.path.join(OPENCV, name)
        total = avi_frames(path) if os.path.exists(path) else None
        if not total:
            print(f"corpus: {path}: not a readable AVI, left out", file=sys.stderr)
            continue
        for split, first, last in splits:
            last = total - 1 if last is None else min(last, total - 1)
            for frame in range(first, last + 1):
                rows.append(("opencv-doc", path, frame, split, f"{path}:frames={frame}-{frame}"))
            counts[f"{name} {split}"] = last - first + 1
    for package, folder, _ in SOURCES:
        if not os.path.isdir(folder):
            print(f"corpus: {folder} is missing ({package} not installed), left out",
                  file=sys.stderr)
            continue
        linked = os.path.join(out, "photos", package)
        os.makedirs(linked, exist_ok=True)
        photos = sorted(f for f in os.listdir(folder) if f.lower().endswith(PHOTO_EXT))
        for f in photos:
            link = os.path.join(linked, f)
            if not os.path.lexists(link):
                os.symlink(os.path.join(folder, f), link)
            rows.append((package, os.path.join(folder, f), "", "photo", link))
        counts[f"{package} photos"] = len(photos)
    with open(os.path.join(out, "manifest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["package", "file", "frame", "split", "spec"])
        w.writerows(rows)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("# The corpus (scripts/corpus.py)\n\n" + __doc__.split("\n\n", 2)[2] + "\n")
        f.write("| items | count |\n|---|---|\n")
        f.writelines(f"| {k} | {v} |\n" for k, v in counts.items())
    for k, v in counts.items():
        print(f"{k}: {v}")
    print(f"wrote {out}/manifest.csv ({len(rows)} items), photos/, README.md")


if __name__ == "__main__":
    main()
