"""The PyTorch side of scripts/bench-gpu.sh: PGD-10 and APGD-CE steps on a torchvision resnet18
(random weights, SIZExSIZE), timed the way `foil bench` times them, on the same GPU.

  python3 bench_torch_gpu.py OUT_DIR BATCH STEPS REPEATS [DEVICE [SIZE]]
writes OUT_DIR/resnet18.pt (the traced model foil loads) and OUT_DIR/torch.json. DEVICE
defaults to cuda, SIZE to 224 (scripts/gpu-check.sh --dry-run: cpu and a small size).

Rows: the bare forward+backward of the eager model and of the traced one (the file foil loads,
run from Python: what the model format costs, apart from foil), and the loops of torch_loops.py
on the eager model with `foil bench`'s settings: PGD eps 0.03, alpha 0.01; APGD eps 1e-6 so that
no item stops early. Each is the median of REPEATS runs over STEPS steps, per step.
"""
import json
import os
import sys
import time

import torch
import torchvision

from torch_loops import apgd_ce, fashion_mnist, loss_grad, pgd, sync, use_all_cores

use_all_cores()
out, batch, steps, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dev = torch.device(sys.argv[5] if len(sys.argv) > 5 else "cuda")
size = int(sys.argv[6]) if len(sys.argv) > 6 else 224
torch.manual_seed(0)
model = torchvision.models.resnet18(num_classes=1000).eval()
traced_path = os.path.join(out, "resnet18.pt")
torch.jit.trace(model, torch.rand(1, 3, size, size)).save(traced_path)
model = model.to(dev)
traced = torch.jit.load(traced_path, map_location=dev).eval()
# The batch foil takes: Fashion-MNIST test images, grey to 3 channels, resized.
x, y = fashion_mnist("t10k", batch, size, dev)


def bare(net):
    for _ in range(steps):
        loss_grad(net, x, y)


def with_check(adv):
    """The success check foil's rows count too (one forward)."""
    with torch.no_grad():
        return model(adv).argmax(1) != y


def median_ms(fn):
    fn()
    sync(dev)
    t = []
    for _ in range(repeats):
        sync(dev)
        s = time.perf_counter()
        fn()
        sync(dev)
        t.append(time.perf_counter() - s)
    return 1e3 * sorted(t)[len(t) // 2] / steps


rows = {}
for name, fn in [("traced-model", lambda: bare(traced)),
                 ("pgd-linf", lambda: with_check(pgd(model, x, y, 0.03, 0.01, steps))),
                 ("apgd-ce-linf", lambda: with_check(apgd_ce(model, x, y, 1e-6, steps)))]:
    b, a = median_ms(lambda: bare(model)), median_ms(fn)
    rows[name] = {"ms_per_step": a, "bare_ms_per_step": b, "ratio_to_bare": a / b}
    print(f"pytorch {name:<14} {a:8.2f} ms/step  bare (eager) {b:8.2f}  ratio {a / b:.3f}",
          flush=True)
gpu = torch.cuda.get_device_name() if dev.type == "cuda" else "none (cpu)"
json.dump({"torch": torch.__version__, "device": str(dev), "gpu": gpu, "batch": batch,
           "size": size, "steps": steps, "rows": rows},
          open(os.path.join(out, "torch.json"), "w"), indent=1)
