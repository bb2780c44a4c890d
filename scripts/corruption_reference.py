#!/usr/bin/env python3
"""foil's common corruptions against the benchmark's definitions, on real photographs.

Usage: /usr/bin/python3 scripts/corruption_reference.py FOIL_BINARY OUT_DIR [PHOTO ...]

Each photo is cropped to its centre square and resized to 224x224 (the ImageNet-C table),
written to OUT_DIR/photos, and corrupted by `foil corrupt` at severities 1-5. The
corruptions are then computed here from the definitions of Hendrycks & Dietterich's reference
code (hendrycks/robustness, imagenet_c/corruptions.py), written anew with numpy, scipy,
scikit-image and PIL (no OpenCV or ImageMagick in Python here):

- deterministic ones (gaussian_blur, defocus_blur, zoom_blur, contrast, brightness, saturate,
  pixelate, jpeg_compression): the mean |foil - reference| per pixel value (0..1); foil's
  PNGs are rounded to 1/255, so 0.001 is the floor;
- random ones (the noises, glass_blur, motion_blur, fog): their draws differ, so the ratio of
  the mean |change| each makes to the photo (1.00 = the same strength).

Prints one table and writes OUT_DIR/reference.json.
"""
import io
import json
import math
import os
import subprocess
import sys

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import color, filters, util

SIDE = 224
rng = np.random.default_rng(0)


def gaussian(x, sigma):
    return filters.gaussian(x, sigma=sigma, channel_axis=-1)


def centre_zoom(x, z):
    h = x.shape[0]
    ch = int(np.ceil(h / z))
    top = (h - ch) // 2
    out = ndimage.zoom(x[top:top + ch, top:top + ch], (z, z, 1), order=1)
    trim = (out.shape[0] - h) // 2
    return out[trim:trim + h, trim:trim + h]


def disk(radius, alias):
    half = 8 if radius <= 8 else int(radius)
    grid = np.arange(-half, half + 1)
    xx, yy = np.meshgrid(grid, grid)
    d = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float64)
    d /= d.sum()
    k = 3 if radius <= 8 else 5
    t = np.arange(k) - k // 2
    g = np.exp(-t ** 2 / (2 * alias ** 2))
    g /= g.sum()
    return ndimage.correlate(d, np.outer(g, g), mode="mirror")


def plasma(n, decay):
    m = np.zeros((n, n))
    step, wib = n, 100.0
    while step >= 2:
        h = step // 2
        c = m[0:n:step, 0:n:step]
        sq = c + np.roll(c, -1, 0)
        sq = sq + np.roll(sq, -1, 1)
        m[h:n:step, h:n:step] = sq / 4 + wib * rng.uniform(-wib, wib, sq.shape)
        dr = m[h:n:step, h:n:step]
        ul = m[0:n:step, 0:n:step]
        lt = dr + np.roll(dr, 1, 0) + ul + np.roll(ul, -1, 1)
        tt = dr + np.roll(dr, 1, 1) + ul + np.roll(ul, -1, 0)
        m[0:n:step, h:n:step] = lt / 4 + wib * rng.uniform(-wib, wib, lt.shape)
        m[h:n:step, 0:n:step] = tt / 4 + wib * rng.uniform(-wib, wib, tt.shape)
        step //= 2
        wib /= decay
    m -= m.min()
    return m / m.max()


def shift_blur(x, radius, sigma, angle):
    width = 2 * radius + 1
    k = np.exp(-np.arange(width) ** 2 / (2 * sigma ** 2))
    k /= k.sum()
    py, px = width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle))
    hyp = math.hypot(py, px)
    out = np.zeros_like(x)
    pad = np.pad(x, ((width, width), (width, width), (0, 0)), mode="edge")
    for i in range(width):
        dy = -math.ceil(i * py / hyp - 0.5)
        dx = -math.ceil(i * px / hyp - 0.5)
        out += k[i] * pad[width - dy:width - dy + x.shape[0], width - dx:width - dx + x.shape[1]]
    return out


def pil(x):
    return Image.fromarray(np.uint8(np.round(np.clip(x, 0, 1) * 255)))


def box(x, c):
    p = pil(x).resize((int(SIDE * c), int(SIDE * c)), Image.BOX).resize((SIDE, SIDE), Image.BOX)
    return np.asarray(p) / 255.0


def jpeg(x, q):
    buf = io.BytesIO()
    pil(x).save(buf, "JPEG", quality=q)
    return np.asarray(Image.open(buf)) / 255.0


def hsv(x, channel, f):
    h = color.rgb2hsv(x)
    h[..., channel] = np.clip(f(h[..., channel]), 0, 1)
    return color.hsv2rgb(h)


def glass(x, sigma, delta, iterations):
    q = np.uint8(gaussian(x, sigma) * 255)
    for _ in range(iterations):
        for h in range(SIDE - delta, delta, -1):
            for w in range(SIDE - delta, delta, -1):
                dx, dy = rng.integers(-delta, delta, size=2)
                q[h, w] = q[h + dy, w + dx]  # what the reference's swap of views does
    return gaussian(q / 255.0, sigma)


