#!/usr/bin/env python3
"""Writes the fuzz seed corpus (fuzz/corpus/<target>/): small valid inputs and a few broken
ones per parser. Standard library only. JPEG seeds are cut from a small JPEG given as the
first argument (the committed ones from CPython's test image Lib/test/imghdrdata/python.jpg);
the corpus is committed, so this runs only when the seeds change."""
import base64, json, os, shutil, struct, sys, zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
SEP = b"\n--foil-fuzz-part--\n"


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def png(w, h, channels, pixels):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    color = {1: 0, 3: 2}[channels]
    raw = b"".join(b"\0" + pixels[y * w * channels:(y + 1) * w * channels] for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def b64(s):
    return base64.b64encode(s.encode()).decode()


def tfjs_model(weights_shape=(1, 1, 1, 2), paths=("w.bin",)):
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}, "shape": {
            "shape": {"dim": [{"size": "1"}, {"size": "4"}, {"size": "4"}, {"size": "1"}]}}}},
        {"name": "w", "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "conv", "op": "Conv2D", "input": ["x", "w"], "attr": {
            "strides": {"list": {"i": ["1", "1", "1", "1"]}}, "padding": {"s": b64("SAME")},
            "data_format": {"s": b64("NHWC")}, "dilations": {"list": {"i": ["1", "1", "1", "1"]}}}},
        {"name": "out", "op": "Relu", "input": ["conv"]},
    ]
    manifest = [{"paths": list(paths), "weights": [
        {"name": "w", "shape": list(weights_shape), "dtype": "float32"}]}]
    return json.dumps({"format": "graph-model", "modelTopology": {"node": nodes},
                       "weightsManifest": manifest}).encode()


