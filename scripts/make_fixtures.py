#!/usr/bin/python3
"""Exports the TorchScript fixtures foil's tests load, with Debian's python3-torch.

Writes into OUT_DIR:
  resnet18.pt   torchvision resnet18 (random weights, seed 0), scripted
  small_cnn.pt  a small CNN for 1x28x28 inputs with nested submodules and control flow
  reference.pt  a scripted holder of tensors: inputs, submodule outputs recorded with
                forward hooks, and adversarial examples computed here with the update,
                projection and clipping of torchattacks (FGSM, BIM, PGD, PGD-L2, MI-FGSM)
  pose_heatmap.pt  a heatmap keypoint model (random weights)
  fashion_cnn.pt   the small CNN trained on Debian's Fashion-MNIST (one epoch over the first
                12000 training images): the model the embedding example (examples/embed) loads
Usage: make_fixtures.py OUT_DIR
"""
import gzip
import os
import struct
import sys

import numpy
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.manual_seed(0)
torch.set_num_threads(1)
out = sys.argv[1]
os.makedirs(out, exist_ok=True)


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = Head()

    def forward(self, x):
        f = self.features(x)
        if f.dim() == 4:  # control flow: taps must be found inside prim::If blocks too
            f = torch.flatten(f, 1)
        return self.head(f)


def record(model, names, x):
    """Outputs of the named submodules, recorded with forward hooks."""
    got = {}
    mods = dict(model.named_modules())
    # A copy: a later in-place op (`out += identity`, ReLU(inplace=True)) would change `o`.
    hooks = [mods[n].register_forward_hook(
        lambda m, i, o, n=n: got.__setitem__(n, o.detach().clone())) for n in names]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return got


# --- attacks exactly as torchattacks writes them (CrossEntropyLoss with mean reduction) ---
def grad_of(model, adv, labels, targets):
    adv.requires_grad = True
    out = model(adv)
    cost = -F.cross_entropy(out, targets) if targets is not None else F.cross_entropy(out, labels)
    return torch.autograd.grad(cost, adv, retain_graph=False, create_graph=False)[0]


def fgsm(model, images, labels, eps, targets=None):
    grad = grad_of(model, images.clone().detach(), labels, targets)
    return torch.clamp(images + eps * grad.sign(), min=0, max=1).detach()


def bim(model, images, labels, eps, alpha, steps, targets=None):
    ori = images.clone().detach()
    images = images.clone().detach()
    for _ in range(steps):
        grad = grad_of(model, images, labels, targets)
        adv = images + alpha * grad.sign()
        a = torch.clamp(ori - eps, min=0)
        b = (adv >= a).float() * adv + (adv < a).float() * a
        c = (b > ori + eps).float() * (ori + eps) + (b <= ori + eps).float() * b
        images = torch.clamp(c, max=1).detach()
    return images


def pgd(model, images, labels, eps, alpha, steps, targets=None):
    adv = images.clone().detach()
    for _ in range(steps):
        grad = grad_of(model, adv, labels, targets)
        adv = adv.detach() + alpha * grad.sign()
        delta = torch.clamp(adv - images, min=-eps, max=eps)
        adv = torch.clamp(images + delta, min=0, max=1).detach()
    return adv


def pgdl2(model, images, labels, eps, alpha, steps, targets=None):
    b = images.shape[0]
    adv = images.clone().detach()
    for _ in range(steps):
        grad = grad_of(model, adv, labels, targets)
        grad_norms = torch.norm(grad.view(b, -1), p=2, dim=1) + 1e-10
        grad = grad / grad_norms.view(b, 1, 1, 1)
        adv = adv.detach() + alpha * grad
        delta = adv - images
        delta_norms = torch.norm(delta.view(b, -1), p=2, dim=1)
        factor = torch.min(eps / delta_norms, torch.ones_like(delta_norms))
        delta = delta * factor.view(-1, 1, 1, 1)
        adv = torch.clamp(images + delta, min=0, max=1).detach()
    return adv


