#!/usr/bin/python3
"""Converts a model written by `foil train` (arch cnn or mlp) or `foil keypoints train`
(posenet) to ONNX, through TorchScript.

The .foil file is a LibTorch archive: its parameters are read with torch.jit.load, the same
architecture is rebuilt in PyTorch, traced to TorchScript and exported with torch.onnx.export
(dynamic batch). The class (or keypoint) names go to the sidecar OUT.onnx.foil.json that foil
reads; a posenet's sidecar makes it a heatmap keypoint model.
Usage: foil_to_onnx.py MODEL.foil OUT.onnx [OPSET]
"""
import json
import sys

import torch
import torch.nn as nn

src, out = sys.argv[1], sys.argv[2]
opset = int(sys.argv[3]) if len(sys.argv) > 3 else 17
archive = torch.jit.load(src)
meta = json.loads(archive.foil_meta)
c, h, w = meta["input"]
k = meta["num_classes"]


def conv_bn_relu(i, o, stride=1, dilation=1):
    return nn.Sequential(nn.Conv2d(i, o, 3, stride=stride, padding=dilation, dilation=dilation,
                                   bias=False), nn.BatchNorm2d(o), nn.ReLU())


if meta["arch"] == "cnn":
    net = nn.Sequential()
    net.add_module("conv1", conv_bn_relu(c, 32))
    net.add_module("pool1", nn.Sequential(nn.MaxPool2d(2)))
    net.add_module("conv2", conv_bn_relu(32, 64))
    net.add_module("pool2", nn.Sequential(nn.MaxPool2d(2)))
    net.add_module("flatten", nn.Sequential(nn.Flatten()))
    net.add_module("fc1", nn.Sequential(nn.Linear(64 * (h // 4) * (w // 4), 128), nn.ReLU(),
                                        nn.Dropout(0.25)))
    net.add_module("logits", nn.Sequential(nn.Linear(128, k)))
elif meta["arch"] == "mlp":
    net = nn.Sequential()
    net.add_module("flatten", nn.Sequential(nn.Flatten()))
    net.add_module("fc1", nn.Sequential(nn.Linear(c * h * w, 512), nn.ReLU()))
    net.add_module("fc2", nn.Sequential(nn.Linear(512, 256), nn.ReLU()))
    net.add_module("logits", nn.Sequential(nn.Linear(256, k)))
elif meta["arch"] == "posenet":
    net = nn.Sequential()
    net.add_module("stem", conv_bn_relu(c, 32, 2))
    net.add_module("block1", conv_bn_relu(32, 32))
    net.add_module("down", conv_bn_relu(32, 64, 2))
    net.add_module("block2", conv_bn_relu(64, 64))
    net.add_module("context", conv_bn_relu(64, 64, 1, 2))
    net.add_module("heatmaps", nn.Sequential(nn.Conv2d(64, k, 1)))
else:
    sys.exit(f"foil_to_onnx: arch {meta['arch']} is not converted (cnn, mlp, posenet)")
net.load_state_dict(archive.net.state_dict())
net.eval()
x = torch.rand(1, c, h, w)
traced = torch.jit.trace(net, x)
name = "heatmaps" if meta["arch"] == "posenet" else "logits"
torch.onnx.export(traced, x, out, opset_version=opset, input_names=["pixels"],
                  output_names=[name], dynamic_axes={"pixels": {0: "batch"}, name: {0: "batch"}})
side = {"task": "classifier", "class_names": meta["class_names"],
        "description": f"foil {meta['arch']} ({src}) through TorchScript, ONNX opset {opset}"}
if meta["arch"] == "posenet":
    side.update({"task": "keypoints", "decode": "heatmap", "heatmap_tap": "heatmaps",
                 "outputs": ["heatmaps"]})
with open(out + ".foil.json", "w") as f:
    json.dump(side, f, indent=1)
print("wrote", out)
