#!/usr/bin/python3
"""PyTorch eager timings of the ONNX fixtures' architectures (scripts/make_onnx_fixtures.py),
for scripts/bench-onnx.sh: forward (no grad) and forward+backward (the input gradient of the
summed squared output), medians over REPEATS after a warm-up, on THREADS threads.
Usage: bench_onnx_pytorch.py NAME BATCH THREADS REPEATS OUT.json
"""
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_onnx_fixtures import ARCHS  # noqa: E402

name, batch, threads, repeats, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
make, size, _ = ARCHS[name]
torch.manual_seed(0)
model = make().eval()
x = torch.rand(batch, 3, size, size)


def forward():
    with torch.no_grad():
        model(x)


def forward_backward():
    xi = x.clone().requires_grad_(True)
    torch.autograd.grad(model(xi).square().sum(), xi)


times = {"forward": [], "forward_backward": []}
forward(), forward_backward()
for _ in range(repeats):  # alternated, as foil bench does
    for key, f in (("forward", forward), ("forward_backward", forward_backward)):
        t = time.perf_counter()
        f()
        times[key].append(time.perf_counter() - t)
with open(out, "w") as f:
    json.dump({k + "_ms": 1e3 * statistics.median(v) for k, v in times.items()}, f)