def mifgsm(model, images, labels, eps, alpha, steps, decay, targets=None):
    momentum = torch.zeros_like(images)
    adv = images.clone().detach()
    for _ in range(steps):
        grad = grad_of(model, adv, labels, targets)
        grad = grad / torch.mean(torch.abs(grad), dim=(1, 2, 3), keepdim=True)
        grad = grad + momentum * decay
        momentum = grad
        adv = adv.detach() + alpha * grad.sign()
        delta = torch.clamp(adv - images, min=-eps, max=eps)
        adv = torch.clamp(images + delta, min=0, max=1).detach()
    return adv


class Holder(nn.Module):
    def __init__(self, tensors):
        super().__init__()
        for k, v in tensors.items():
            self.register_buffer(k, v.contiguous())

    def forward(self, x):
        return x


ref = {}
# Small CNN: taps and attacks.
cnn = SmallCNN().eval()
x = torch.rand(16, 1, 28, 28)
y = torch.randint(0, 10, (16,))
t = (y + 1) % 10
ref["cnn_x"], ref["cnn_y"], ref["cnn_t"] = x, y, t
for name, v in record(cnn, ["features", "features.3", "head.fc1", "head"], x).items():
    ref["cnn_tap_" + name.replace(".", "_")] = v
# Grad-CAM at "features" for the labels, computed by hand from hooked activations.
acts = {}
hook = cnn.features.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
score = cnn(x).gather(1, y.view(-1, 1)).sum()
hook.remove()
g = torch.autograd.grad(score, acts["a"])[0]
cam = F.relu((g.mean((2, 3), keepdim=True) * acts["a"]).sum(1, keepdim=True))
ref["cnn_cam_features"] = F.interpolate(cam, size=(28, 28), mode="bilinear",
                                        align_corners=False).squeeze(1).detach()
scripted_cnn = torch.jit.script(cnn)
ref["cnn_out"] = scripted_cnn(x).detach()
ref["adv_fgsm"] = fgsm(scripted_cnn, x, y, 0.1)
ref["adv_bim"] = bim(scripted_cnn, x, y, 0.1, 0.02, 5)
ref["adv_pgd"] = pgd(scripted_cnn, x, y, 0.1, 0.02, 5)
ref["adv_pgd_targeted"] = pgd(scripted_cnn, x, y, 0.1, 0.02, 5, targets=t)
ref["adv_pgdl2"] = pgdl2(scripted_cnn, x, y, 1.0, 0.3, 5)
ref["adv_mifgsm"] = mifgsm(scripted_cnn, x, y, 0.1, 0.02, 5, 1.0)
scripted_cnn.save(os.path.join(out, "small_cnn.pt"))

# torchvision resnet18, scripted: taps on nested submodules of a non-sequential module.
resnet = torchvision.models.resnet18(num_classes=10).eval()
xr = torch.rand(2, 3, 64, 64)
ref["resnet_x"] = xr
for name, v in record(resnet, ["layer4", "layer3.1.conv2", "avgpool", "layer1.0",
                              "layer1.0.bn2", "layer1.0.relu"], xr).items():
    ref["resnet_tap_" + name.replace(".", "_")] = v
# The CAM family and Integrated Gradients on resnet18's layer3 for the predicted classes, each
# by its paper's definition from hooked activations and their gradients (no random numbers
# drawn: the fixtures after this stay as they were).
acts = {}
hook = resnet.layer3.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
logits = resnet(xr)
hook.remove()
cls = logits.argmax(1)
ref["resnet_cls"] = cls
ga = torch.autograd.grad(logits.gather(1, cls.view(-1, 1)).sum(), acts["a"])[0]
a3 = acts["a"].detach()


def upsampled(cam):
    return F.interpolate(cam.unsqueeze(1), size=(64, 64), mode="bilinear",
                         align_corners=False).squeeze(1).detach()


g2, g3 = ga.pow(2), ga.pow(3)
alpha = torch.where(ga != 0, g2 / (2 * g2 + a3.sum((2, 3), keepdim=True) * g3 + 1e-6),
                    torch.zeros_like(ga))
cams = {
    "gradcam": (ga.mean((2, 3), keepdim=True) * a3).sum(1),
    "gradcampp": ((F.relu(ga) * alpha).sum((2, 3), keepdim=True) * a3).sum(1),
    "hirescam": (ga * a3).sum(1),
    "xgradcam": ((ga * a3).sum((2, 3), keepdim=True) / (a3.sum((2, 3), keepdim=True) + 1e-7)
                 * a3).sum(1),
    "layercam": (F.relu(ga) * a3).sum(1),
}


