"""AutoAttack (standard, Linf) on CIFAR-sized inputs: the PyTorch side of scripts/bench-gpu.sh.

  python3 bench_autoattack_gpu.py OUT_DIR DEVICE ITEMS EPS TRAIN_STEPS [TRAIN_BATCH]

Trains a ResNet-18 for 32x32 inputs (torchvision's resnet18 with the CIFAR stem: a 3x3 stride-1
first convolution and no max-pool; 10 classes) for TRAIN_STEPS SGD steps of TRAIN_BATCH (default 256) on Fashion-MNIST's
training items, converted as foil converts them for a 3,32,32 model (grey repeated to 3 channels,
bilinear resize), and saves it traced as OUT_DIR/resnet18-32.pt for foil. Then times
torchattacks' AutoAttack (version standard: APGD-CE, APGD-T, FAB-T, Square) on the first ITEMS
test items, when torchattacks imports (scripts/prepare-gpu-carry.sh carries it), and always
the PyTorch APGD-CE loop of torch_loops.py (100 steps, one restart) on the items the model
classifies correctly (those AutoAttack attacks): its first stage, a lower bound of its time when
torchattacks is not there. Robust accuracies are over all ITEMS.
Writes OUT_DIR/aa-torch.json (clean accuracy, robust accuracies, seconds).
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F
import torchvision

from torch_loops import apgd_ce, fashion_mnist, sync, use_all_cores

use_all_cores()
out, device, items, eps, train_steps = (sys.argv[1], torch.device(sys.argv[2]), int(sys.argv[3]),
                                        float(sys.argv[4]), int(sys.argv[5]))
train_batch = int(sys.argv[6]) if len(sys.argv) > 6 else 256


torch.manual_seed(0)
net = torchvision.models.resnet18(num_classes=10)
net.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
net.maxpool = torch.nn.Identity()
net = net.to(device)
xt, yt = fashion_mnist("train", 20000, 32, device)
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
net.train()
start = time.perf_counter()
for step in range(train_steps):
    idx = torch.randint(0, xt.shape[0], (train_batch,), device=device)
    lr = 0.05 * 0.5 * (1 + math.cos(math.pi * step / max(1, train_steps)))
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad()
    F.cross_entropy(net(xt[idx]), yt[idx]).backward()
    opt.step()
sync(device)
train_seconds = time.perf_counter() - start
net.eval()
torch.jit.trace(net.cpu(), torch.rand(1, 3, 32, 32)).save(os.path.join(out, "resnet18-32.pt"))
net = net.to(device)
for p in net.parameters():
    p.requires_grad_(False)

x, y = fashion_mnist("t10k", items, 32, device)
with torch.no_grad():
    clean = (net(x).argmax(1) == y).float().mean().item()
    correct = net(x).argmax(1) == y
result = {"device": str(device), "items": x.shape[0], "eps": eps, "train_steps": train_steps,
          "train_batch": train_batch, "train_seconds": train_seconds, "clean_accuracy": clean}
print(f"resnet18-32: {train_steps} training steps in {train_seconds:.1f} s, clean {clean:.3f}",
      flush=True)


def timed(fn):
    sync(device)
    s = time.perf_counter()
    adv = fn()
    sync(device)
    seconds = time.perf_counter() - s
    with torch.no_grad():
        robust = (net(adv).argmax(1) == y).float().mean().item()
    return {"seconds": seconds, "robust_accuracy": robust}


def apgd_on_correct():
    adv = x.clone()
    if correct.any():
        adv[correct] = apgd_ce(net, x[correct], y[correct], eps, 100)
    return adv


apgd_ce(net, x[:8], y[:8], eps, 2)  # warm-up: cuDNN's first calls
result["pytorch_apgd_ce_100"] = timed(apgd_on_correct)
print(f"pytorch apgd-ce (100 steps): {result['pytorch_apgd_ce_100']}", flush=True)
try:
    import torchattacks
except ImportError:
    result["torchattacks"] = None
    print("torchattacks: not importable; foil's AutoAttack is compared with APGD-CE alone")
else:
    atk = torchattacks.AutoAttack(net, norm="Linf", eps=eps, version="standard", n_classes=10,
                                  seed=0)
    result["torchattacks"] = dict(timed(lambda: atk(x, y)), version=torchattacks.__version__)
    print(f"torchattacks {torchattacks.__version__} autoattack: {result['torchattacks']}",
          flush=True)
json.dump(result, open(os.path.join(out, "aa-torch.json"), "w"), indent=1)
