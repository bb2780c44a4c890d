#!/usr/bin/python3
"""Exports the ONNX fixtures foil's tests load, with Debian's python3-torch (torch.onnx).

torchvision architectures with fixed random weights (seed 0, 10 classes; the LR-ASPP segmenter
21 VOC classes per pixel, with its metadata sidecar), each exported at opset 17 with a dynamic
batch; resnet18 also at opset 11 and with a fixed batch of 1; and a
model of the operators those classifiers lack (Ops) at opsets 17, 12 and 9. For
every model the references come from PyTorch eager on the same inputs: the outputs, the input
gradient of a fixed random weighting of the outputs, and one intermediate value recorded with a
forward hook, with the name of the ONNX value that holds it.
Writes OUT_DIR/<name>.onnx, OUT_DIR/reference.pt (tensors) and OUT_DIR/models.json.
Also: tiny.onnx with its weights in external data (tiny.onnx.data), and in bad/ a model with an
unsupported operator and one whose external data lies outside its folder.
Usage: make_onnx_fixtures.py OUT_DIR
"""
import inspect
import json
import os
import sys

import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

# PyTorch 2.x exports through torch.export (dynamo) by default; these fixtures are the TorchScript
# exporter's (the only one in Debian's 1.13), which 2.x keeps behind dynamo=False.
LEGACY = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}

tv = torchvision.models

class Ops(nn.Module):
    """The operators torchvision's classifiers do not use: nearest and bilinear Resize,
    ConvTranspose (with output padding), reflect and constant Pad, LeakyReLU, PReLU, ELU,
    Split, GlobalMaxPool, Max/Min reductions, Softmax over channels, Expand, Where, Einsum."""

    def __init__(self, legacy=False):
        super().__init__()
        # legacy (opset 9): no Einsum (opset 12) and no bilinear resize, whose ONNX meaning
        # (Upsample's asymmetric coordinates) is not PyTorch's before opset 11.
        self.legacy = legacy
        self.down = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1)
        self.prelu = nn.PReLU(6)
        self.features = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(6, 6, 3), nn.ELU())
        self.head = nn.Linear(14, 10)

    def forward(self, x):
        y = F.leaky_relu(self.down(x), 0.1)
        a = F.interpolate(y, scale_factor=2, mode="nearest")
        b = a if self.legacy else F.interpolate(y, scale_factor=2, mode="bilinear",
                                                align_corners=False)
        z = self.prelu(self.up(y)) + a[:, :6] + b[:, 2:]
        z = self.features(F.pad(z, (1, 0, 0, 1)))[:, :, :-1, 1:]
        p, q = torch.split(z, [2, 4], dim=1)
        s = torch.softmax(q, dim=1).amax(dim=(2, 3)) + F.adaptive_max_pool2d(p, 1).flatten(1).amin(1, True)
        r = s[:, [3, 2, 1, 0]]
        t = s * r if self.legacy else torch.einsum("nc,nc->nc", s, r)
        t = torch.where(t > t.mean(), t, t.expand(x.shape[0], 4) * 0.5)
        return self.head(torch.cat([s, t, p.mean((2, 3)), q.mean((2, 3)).sqrt()], 1))


VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
               "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor"]


def lraspp():
    """torchvision's LR-ASPP MobileNetV3-Large segmenter (21 VOC classes, no pretrained
    backbone), its output the logits per pixel (the "out" of its dict)."""
    model = tv.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                      num_classes=21)
    whole = model.forward
    model.forward = lambda x: whole(x)["out"]
    return model


# name -> (constructor, input size, module to tap)
ARCHS = {
    "resnet18": (lambda: tv.resnet18(num_classes=10), 64, "layer4"),
    "mobilenet_v2": (lambda: tv.mobilenet_v2(num_classes=10), 64, "features"),
    "mobilenet_v3_small": (lambda: tv.mobilenet_v3_small(num_classes=10), 64, "features"),
    "efficientnet_b0": (lambda: tv.efficientnet_b0(num_classes=10), 64, "features.7"),
    "squeezenet1_1": (lambda: tv.squeezenet1_1(num_classes=10), 64, "features"),
    "shufflenet_v2_x0_5": (lambda: tv.shufflenet_v2_x0_5(num_classes=10), 64, "stage4"),
    "densenet121": (lambda: tv.densenet121(num_classes=10), 64, "features.denseblock4"),
    # vit_b_16's architecture at a reduced size (2 layers, 32x32 input, 16x16 patches).
    "vit_b_16": (lambda: tv.VisionTransformer(image_size=32, patch_size=16, num_layers=2,
                                              num_heads=2, hidden_dim=64, mlp_dim=128,
                                              num_classes=10), 32, "encoder.layers.encoder_layer_1"),
    "lraspp_mobilenet_v3_large": (lraspp, 64, "classifier"),
    "ops": (Ops, 16, "features"),
    "ops_opset9": (lambda: Ops(legacy=True), 16, "features"),
}