def score_cam(model, z, a, c):
    """Score-CAM as its authors' code computes it (haofanwang/Score-CAM), one channel at a time:
    the channel, upsampled and min-max scaled, masks the normalised input z; the class's softmax
    probability on the masked input weighs it; constant channels are skipped."""
    out = torch.zeros(z.shape[0], *a.shape[2:])
    with torch.no_grad():
        for i in range(z.shape[0]):
            for k in range(a.shape[1]):
                s = F.interpolate(a[i:i + 1, k:k + 1], size=z.shape[2:], mode="bilinear",
                                  align_corners=False)
                if s.max() == s.min():
                    continue
                s = (s - s.min()) / (s.max() - s.min())
                out[i] += torch.softmax(model(z[i:i + 1] * s), 1)[0, c[i]] * a[i, k]
    return out


cams["scorecam"] = score_cam(resnet, xr, a3, cls)
# Ablation-CAM: the class logit's relative drop when a forward hook zeroes each channel.
k3 = a3.shape[1]
with torch.no_grad():
    drops = []
    for i in range(xr.shape[0]):
        hook = resnet.layer3.register_forward_hook(
            lambda m, inp, o: o * (1 - torch.eye(k3))[:, :, None, None])
        ablated = resnet(xr[i:i + 1].expand(k3, -1, -1, -1))[:, cls[i]]
        hook.remove()
        y = logits[i, cls[i]].detach()
        drops.append((y - ablated) / y)
cams["ablationcam"] = (torch.stack(drops)[:, :, None, None] * a3).sum(1)
# Eigen-CAM: the projection on the first right-singular vector, signed to a positive sum.
eig = []
for i in range(xr.shape[0]):
    mat = a3[i].reshape(a3.shape[1], -1).T.double()
    proj = mat @ torch.linalg.svd(mat, full_matrices=False)[2][0]
    eig.append((proj if proj.sum() >= 0 else -proj).reshape(a3.shape[2:]).float())
cams["eigencam"] = torch.stack(eig)
for k, cam in cams.items():
    ref["resnet_cam_" + k] = upsampled(F.relu(cam))
# Score-CAM of the same network behind an ImageNet normalisation: the references mask the
# normalised input (a masked-out pixel takes the mean colour).
norm_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
norm_std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
zr = (xr - norm_mean) / norm_std
hook = resnet.layer3.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
with torch.no_grad():
    cls_n = resnet(zr).argmax(1)
hook.remove()
ref["resnet_norm_cls"] = cls_n
ref["resnet_norm_cam_scorecam"] = upsampled(F.relu(score_cam(resnet, zr, acts["a"], cls_n)))


def rise_aucs(model, z, maps, c):
    """Deletion and insertion AUCs as RISE's evaluation code draws them (CausalMetric): on the
    normalised input z, deletion towards zeros, insertion from z blurred by the kernel scipy's
    gaussian_filter (sigma 5) makes of an 11x11 delta, zero padding; one image row of pixels per
    step; pixels in decreasing order of the map; the mean over images of each curve's area."""
    delta = numpy.zeros((11, 11))
    delta[5, 5] = 1
    try:
        import scipy.ndimage
        k = scipy.ndimage.gaussian_filter(delta, 5)
    except ImportError:  # a PyTorch wheel without scipy (the GPU check): scipy's sums, folded
        w = numpy.exp(-0.5 * numpy.arange(-20, 21) ** 2 / 25.0)  # by hand (equal to 1e-17)
        w /= w.sum()
        k1 = numpy.zeros(11)
        for i in range(11):
            for j in range(-20, 21):
                p = (i + j) % 22
                k1[i] += w[j + 20] if (p if p < 11 else 21 - p) == 5 else 0
        k = numpy.outer(k1, k1)
    k = torch.from_numpy(k).float()
    chans, (h, w) = z.shape[1], z.shape[2:]
    kern = torch.zeros(chans, chans, 11, 11)
    for ch in range(chans):
        kern[ch, ch] = k
    blurred = F.conv2d(z, kern, padding=5)
    steps = h  # RISE: 224 pixels a step at 224 px
    aucs = {"del": [], "ins": []}
    with torch.no_grad():
        for mode in aucs:
            for i in range(z.shape[0]):
                order = numpy.flip(numpy.argsort(maps[i].reshape(-1).numpy()))
                start = (z if mode == "del" else blurred)[i:i + 1].clone().reshape(1, chans, -1)
                finish = (torch.zeros_like(z) if mode == "del" else z)[i:i + 1].reshape(
                    1, chans, -1)
                scores = []
                for s in range(steps + 1):
                    p = torch.softmax(model(start.reshape(1, chans, h, w)), 1)[0, c[i]]
                    scores.append(p.item())
                    idx = torch.from_numpy(order[w * s:w * (s + 1)].copy())
                    start[0, :, idx] = finish[0, :, idx]
                scores = numpy.array(scores)
                aucs[mode].append((scores.sum() - scores[0] / 2 - scores[-1] / 2) / steps)
    return numpy.mean(aucs["del"]), numpy.mean(aucs["ins"])


