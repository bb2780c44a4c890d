"""Where a model looks: one function per foil explanation method.

``foil.explain.gradcam(model, images, layer="layer4", target=None) -> maps`` (N x H x W,
non-negative, on the images' device); ``target`` None explains each image's predicted class.
``layer`` "" picks the last spatial or token layer. The methods are foil's (``foil explain
--help``): gradcam, gradcam_pp, hirescam, xgradcam, layercam, scorecam, ablationcam, eigencam,
saliency, inputxgrad, ig, smoothgrad, occlusion.
"""

from . import _foil

__all__ = []


def _method(name):
    def explain(model, images, layer="", target=None, ig_steps=None, samples=None, noise=None,
                window=None, stride=None, batch=64, seed=0):
        m = getattr(model, "_m", model)
        return _foil.explain(m, name, images, target, layer, batch, seed, ig_steps=ig_steps,
                             samples=samples, noise=noise, window=window, stride=stride)

    explain.__name__ = name.replace("++", "_pp")
    explain.__doc__ = (f"foil's ``{name}`` maps of ``images`` for ``target`` (default: the "
                       "predicted classes): N x H x W, non-negative. ig_steps (ig), samples and "
                       "noise (smoothgrad), window and stride (occlusion), None: the CLI's default; "
                       "a keyword this method does not read raises ValueError; batch (scorecam, "
                       "ablationcam, occlusion, smoothgrad), seed (smoothgrad) as the CLI's flags.")
    return explain


for _name in _foil.explain_methods:
    _fn = _method(_name)
    globals()[_fn.__name__] = _fn
    __all__.append(_fn.__name__)
