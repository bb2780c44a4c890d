"""foil on PyTorch tensors: how easily an image model is fooled, where, and what helps.

Models are TorchScript modules of your own process (``torch.jit.script(net)``) or any model
file the CLI opens; attacks take torchattacks' call shape::

    import torch, foil
    model = foil.Model(torch.jit.script(net.eval()), mean=[0.5], std=[0.5])
    atk = foil.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=True)
    adv = atk(images, labels)                    # float32 N x C x H x W in [0, 1]
    report = foil.evaluate(model, images, labels, foil.AutoAttack(model, eps=8 / 255))
    maps = foil.explain.gradcam(model, images, layer="layer4")

Every number is computed by foil's C++ library, the same code as the ``foil`` command:
the same seed gives the same adversarial examples. Bad input raises ValueError with the
CLI's one-line message.
"""

import torch  # loads libtorch and its Python bindings before the extension

from . import _foil
from ._foil import attack_names
from . import explain  # noqa: F401  (foil.explain.gradcam, ...)
from . import patch  # noqa: F401  (foil.patch.train, ...)

__version__ = _foil.__version__
__all__ = ["Model", "load_model", "load_data", "Attack", "evaluate", "audit", "attack_names", "explain",
           "patch"]


class Model:
    """A model foil attacks and explains: pixels in [0, 1] in, logits out.

    ``module`` is a ``torch.jit.ScriptModule`` (scripted or traced; shared, not copied, and
    set to eval mode) or a foil model handle. ``mean``/``std`` are the per-channel
    normalisation the module expects; foil applies it inside, so callers pass raw pixels.
    """

    def __init__(self, module, mean=(), std=(), name="python"):
        if isinstance(module, _foil.Model):
            self._m = module
            return
        if isinstance(module, torch.nn.Module) and not isinstance(module, torch.jit.ScriptModule):
            raise ValueError(
                "model: expected a torch.jit.ScriptModule, got an nn.Module "
                f"({type(module).__name__}); script it first: torch.jit.script(net.eval()) "
                "(or torch.jit.trace(net.eval(), example_images))")
        self._m = _foil.wrap_script(module, name, list(mean), list(std))

    def __call__(self, images):
        """The logits for float32 N x C x H x W pixels in [0, 1]."""
        return self._m(images)

    def layer_names(self):
        """The layers a CAM can use, in forward order."""
        return self._m.layer_names()

    @property
    def info(self):
        """What the model is: name, backend, input shape, classes, mean/std."""
        return self._m.info


def load_model(path="", mean=None, std=None, input_shape=None, device="cpu"):
    """Opens a model file as the CLI's ``--model`` does.

    ``path``: a ``foil train`` file, TorchScript ``.pt``, TF.js ``model.json`` or ``.onnx``;
    "" is the built-in Fashion-MNIST CNN (trained on first use), "zoo:ARCH" a zoo model.
    ``mean``/``std``: per-channel lists; ``input_shape``: (C, H, W) for TorchScript files.
    """
    join = lambda v: "" if v is None else ",".join(str(x) for x in v)  # noqa: E731
    return Model(_foil.load_model(path, join(mean), join(std), join(input_shape), device))


def load_data(spec):
    """Images and labels of a data spec, as the CLI's ``--data``: "fashion-mnist:test:100",
    an image file or folder, an IDX pair. Returns (images float32 N x C x H x W in [0, 1],
    labels int64 N (-1 where unknown), class names)."""
    return _foil.load_data(spec)


class Attack:
    """An attack with torchattacks' call shape: ``Attack(model, **options)(images, labels)``.

    Options are the CLI's attack flags (``foil attack --help``) with underscores, from the
    library's one table of them: eps, norm ("linf"/"l2"), alpha, steps, random_start,
    restarts, decay, n_targets, version, max_queries, p_init, spsa_samples, spsa_delta,
    hsj_init_evals, hsj_max_evals, di_prob, di_resize, ti_kernel, si_scales, vmi_samples,
    vmi_beta, nesterov, kappa, binary_steps, initial_const, overshoot, and seed and
    eot_samples. An option the attack does not read is refused (ValueError naming it).
    ``target`` makes it targeted: a class index, "random" or "least-likely". ``batch``:
    images per pass (as the CLI, 250).
    """

    name = None

    def __init__(self, model, name=None, target=None, batch=250, **options):
        self.model = model if isinstance(model, Model) else Model(model)
        self.name = name or self.name
        if self.name is None:
            raise ValueError("attack: expected a name, one of " + ", ".join(attack_names()))
        self.target = "" if target is None else str(target)
        self.batch = batch
        self.options = options
        self.seconds = None  # the last call's evaluation time inside the C++ library

    def __call__(self, images, labels):
        """The adversarial examples of ``images`` (the caller's tensors are not changed), on
        their device: the examples ``foil attack --save-adv`` writes for the same seed.
        ``labels`` None: the model's clean predictions."""
        adv, self.seconds = _foil.attack(self.model._m, self.name, images, labels, self.target,
                                         self.batch, **self.options)
        return adv

    def __repr__(self):
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"foil.Attack({self.name!r}{', ' if opts else ''}{opts})"