# A map without ties (a bijection of the pixel index), so RISE's unstable sort is determined.
tie_free = ((torch.arange(64 * 64) * 2654435761) % 4096).float().view(1, 64, 64).repeat(2, 1, 1)
ref["rise_map"] = tie_free
ref["rise_aucs"] = torch.tensor(rise_aucs(resnet, zr, tie_free, cls_n), dtype=torch.float64)
# Integrated Gradients, black baseline, 16 steps (right Riemann sum).
total = torch.zeros_like(xr)
for k in range(1, 17):
    point = (xr * (k / 16)).requires_grad_(True)
    total += torch.autograd.grad(resnet(point).gather(1, cls.view(-1, 1)).sum(), point)[0]
ref["resnet_ig"] = (xr * total / 16).detach()
scripted_resnet = torch.jit.script(resnet)
ref["resnet_out"] = scripted_resnet(xr).detach()
scripted_resnet.save(os.path.join(out, "resnet18.pt"))

# A heatmap keypoint model (11 maps at 16x16 for 3x64x64 inputs) with a nested "head".
class PoseHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(32, 32, 3, padding=1)
        self.heatmaps = nn.Conv2d(32, 11, 1)

    def forward(self, x):
        return self.heatmaps(F.relu(self.conv(x)))


class PoseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.head = PoseHead()

    def forward(self, x):
        return self.head(self.backbone(x))


torch.jit.script(PoseNet().eval()).save(os.path.join(out, "pose_heatmap.pt"))

torch.jit.script(Holder(ref)).save(os.path.join(out, "reference.pt"))


# Models whose outputs are of the wrong kind (1x28x28 inputs), for the bad-input tests.
class IntScores(nn.Module):
    def forward(self, x):
        return x.flatten(1)[:, :10].mul(10).long()


class OneRow(nn.Module):  # one row of scores whatever the batch
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)).mean(0, keepdim=True)


class Detached(nn.Module):  # scores without a gradient
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(784, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)).detach()


for name, m in [("int_scores", IntScores()), ("one_row", OneRow()), ("detached", Detached())]:
    torch.jit.script(m.eval()).save(os.path.join(out, "wrong_" + name + ".pt"))


def read_idx(path):
    """An IDX file of Debian's dataset-fashion-mnist as a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


# A trained TorchScript classifier for the embedding example: SmallCNN, Adam, one epoch.
torch.manual_seed(0)
fm = os.environ.get("FOIL_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
images = read_idx(os.path.join(fm, "train-images-idx3-ubyte.gz"))[:12000]
labels = read_idx(os.path.join(fm, "train-labels-idx1-ubyte.gz"))[:12000].long()
images = images.float().div(255).unsqueeze(1)
fashion = SmallCNN()
opt = torch.optim.Adam(fashion.parameters(), lr=2e-3)
for i in range(0, len(images), 64):
    opt.zero_grad()
    F.cross_entropy(fashion(images[i:i + 64]), labels[i:i + 64]).backward()
    opt.step()
torch.jit.script(fashion.eval()).save(os.path.join(out, "fashion_cnn.pt"))
print("fixtures written to", out)
