"""foil from Python, timed in one process (run with PYTHONPATH=build/python):

1. the Python call's overhead: foil.PGD's wall time against the seconds the C++ evaluation
   inside it reports (input checks, the GIL, tensor hand-over);
2. foil.PGD against PGD written in PyTorch with torchattacks' update, projection and clipping
   (torchattacks is not packaged by Debian; its PGD is these few lines), on the same scripted
   model and images, and that their examples agree (no random start, same steps);
3. with --peers, when torchattacks and the authors' autoattack are importable (neither is in
   Debian: put a checkout of each on PYTHONPATH, outside this tree): torchattacks.PGD and
   foil.PGD, then AutoAttack standard Linf from foil, torchattacks and the authors' code on
   the first AA_IMAGES images, each with its time and the robust accuracy of its examples
   (the model's prediction on them, the same judge for all three).

Usage: bench_python.py SCRIPTED_MODEL.pt [BATCH] [REPEATS] [--peers [AA_IMAGES]]
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


def timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def robust(script, adv, labels):
    with torch.no_grad():
        return (script(adv).argmax(1) == labels).float().mean().item()


def peers(script, model, images, labels, eps, alpha, steps, repeats, n_aa):
    import autoattack
    import torchattacks

    ta_pgd = torchattacks.PGD(script, eps=eps, alpha=alpha, steps=steps, random_start=False)
    atk = foil.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    foil_s, ta_s = [], []
    for _ in range(repeats):
        adv, t = timed(lambda: atk(images, labels))
        foil_s.append(t)
        ref, t = timed(lambda: ta_pgd(images, labels))
        ta_s.append(t)
    print(f"foil.PGD {statistics.median(foil_s) * 1e3:.1f} ms, torchattacks {torchattacks.__version__}"
          f" PGD {statistics.median(ta_s) * 1e3:.1f} ms: ratio "
          f"{statistics.median(foil_s) / statistics.median(ta_s):.3f}; max |foil - torchattacks| "
          f"{(adv - ref).abs().max().item():.2e}")

    x, y = images[:n_aa], labels[:n_aa]
    rows = []
    adv, t = timed(lambda: foil.AutoAttack(model, norm="Linf", eps=eps, version="standard")(x, y))
    rows.append(("foil.AutoAttack", t, robust(script, adv, y)))
    ta_aa = torchattacks.AutoAttack(script, norm="Linf", eps=eps, version="standard", n_classes=10,
                                    seed=0)
    adv, t = timed(lambda: ta_aa(x, y))
    rows.append(("torchattacks.AutoAttack", t, robust(script, adv, y)))
    authors = autoattack.AutoAttack(script, norm="Linf", eps=eps, version="standard", seed=0,
                                    verbose=False, device=str(images.device))
    adv, t = timed(lambda: authors.run_standard_evaluation(x, y, bs=len(x)))
    rows.append(("autoattack (the authors')", t, robust(script, adv, y)))
    print(f"AutoAttack standard, Linf {eps}, {len(x)} images (clean accuracy "
          f"{robust(script, x, y):.3f}):")
    for name, seconds, acc in rows:
        print(f"  {name:<27} {seconds:8.1f} s  ({seconds / rows[0][1]:.2f}x foil)  robust "
              f"accuracy {acc:.3f}")


def main():
    args = [a for a in sys.argv[1:] if a != "--peers"]
    with_peers = "--peers" in sys.argv
    path = args[0]
    batch = int(args[1]) if len(args) > 1 else 250
    repeats = int(args[2]) if len(args) > 2 else 5
    n_aa = int(args[3]) if len(args) > 3 else 100
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
    if with_peers:
        peers(script, model, images, labels, eps, alpha, steps, repeats, n_aa)


if __name__ == "__main__":
    main()