def evaluate(model, images, labels, attack):
    """Runs ``attack`` over the images as ``foil attack`` does and returns its JSON as a dict:
    clean and robust accuracy, success rate, per-stage robust accuracy (AutoAttack), sizes,
    the sanity checks (``checks``) and per-item predictions. ``labels`` None: the model's
    clean predictions."""
    model = model if isinstance(model, Model) else Model(model)
    return _foil.evaluate(model._m, attack.name, images, labels, attack.target, attack.batch,
                          **attack.options)


def audit(model, images, labels=None, seed=0, out=None, **options):
    """foil's main job on your tensors, as ``foil audit``. For a classifier: clean accuracy,
    robust accuracy per budget and norm from AutoAttack (fast; ``thorough=True``: standard)
    with its stages, the minimal-norm curve (``curve`` deepfool, cw or none), the common
    corruptions (``corruptions`` all, benchmark, a list or none, at ``severities``), the threat
    table (``threats``: white-box, scores, labels) and the checks. For an object detector
    (``task="detect"``, found from the model): COCO box AP clean, under random noise and under
    TOG-vanishing and TOG-fabrication per budget and under ``corruptions`` (none by default), against the model's
    clean detections at ``score_threshold`` (no ``labels``; annotation files need photos: use
    ``foil audit --annotations``). For a semantic segmenter (``task="segment"``): mean IoU and
    pixel accuracy clean, under random noise and under PGD, SegPGD and CosPGD per budget,
    against the model's clean masks. For a keypoint model (``task="keypoints"``): OKS, PCK@0.1
    and pose RMSE to its clean pose under random noise and under KAA per budget.
    The keywords are the flags of ``foil audit`` (one table declares both: ``linf_eps``,
    ``l2_eps``, ``attack``, ``curve``, ``steps``, ``batch``, ``examples``, ``thorough``,
    ``threats``, ``max_queries``, ``corruptions``, ``severities``, ``task``,
    ``score_threshold``, ...), each with its default; one the model's task does not read is
    refused. Returns audit.json (audit_detect.json, audit_segment.json, audit_keypoints.json) as
    a dict; ``out``: also
    writes the CLI's results folder there, all or nothing. ``labels`` None: the model's clean
    predictions."""
    model = model if isinstance(model, Model) else Model(model)
    options = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()
               if v is not None}
    return _foil.audit(model._m, images, labels, seed, out or "", **options)


def _attack_class(cls_name, attack_name, defaults=None):
    defaults = defaults or {}

    def __init__(self, model, target=None, batch=250, **options):
        Attack.__init__(self, model, attack_name, target, batch, **{**defaults, **options})

    doc = f"foil's ``{attack_name}`` with torchattacks' call shape (see :class:`Attack`)."
    return type(cls_name, (Attack,), {"__init__": __init__, "__doc__": doc, "name": attack_name})


# torchattacks' names for foil's attacks; every other name is reachable as Attack(model, name).
FGSM = _attack_class("FGSM", "fgsm")
BIM = _attack_class("BIM", "bim")
PGD = _attack_class("PGD", "pgd")
PGDL2 = _attack_class("PGDL2", "pgd", {"norm": "l2"})
MIFGSM = _attack_class("MIFGSM", "mifgsm")
APGD = _attack_class("APGD", "apgd-ce")
APGDT = _attack_class("APGDT", "apgd-t")
FAB = _attack_class("FAB", "fab-t")
Square = _attack_class("Square", "square")
CW = _attack_class("CW", "cw")
DeepFool = _attack_class("DeepFool", "deepfool")


class AutoAttack(Attack):
    """AutoAttack (Croce & Hein 2020) as foil runs it: ``norm`` "Linf"/"L2", ``version``
    "standard", "fast" or "rand"; stages APGD-CE, APGD-T, FAB-T, Square (standard)."""

    def __init__(self, model, norm="Linf", eps=8 / 255, version="standard", seed=0, batch=250,
                 **options):
        Attack.__init__(self, model, "autoattack", None, batch, norm=norm.lower(), eps=eps,
                        version=version, seed=seed, **options)


__all__ += ["FGSM", "BIM", "PGD", "PGDL2", "MIFGSM", "APGD", "APGDT", "FAB", "Square", "CW",
            "DeepFool", "AutoAttack"]