class Holder(nn.Module):
    def __init__(self, tensors):
        super().__init__()
        for k, v in tensors.items():
            self.register_buffer(k, v.contiguous())

    def forward(self, x):
        return x


def tap_value_name(path, module):
    """The ONNX value a module's output becomes: the last node in the module's scope."""
    parts = module.split(".")
    # Scopes are named "/features/features.18/" for numbered children, "/features/denseblock4/"
    # for named ones.
    levels = [".".join(parts[:i + 1]) if parts[i].isdigit() else parts[i]
              for i in range(len(parts))]
    prefix = "/" + "/".join(levels) + "/"
    last = [n for n in onnx.load(path, load_external_data=False).graph.node
            if n.name.startswith(prefix)]
    return last[-1].output[0]


def ablation_cam(model, module, x, grid, size):
    """Ablation-CAM by hand: forward hooks zero each channel (the last dim of a token layer)."""
    layer = dict(model.named_modules())[module]
    acts = {}
    hook = layer.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o.detach()))
    with torch.no_grad():
        logits = model(x)
    hook.remove()
    cls, a = logits.argmax(1), acts["a"]
    k = a.shape[1] if a.dim() == 4 else a.shape[-1]
    eye = 1 - torch.eye(k)
    keep = eye[:, :, None, None] if a.dim() == 4 else eye[:, None, :]
    cams = []
    for i in range(x.shape[0]):
        hook = layer.register_forward_hook(lambda m, inp, o: o * keep)
        with torch.no_grad():
            ablated = model(x[i:i + 1].expand(k, *x.shape[1:]))[:, cls[i]]
        hook.remove()
        w = (logits[i, cls[i]] - ablated) / logits[i, cls[i]]
        cams.append((w[:, None, None] * grid(a[i:i + 1])[0]).sum(0))
    cam = torch.relu(torch.stack(cams)).unsqueeze(1)
    return torch.nn.functional.interpolate(cam, size=(size, size), mode="bilinear",
                                           align_corners=False).squeeze(1)


