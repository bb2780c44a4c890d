"""foil from a PyTorch notebook, start to end (docs/python.md shows its output):
train a small CNN on Fashion-MNIST in PyTorch, script it, run foil's AutoAttack and PGD on it,
map where it looks with Grad-CAM and HiResCAM, and check the numbers against the CLI on the
same scripted file.

Run: PYTHONPATH=build/python python3 examples/python/notebook.py [OUT_DIR]
"""
import json
import os
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import foil

out = sys.argv[1] if len(sys.argv) > 1 else "notebook-out"
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)

# 1. Data and a model, all in PyTorch (foil.load_data reads Debian's Fashion-MNIST).
train_x, train_y, names = foil.load_data("fashion-mnist:train:12000")
test_x, test_y, _ = foil.load_data("fashion-mnist:test:500")
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
opt = torch.optim.Adam(net.parameters(), 1e-3)
for epoch in range(2):
    for i in range(0, len(train_x), 64):
        opt.zero_grad()
        F.cross_entropy(net(train_x[i:i + 64]), train_y[i:i + 64]).backward()
        opt.step()

# 2. Script it; foil wraps the ScriptModule (no copy) and takes pixels in [0, 1].
scripted = torch.jit.script(net.eval())
scripted.save(os.path.join(out, "net.pt"))
model = foil.Model(scripted, name="net.pt")
print("clean accuracy", (model(test_x).argmax(1) == test_y).float().mean().item())

# 3. AutoAttack (Linf 0.1) and PGD, as foil attack runs them.
aa = foil.evaluate(model, test_x, test_y, foil.AutoAttack(model, norm="Linf", eps=0.1))
print("AutoAttack robust accuracy", aa["robust_accuracy"],
      {s["stage"]: s["robust_accuracy"] for s in aa["stages"]})
print("sanity checks fired", [c["name"] for c in aa["checks"] if c["fired"]])
adv = foil.PGD(model, eps=0.1, alpha=0.01, steps=10)(test_x, test_y)
print("PGD-10 robust accuracy", (model(adv).argmax(1) == test_y).float().mean().item())

# 4. Where it looks: Grad-CAM and HiResCAM on the second convolution's ReLU (14 x 14).
layer = "4"
for method in (foil.explain.gradcam, foil.explain.hirescam):
    maps = method(model, test_x[:8], layer=layer)
    print(method.__name__, "on", layer, "maps", tuple(maps.shape))
torch.save(maps, os.path.join(out, "hirescam.pt"))

# 5. The CLI on the same file gives the same numbers.
cli = subprocess.run(["build/foil", "attack", "--model", os.path.join(out, "net.pt"),
                      "--data", "fashion-mnist:test:500", "--attack", "autoattack", "--eps",
                      "0.1", "--out", os.path.join(out, "cli")],
                     capture_output=True, text=True, env={**os.environ, "FOIL_PROGRESS": "0"})
cli_json = json.load(open(os.path.join(out, "cli", "attack.json")))
print("CLI robust accuracy", cli_json["robust_accuracy"], "same as Python:",
      cli_json["robust_accuracy"] == aa["robust_accuracy"])
