"""The PyTorch side of scripts/bench-gpu.sh: PGD-10 and APGD-CE steps on a torchvision resnet18
(random weights, 224x224), timed the way `foil bench` times them, on the same GPU.

  python3 bench_torch_gpu.py OUT_DIR BATCH STEPS REPEATS
writes OUT_DIR/resnet18.pt (the traced model foil loads) and OUT_DIR/torch.json.

The attack loops are written here from the papers (Madry et al. 2018; Croce and Hein 2020,
APGD with its step-size checkpoints and momentum 0.75), with the settings `foil bench` uses:
PGD eps 0.03, alpha 0.01, random start; APGD eps 1e-6 so that no sample stops early.
"""
import gzip
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

out, batch, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dev = torch.device("cuda")
torch.manual_seed(0)
model = torchvision.models.resnet18(weights=None).eval()
torch.jit.trace(model, torch.rand(1, 3, 224, 224)).save(os.path.join(out, "resnet18.pt"))
model = model.to(dev)

# The batch foil takes: Fashion-MNIST test images, grey to 3 channels, resized to 224x224.
fm = os.environ.get("FOIL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
with gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")) as f:
    raw = f.read()[16:16 + batch * 784]
with gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")) as f:
    y = torch.tensor(list(f.read()[8:8 + batch]), device=dev)
x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(batch, 1, 28, 28).float() / 255
x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
x = x.to(dev)


def loss_grad(xa):
    xa = xa.clone().requires_grad_(True)
    loss = F.cross_entropy(model(xa), y, reduction="none")
    g, = torch.autograd.grad(loss.sum(), xa)
    return loss.detach(), g


def bare():
    for _ in range(steps):
        loss_grad(x)


def pgd(eps=0.03, alpha=0.01):
    xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        _, g = loss_grad(xa)
        xa = torch.min(torch.max(xa + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    with torch.no_grad():
        return model(xa).argmax(1) != y


def apgd_ce(eps=1e-6, rho=0.75):
    proj = lambda z: torch.min(torch.max(z, x - eps), x + eps).clamp(0, 1)
    # Checkpoints w_j = ceil(p_j * steps): p_0 = 0, p_1 = 0.22, p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06).
    p = [0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    checks = sorted({math.ceil(q * steps) for q in p[1:] if math.ceil(q * steps) < steps})
    n = x.shape[0]
    eta = torch.full((n, 1, 1, 1), 2 * eps, device=dev)
    xk = proj(x + eps * (2 * torch.rand_like(x) - 1))
    loss, g = loss_grad(xk)
    best_loss, x_best, prev = loss.clone(), xk.clone(), xk.clone()
    increases = torch.zeros(n, device=dev)
    last_best = best_loss.clone()
    last_reduced = torch.zeros(n, dtype=torch.bool, device=dev)
    last_check = 0
    for k in range(steps):
        z = proj(xk + eta * g.sign())
        a = 1.0 if k == 0 else 0.75
        xn = proj(xk + a * (z - xk) + (1 - a) * (xk - prev))
        prev, xk = xk, xn
        new_loss, g_new = loss_grad(xk)
        increases += (new_loss > loss).float()
        better = new_loss > best_loss
        best_loss = torch.where(better, new_loss, best_loss)
        x_best[better] = xk[better]
        loss, g = new_loss, g_new
        if k + 1 in checks:
            span = k + 1 - last_check
            reduce = (increases < rho * span) | (~last_reduced & (last_best >= best_loss))
            eta[reduce] /= 2
            xk[reduce] = x_best[reduce]
            last_reduced, last_best, last_check = reduce, best_loss.clone(), k + 1
            increases.zero_()
    with torch.no_grad():
        return model(x_best).argmax(1) != y


def median_ms(fn):
    fn()
    torch.cuda.synchronize()
    t = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        s = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        t.append(time.perf_counter() - s)
    return 1e3 * sorted(t)[len(t) // 2] / steps


rows = {}
for name, fn in [("pgd-linf", pgd), ("apgd-ce-linf", apgd_ce)]:
    b, a = median_ms(bare), median_ms(fn)
    rows[name] = {"ms_per_step": a, "bare_ms_per_step": b, "ratio_to_bare": a / b}
    print(f"pytorch {name:<14} {a:8.2f} ms/step  bare {b:8.2f}  ratio {a / b:.3f}", flush=True)
json.dump({"torch": torch.__version__, "gpu": torch.cuda.get_device_name(), "batch": batch,
           "steps": steps, "rows": rows}, open(os.path.join(out, "torch.json"), "w"), indent=1)