DETERMINISTIC = {
    "gaussian_blur": lambda x, s: gaussian(x, [1, 2, 3, 4, 6][s - 1]),
    "defocus_blur": lambda x, s: np.stack([ndimage.correlate(
        x[..., d], disk(*[(3, .1), (4, .5), (6, .5), (8, .5), (10, .5)][s - 1]), mode="mirror")
        for d in range(3)], -1),
    "zoom_blur": lambda x, s: (x + sum(centre_zoom(x, z) for z in [
        np.arange(1, 1.11, .01), np.arange(1, 1.16, .01), np.arange(1, 1.21, .02),
        np.arange(1, 1.26, .02), np.arange(1, 1.31, .03)][s - 1])) / (len([
            np.arange(1, 1.11, .01), np.arange(1, 1.16, .01), np.arange(1, 1.21, .02),
            np.arange(1, 1.26, .02), np.arange(1, 1.31, .03)][s - 1]) + 1),
    "contrast": lambda x, s: (x - x.mean((0, 1))) * [.4, .3, .2, .1, .05][s - 1] + x.mean((0, 1)),
    "brightness": lambda x, s: hsv(x, 2, lambda v: v + [.1, .2, .3, .4, .5][s - 1]),
    "saturate": lambda x, s: hsv(x, 1, lambda v: v * [.3, .1, 2, 5, 20][s - 1] +
                                 [0, 0, 0, .1, .2][s - 1]),
    "pixelate": lambda x, s: box(x, [.6, .5, .4, .3, .25][s - 1]),
    "jpeg_compression": lambda x, s: jpeg(x, [25, 18, 15, 10, 7][s - 1]),
}
RANDOM = {
    "gaussian_noise": lambda x, s: x + rng.normal(size=x.shape, scale=[.08, .12, .18, .26, .38][s - 1]),
    "shot_noise": lambda x, s: rng.poisson(x * [60, 25, 12, 5, 3][s - 1]) / [60, 25, 12, 5, 3][s - 1],
    "impulse_noise": lambda x, s: util.random_noise(x, mode="s&p", amount=[.03, .06, .09, .17, .27][s - 1]),
    "speckle_noise": lambda x, s: x + x * rng.normal(size=x.shape, scale=[.15, .2, .35, .45, .6][s - 1]),
    "glass_blur": lambda x, s: glass(x, *[(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][s - 1]),
    "motion_blur": lambda x, s: shift_blur(x, *[(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][s - 1],
                                           rng.uniform(-45, 45)),
    "fog": lambda x, s: (x + [1.5, 2, 2.5, 2.5, 3][s - 1] * plasma(256, [2, 2, 1.7, 1.5, 1.4][s - 1])[
        :SIDE, :SIDE, None]) * x.max() / (x.max() + [1.5, 2, 2.5, 2.5, 3][s - 1]),
}


def main():
    foil, out = sys.argv[1], sys.argv[2]
    photos = sys.argv[3:]
    src = os.path.join(out, "photos")
    os.makedirs(src, exist_ok=True)
    for i, p in enumerate(photos):
        im = Image.open(p).convert("RGB")
        s = min(im.size)
        l, t = (im.size[0] - s) // 2, (im.size[1] - s) // 2
        im.crop((l, t, l + s, t + s)).resize((SIDE, SIDE), Image.BICUBIC).save(
            os.path.join(src, "%02d.png" % i))
    names = list(DETERMINISTIC) + list(RANDOM)
    subprocess.run([foil, "corrupt", "--data", src, "--corruptions", ",".join(names),
                    "--severities", "1-5", "--out", os.path.join(out, "foil")], check=True,
                   stdout=subprocess.DEVNULL)
    files = sorted(os.listdir(src))
    table = {}
    for name in names:
        row = []
        for s in range(1, 6):
            folder = os.path.join(out, "foil", "%s-%d" % (name, s))
            got = sorted(os.listdir(folder))
            vals = []
            for f, g in zip(files, got):
                x = np.asarray(Image.open(os.path.join(src, f))) / 255.0
                y = np.asarray(Image.open(os.path.join(folder, g)).convert("RGB")) / 255.0
                if name in DETERMINISTIC:
                    ref = np.clip(DETERMINISTIC[name](x, s), 0, 1)
                    vals.append(np.abs(y - ref).mean())
                else:
                    ref = np.clip(RANDOM[name](x, s), 0, 1)
                    vals.append(np.abs(y - x).mean() / max(np.abs(ref - x).mean(), 1e-12))
            row.append(float(np.mean(vals)))
        table[name] = row
        kind = "mean |foil - ref|" if name in DETERMINISTIC else "change foil/ref"
        print("%-18s %-18s %s" % (name, kind, "  ".join("%.4f" % v for v in row)))
    json.dump({"photos": photos, "side": SIDE, "table": table}, open(
        os.path.join(out, "reference.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
