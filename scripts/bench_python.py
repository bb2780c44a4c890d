"""foil from Python, timed in one process (run with PYTHONPATH=build/python):

1. the Python call's overhead: foil.PGD's wall time against the seconds the C++ evaluation
   inside it reports (input checks, the GIL, tensor hand-over);
2. foil.PGD against PGD written in PyTorch with torchattacks' update, projection and clipping
   (torchattacks is not packaged by Debian; its PGD is these few lines), on the same scripted
   model and images, and that their examples agree (no random start, same steps).

Usage: bench_python.py SCRIPTED_MODEL.pt [BATCH] [REPEATS]
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import foil


def torch_pgd(model, x, y, eps, alpha, steps):
    adv = x.clone()
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y)
        (grad,) = torch.autograd.grad(loss, adv)
        adv = adv.detach() + alpha * grad.sign()
        adv = (x + (adv - x).clamp(-eps, eps)).clamp(0, 1).detach()
    return adv


def main():
    path = sys.argv[1]
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 250
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    images, labels, _ = foil.load_data(f"fashion-mnist:test:{batch}")
    script = torch.jit.load(path).eval()
    model = foil.Model(script, name=path)
    eps, alpha, steps = 0.1, 0.01, 10
    atk = foil.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)

    overhead, foil_s, torch_s = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        adv = atk(images, labels)
        foil_s.append(time.perf_counter() - start)
        overhead.append(foil_s[-1] / atk.seconds)
        start = time.perf_counter()
        ref = torch_pgd(script, images, labels, eps, alpha, steps)
        torch_s.append(time.perf_counter() - start)
    agree = (model(adv).argmax(1) == script(ref).argmax(1)).float().mean().item()
    print(f"batch {batch}, PGD-10 Linf {eps}, {repeats} repeats, {torch.get_num_threads()} threads")
    print(f"foil.PGD wall / its C++ evaluation: median {statistics.median(overhead):.4f} "
          f"(min {min(overhead):.4f}, max {max(overhead):.4f})")
    print(f"foil.PGD {statistics.median(foil_s) * 1e3:.1f} ms, PyTorch PGD (torchattacks' "
          f"update) {statistics.median(torch_s) * 1e3:.1f} ms: ratio "
          f"{statistics.median(foil_s) / statistics.median(torch_s):.3f}")
    print(f"max |foil - PyTorch| {(adv - ref).abs().max().item():.2e}, same adversarial "
          f"prediction on {100 * agree:.1f}% of the images")


if __name__ == "__main__":
    main()