def main(out):
    os.makedirs(out, exist_ok=True)
    ref, models = {}, {}
    for name, (make, size, module) in ARCHS.items():
        torch.manual_seed(0)
        model = make().eval()
        with torch.no_grad():  # zero-initialised heads (vit) would make every check vacuous
            for p in model.parameters():
                if p.abs().max() == 0:
                    p.normal_(0, 0.05)
        x = torch.rand(2, 3, size, size)
        exports = [(name, 17, True)]
        if name == "resnet18":
            exports += [("resnet18_opset11", 11, True), ("resnet18_batch1", 17, False)]
        if name == "ops":
            exports += [("ops_opset12", 12, True)]  # axes as attributes (before 13)
        if name == "ops_opset9":  # Upsample, Slice and Pad by attributes
            exports = [(name, 9, True)]
        for file, opset, dynamic in exports:
            path = os.path.join(out, file + ".onnx")
            axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None
            torch.onnx.export(model, x[:1], path, opset_version=opset, input_names=["input"],
                              output_names=["logits"], dynamic_axes=axes, **LEGACY)
            models[file] = {"reference": name, "opset": opset, "dynamic_batch": dynamic,
                            "tap": tap_value_name(path, module), "module": module,
                            "task": "classifier"}
            if name == "lraspp_mobilenet_v3_large":  # its metadata: what the output means
                models[file]["task"] = "segmentation"
                with open(path + ".foil.json", "w") as f:
                    json.dump({"task": "segmentation", "class_names": VOC_CLASSES,
                               "description": "torchvision LR-ASPP MobileNetV3-Large, random "
                                              "weights (a test fixture)"}, f)
        got = {}
        hook = dict(model.named_modules())[module].register_forward_hook(
            lambda m, i, o: got.__setitem__("tap", o.detach().clone()))
        xg = x.clone().requires_grad_(True)
        y = model(xg)
        hook.remove()
        w = torch.randn(y.shape)
        (g,) = torch.autograd.grad((y * w).sum(), xg)
        ref.update({name + "_x": x, name + "_out": y.detach(), name + "_w": w, name + "_grad": g,
                    name + "_tap": got["tap"]})
        if name == "vit_b_16":
            # Grad-CAM on a token layer (the input of the last block), by hand from a hook:
            # the tokens after the class token, on their 2x2 grid.
            cam_module = "encoder.layers.encoder_layer_0"
            models[name]["cam_tap"] = tap_value_name(os.path.join(out, name + ".onnx"), cam_module)
            acts = {}
            hook = dict(model.named_modules())[cam_module].register_forward_hook(
                lambda m, i, o: acts.__setitem__("a", o))
            logits = model(x)
            hook.remove()
            cls = logits.argmax(1)
            (ga,) = torch.autograd.grad(logits.gather(1, cls.view(-1, 1)).sum(), acts["a"])

            def grid(t):
                return t[:, 1:, :].reshape(t.shape[0], 2, 2, -1).permute(0, 3, 1, 2)

            a, ga = grid(acts["a"].detach()), grid(ga)
            cam = torch.relu((ga.mean((2, 3), keepdim=True) * a).sum(1, keepdim=True))
            ref[name + "_gradcam"] = torch.nn.functional.interpolate(
                cam, size=(size, size), mode="bilinear", align_corners=False).squeeze(1)
            ref[name + "_ablationcam"] = ablation_cam(model, cam_module, x, grid, size)
        if name == "resnet18":
            ref[name + "_ablationcam"] = ablation_cam(model, module, x, lambda t: t, size)

    # A tiny model whose weights live in an external data file next to it.
    torch.manual_seed(0)
    tiny = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)).eval()
    path = os.path.join(out, "tiny.onnx")
    torch.onnx.export(tiny, torch.rand(1, 3, 8, 8), path, opset_version=13, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "batch"}}, **LEGACY)
    m = onnx.load(path)
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="tiny.onnx.data", size_threshold=0)
    xt = torch.rand(2, 3, 8, 8)
    ref.update({"tiny_x": xt, "tiny_out": tiny(xt).detach()})

    # A channels-last input (as tf2onnx exports give): the graph transposes N×H×W×C itself.
    class ChannelsLast(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

        def forward(self, x):
            return self.net(x.permute(0, 3, 1, 2))

    torch.manual_seed(0)
    nhwc = ChannelsLast().eval()
    xn = torch.rand(2, 3, 16, 16)  # foil's pixels, N×C×H×W
    torch.onnx.export(nhwc, xn[:1].permute(0, 2, 3, 1), os.path.join(out, "nhwc.onnx"),
                      opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, **LEGACY)
    ref.update({"nhwc_x": xn, "nhwc_out": nhwc(xn.permute(0, 2, 3, 1)).detach()})

    # Models foil must refuse with one clear line.
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    h = onnx.helper
    graph = h.make_graph([h.make_node("Relu", ["x"], ["r"], name="relu"),
                          h.make_node("Hardmax", ["r"], ["y"], name="the_hardmax")], "unknown_op",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 8, 8])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]),
                    os.path.join(bad, "unknown_op.onnx"))
    # Declared sizes no machine holds: an input of 100000 x 100000 pixels, and an Expand of a
    # small image to 2^62 x 2^62.
    graph = h.make_graph([h.make_node("Relu", ["x"], ["y"], name="relu")], "huge_input",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT,
                                                   [1, 3, 100000, 100000])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    onnx.save_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]),
                    os.path.join(bad, "huge_input.onnx"))
    shape = h.make_tensor("shape", onnx.TensorProto.INT64, [4], [1, 1, 2**62, 2**62])
    graph = h.make_graph([h.make_node("Expand", ["x", "shape"], ["e"], name="the_expand"),
                          h.make_node("Relu", ["e"], ["y"], name="relu")], "huge_expand",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 1, 1])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
                         [shape])
    onnx.save_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]),
                    os.path.join(bad, "huge_expand.onnx"))
    # A classifier whose output Softmax normalises over an axis its scores do not have.
    graph = h.make_graph([h.make_node("Flatten", ["x"], ["f"], name="flatten"),
                          h.make_node("Softmax", ["f"], ["y"], name="the_softmax", axis=5)],
                         "softmax_axis",
                         [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1, 2, 5])],
                         [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 10])])
    onnx.save_model(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]),
                    os.path.join(bad, "softmax_axis.onnx"))
    m = onnx.load(os.path.join(out, "tiny.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        for kv in t.external_data:
            if kv.key == "location":
                kv.value = "../outside.data"
    os.makedirs(os.path.join(bad, "inner"), exist_ok=True)
    onnx.save_model(m, os.path.join(bad, "inner", "outside.onnx"))
    with open(os.path.join(out, "tiny.onnx.data"), "rb") as src, \
            open(os.path.join(bad, "outside.data"), "wb") as dst:
        dst.write(src.read())

    torch.jit.script(Holder(ref)).save(os.path.join(out, "reference.pt"))
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(models, f, indent=1)
    print("ONNX fixtures written to", out)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1])
