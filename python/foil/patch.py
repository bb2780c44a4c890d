"""Universal adversarial patches: train one on your models and images, evaluate it, paste it.

``foil.patch.train(model, images, labels, eval_images=..., eval_labels=..., target=3)``
trains a printable grid patch (or free pixels) as ``foil patch train`` does and evaluates it
on held-out images; ``foil.patch.evaluate(model, patch, images, labels)`` is ``foil patch
eval``; ``patch.apply(images)`` pastes it at random places. Options are the CLI's flags with
``_`` for ``-`` (``foil patch train --help``); None keeps foil's default.
"""

from . import _foil

__all__ = ["Patch", "train", "evaluate"]

_PATCH_KEYS = ("param", "cells", "area", "shape")


def _handles(models):
    if not isinstance(models, (list, tuple)):
        models = [models]
    from . import Model
    return [(m if isinstance(m, Model) else Model(m))._m for m in models]


def _label(value):
    return -1 if value is None else int(value)


class Patch:
    """A trained patch: ``params`` (C x G x G in [0, 1], what training changes), ``pixels``
    (C x S x S as pasted), ``mask`` (S x S), ``options`` (param, cells, area, shape, side),
    and after training ``step_loss``, ``epoch_loss`` and ``summary`` (summary.json: the
    held-out evaluation on every model)."""

    def __init__(self, fields):
        self.params = fields["params"]
        self.pixels = fields["pixels"]
        self.mask = fields["mask"]
        self.options = fields["options"]
        self.step_loss = fields.get("step_loss", [])
        self.epoch_loss = fields.get("epoch_loss", [])
        self.summary = fields.get("summary", {})

    def apply(self, images, keep_out=0.0, seed=0):
        """``images`` (float32 N x C x H x W in [0, 1]) with the patch pasted at random places
        (outside the central ``keep_out`` fraction; drawn from ``seed``), as evaluation
        places it."""
        opts = {k: self.options[k] for k in _PATCH_KEYS}
        return _foil.patch_apply(self.params, images, seed, keep_out=keep_out, **opts)

    def __repr__(self):
        o = self.options
        return f"foil.patch.Patch({o['param']}, {o['side']}x{o['side']} px, area {o['area']})"


def train(models, images=None, labels=None, data=None, eval_images=None, eval_labels=None,
          eval_data=None, eval_on_train=False, target=None, task="classify", cls="", seed=0,
          out=None, verbose=False, param=None, cells=None, area=None, shape=None, init=None,
          keep_out=None, on_object=None, objects=None, eot=None, scale=None, rotation=None, brightness=None,
          contrast=None, noise=None, tilt=None, eot_corruptions=None, loss=None, layers=None,
          layer_weights=None, projections=None, exact_1d=None, max_target_images=None,
          target_data=None, epochs=None, batch=None, optimizer=None, lr=None, tv=None):
    """Trains a universal patch on ``models`` (one, or several as an ensemble) as ``foil patch
    train`` and evaluates it on held-out images on every model. Returns a :class:`Patch`.

    Data: ``images``/``labels`` (labels None: the first model's predictions) with held-out
    ``eval_images``/``eval_labels``, or a data spec ``data="fashion-mnist:train:2000"``
    (held out: Fashion-MNIST's other split, ``eval_data``, or a fixed 20% of the items);
    ``eval_on_train=True`` evaluates on the training images (labelled so in the summary).
    ``target``: the target class (None: untargeted); ``task="detect"`` with ``cls`` for
    detectors. Patch: ``param`` grid/free, ``cells``, ``area`` (fraction of the image),
    ``shape``, ``init``; placement: ``keep_out``, ``on_object`` (with ``objects``, patches per image), ``eot`` with ``scale``,
    ``rotation``, ``brightness``, ``contrast``, ``noise``, ``tilt``, ``eot_corruptions``;
    objective: ``loss`` ce/feature/ot (vanish/appear for detectors), ``layers``,
    ``layer_weights``, ``projections``, ``exact_1d``, ``max_target_images``, ``target_data`` (a data spec of clean
    target-class images for feature/ot; default: the training images of ``target``); optimisation:
    ``epochs``, ``batch``, ``optimizer``, ``lr``, ``tv``. ``out``: also writes the CLI's
    results folder (patch.pt, patch.png, loss.csv/.svg, patched.png, summary.json,
    report.html). ``verbose``: progress lines on stderr. The same seed and data give the
    CLI's patch.pt."""
    options = {k: v for k, v in locals().items() if k in _OPTION_NAMES}
    fields = _foil.patch_train(_handles(models), data or "", images, labels, eval_images,
                               eval_labels, eval_data or "", eval_on_train, task, cls,
                               _label(target), seed, out or "", verbose, **options)
    return Patch(fields)


def evaluate(models, patch, images=None, labels=None, data=None, target=None,
             task="classify", cls="", repeats=5, keep_out=0.0, on_object=None, objects=1, seed=0,
             verbose=False):
    """A patch on every model as ``foil patch eval``: clean and patched accuracy, fooling
    rate and (with ``target``) tSuc beside the clean images already predicted as the target;
    detection rates for ``task="detect"``. ``patch``: a :class:`Patch` or the path of a
    patch.pt written by the CLI. ``repeats`` random placements per image (outside the central
    ``keep_out`` fraction). Data as :func:`train`. Returns eval.json as a dict."""
    if isinstance(patch, Patch):
        params, path = patch.params, ""
        opts = {k: patch.options[k] for k in _PATCH_KEYS}
    else:
        params, path, opts = None, str(patch), {}
    return _foil.patch_evaluate(_handles(models), params, path, data or "", images, labels, task,
                                cls, _label(target), repeats, seed, verbose, keep_out=keep_out,
                                on_object=on_object, objects=objects, **opts)


_OPTION_NAMES = ("param", "cells", "area", "shape", "init", "keep_out", "on_object", "objects",
                 "eot", "scale", "rotation", "brightness", "contrast", "noise", "tilt",
                 "eot_corruptions", "loss", "layers", "layer_weights", "projections", "exact_1d",
                 "max_target_images", "target_data", "epochs", "batch", "optimizer", "lr", "tv")
