"""Plain PyTorch attack loops and data for the GPU benchmarks (bench_torch_gpu.py,
bench_autoattack_gpu.py): what a PyTorch user writes, to time foil against in the same run.

The loops follow the papers (Madry et al. 2018; Croce and Hein 2020, APGD with its step-size
checkpoints and momentum 0.75) with `foil bench`'s conventions: inputs in [0, 1], random start.
"""
import gzip
import math
import os

import torch
import torch.nn.functional as F


def fashion_mnist(prefix, n, size, device):
    """The first n items of Fashion-MNIST's `train` or `t10k` set as foil converts them for a
    3,size,size model: grey repeated to 3 channels, bilinear resize (align_corners=False)."""
    root = os.environ.get("FOIL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
    with gzip.open(os.path.join(root, f"{prefix}-labels-idx1-ubyte.gz")) as f:
        labels = f.read()[8:]
    n = min(n, len(labels))
    with gzip.open(os.path.join(root, f"{prefix}-images-idx3-ubyte.gz")) as f:
        raw = f.read()[16:16 + n * 784]
    x = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(n, 1, 28, 28).float() / 255
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.repeat(1, 3, 1, 1).to(device), torch.tensor(list(labels[:n]), device=device)


def loss_grad(net, xa, y):
    """Per-item cross-entropy and its input gradient: one forward+backward."""
    xa = xa.clone().requires_grad_(True)
    loss = F.cross_entropy(net(xa), y, reduction="none")
    g, = torch.autograd.grad(loss.sum(), xa)
    return loss.detach(), g


def pgd(net, x, y, eps, alpha, steps):
    """PGD-Linf with a uniform random start; returns the adversarial batch."""
    xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        _, g = loss_grad(net, xa, y)
        xa = torch.min(torch.max(xa + alpha * g.sign(), x - eps), x + eps).clamp(0, 1)
    return xa


def apgd_ce(net, x, y, eps, steps, rho=0.75):
    """APGD-CE (Linf, one restart); returns the best point found per item."""
    proj = lambda z: torch.min(torch.max(z, x - eps), x + eps).clamp(0, 1)
    # Checkpoints w_j = ceil(p_j * steps): p_0 = 0, p_1 = 0.22, p_j+1 = p_j + max(p_j - p_j-1 - 0.03, 0.06).
    p = [0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    checks = sorted({math.ceil(q * steps) for q in p[1:] if math.ceil(q * steps) < steps})
    n = x.shape[0]
    eta = torch.full((n, 1, 1, 1), 2 * eps, device=x.device)
    xk = proj(x + eps * (2 * torch.rand_like(x) - 1))
    loss, g = loss_grad(net, xk, y)
    best_loss, x_best, prev = loss.clone(), xk.clone(), xk.clone()
    increases = torch.zeros(n, device=x.device)
    last_best = best_loss.clone()
    last_reduced = torch.zeros(n, dtype=torch.bool, device=x.device)
    last_check = 0
    for k in range(steps):
        z = proj(xk + eta * g.sign())
        a = 1.0 if k == 0 else 0.75
        prev, xk = xk, proj(xk + a * (z - xk) + (1 - a) * (xk - prev))
        new_loss, g = loss_grad(net, xk, y)
        increases += (new_loss > loss).float()
        better = new_loss > best_loss
        best_loss = torch.where(better, new_loss, best_loss)
        x_best[better] = xk[better]
        loss = new_loss
        if k + 1 in checks:
            span = k + 1 - last_check
            reduce = (increases < rho * span) | (~last_reduced & (last_best >= best_loss))
            eta[reduce] /= 2
            xk[reduce] = x_best[reduce]
            last_reduced, last_best, last_check = reduce, best_loss.clone(), k + 1
            increases.zero_()
    return x_best


def use_all_cores():
    """As many CPU threads as foil takes by default (all cores): PyTorch may start with fewer
    (one per physical core), which would skew a CPU comparison."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()