def varint(n):
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(number, value):
    """One protobuf field: an int (varint) or bytes/str (length-delimited)."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    value = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(value)) + value


def onnx_model(op="Relu", location=None):
    """A one-node ONNX model (field numbers of onnx.proto): y = op(x) on a 1x1x2x2 input, or
    y = x + w with w (one float) in an external data file at `location`."""
    dims = b"".join(field(1, field(1, d)) for d in (1, 1, 2, 2))
    value = lambda name: field(1, name) + field(2, field(1, field(1, 1) + field(2, dims)))
    inputs = ["x"] + (["w"] if location else [])
    node = b"".join(field(1, i) for i in inputs) + field(2, "y") + field(3, "n") + field(
        4, "Add" if location else op)
    graph = field(1, node) + field(2, "g") + field(11, value("x")) + field(12, value("y"))
    if location:
        graph += field(5, field(1, 1) + field(2, 1) + field(8, "w") + field(
            13, field(1, "location") + field(2, location)) + field(14, 1))
    return field(1, 7) + field(2, "fuzz") + field(7, graph) + field(8, field(1, "") + field(2, 13))


def main():
    shutil.rmtree(ROOT, ignore_errors=True)
    # idx: images, separator, labels (raw; gzip-compressed in one seed).
    images = idx(0x803, [2, 2, 2], bytes(range(8)))
    labels = idx(0x801, [2], b"\x01\x07")
    put("idx", "valid", images + SEP + labels)
    put("idx", "valid-gzip", gzip_bytes(images) + SEP + gzip_bytes(labels))
    put("idx", "huge-dims", idx(0x803, [0x10000, 0x10000, 0x10000], b"") + SEP + labels)
    put("idx", "wrong-magic", idx(0x802, [2, 2, 2], bytes(8)) + SEP + labels)
    put("idx", "short", images[:10] + SEP + labels)
    # image
    gray = png(4, 3, 1, bytes(range(0, 240, 20)))
    rgb = png(3, 2, 3, bytes(range(18)))
    put("image", "gray.png", gray)
    put("image", "rgb.png", rgb)
    put("image", "truncated.png", rgb[:len(rgb) - 20])
    put("image", "bmp-header-only", b"BM" + bytes(12))
    put("image", "garbage", b"not an image at all")
    if len(sys.argv) > 1:
        jpg = open(sys.argv[1], "rb").read()
        put("image", "small.jpg", jpg)
        put("image", "truncated.jpg", jpg[:len(jpg) // 2])
    # tfjs: model.json, separator, w.bin
    w = struct.pack("<2f", 0.5, -1.0)
    put("tfjs", "valid", tfjs_model() + SEP + w)
    put("tfjs", "short-shard", tfjs_model() + SEP + w[:4])
    put("tfjs", "traversal", tfjs_model(paths=("../../../../etc/passwd",)) + SEP + w)
    put("tfjs", "absolute", tfjs_model(paths=("/etc/hostname",)) + SEP + w)
    put("tfjs", "overflow", tfjs_model(weights_shape=(2**40, 2**40, 1, 1)) + SEP + w)
    put("tfjs", "not-json", b"{\"format\": " + SEP + w)
    # onnx: model.onnx, separator, model.onnx.data (external data)
    one = struct.pack("<f", 0.5)
    put("onnx", "valid", onnx_model() + SEP)
    put("onnx", "external", onnx_model(location="model.onnx.data") + SEP + one)
    put("onnx", "external-short", onnx_model(location="model.onnx.data") + SEP + b"\x00")
    put("onnx", "traversal", onnx_model(location="../../../../etc/hostname") + SEP + one)
    put("onnx", "unknown-op", onnx_model(op="Hardmax") + SEP)
    put("onnx", "truncated", onnx_model()[:-7] + SEP)
    put("onnx", "garbage", b"\x08\xff\xff\xff\xff\x0f:\x05junk" + SEP)
    # foil-model: the reader expects a torch archive; a zip with nothing foil in it and junk.
    put("foil-model", "empty-zip", b"PK\x05\x06" + bytes(18))
    put("foil-model", "garbage", b"\x80\x02not a pickle")
    # patch: patch.pt, separator, patch.json
    put("patch", "not-a-tensor", b"\x80\x02K\x01." + SEP + b'{"param": "pixel"}')
    put("patch", "bad-sidecar", b"junk" + SEP + b'{"param": 5, "cells": "x"}')
    put("patch", "no-sidecar", b"")
    # pose: a JSON list of [x, y] pairs for 11 keypoints in a 64x64 image
    put("pose", "valid", json.dumps([[10 + i, 20 + i] for i in range(11)]).encode())
    put("pose", "outside", json.dumps([[100, 1]] * 11).encode())
    put("pose", "wrong-count", b"[[1, 2]]")
    put("pose", "not-pairs", b'[1, "a", {"x": 1}, [1], [1, 2, 3]]')
    # spec: data specs, crops, number lists, --targeted values
    for i, s in enumerate(["fashion-mnist:test:5", "fashion-mnist:train:99999999999999999999999",
                           "pose:test:3", "photo.jpg@1,2,3,4", "0.5,0.25,nan", "least-likely",
                           "7", "-1", "fashion-mnist:tst", ":0", "@,,,"]):
        put("spec", "seed-%02d" % i, s.encode())
    report_seeds()


def report_seeds():
    """report: a results folder, as parts of a file name line and the file's bytes ("@NAME":
    a link to the path given, "|NAME": a FIFO)."""
    def folder(*files):
        return SEP.join(name.encode() + b"\n" + body for name, body in files)
    items = {"label": [0, 1, 2], "clean_pred": [0, 1, 1], "adv_pred": [1, 1, 0]}
    result = {"norm": "linf", "eps": 0.1, "robust_accuracy": 0.25, "seconds": 1.5,
              "per_item": items}
    audit = {"clean_accuracy": 0.5, "n": 3, "attack": "apgd-ce", "class_names": ["a", "b", "c"],
             "results": [result], "minimal_norm_curves": [
                 {"attack": "deepfool", "norm": "l2", "minimal_norm": {"found_rate": 1.0}}]}
    run = {"command": "foil audit", "kind": "audit", "model": {"name": "m", "classes": 3}}
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><path d="M0 0L4 4"/></svg>'
    put("report", "audit", folder(("audit.json", json.dumps(audit).encode()),
                                  ("run.json", json.dumps(run).encode()),
                                  ("robust_accuracy_linf.svg", svg),
                                  ("p.png", png(2, 2, 1, bytes(4)))))
    short = dict(result, per_item=dict(items, adv_pred=[1]))
    put("report", "short-per-item", folder(("audit.json", json.dumps(dict(audit, results=[short])).encode())))
    put("report", "wrong-types", folder(("audit.json", json.dumps(dict(audit, results=[dict(result, robust_accuracy="x")], class_names=5)).encode()),
                                        ("run.json", b'{"model": {"classes": "ten"}, "command": 7}')))
    put("report", "deep", folder(("deep.json", b"[" * 5000 + b"]" * 5000)))
    put("report", "hostile-svg", folder(("x.json", b"{}"), ("evil.svg",
        b'<svg onload="alert(1)"><script>alert(2)</script><image href="https://x.test/a.png"/></svg>')))
    put("report", "links-and-fifo", folder(("x.json", b"{}"), ("@zero.png", b"/dev/zero"),
                                           ("@loop.svg", b"loop.svg"), ("|run.json", b"")))
    put("report", "not-json", folder(("x.json", b"{\"a\": [1, 2,"), ("y.json", b"\xff\xfe")))


def gzip_bytes(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()


if __name__ == "__main__":
    sys.exit(main())
