"""FLOPs of one sample's forward in millions (NAS-Bench-Suite-Zero's ``flops``; higher = more accurate).

NASLib (``find_measures``, ``measures/model_stats.py``) reads tensorwatch's ``ModelStats``
(torchstat) on one sample and divides by 1e6. torchstat counts more than multiply-adds:
``Conv2d`` and ``Linear`` multiply-accumulates, plus one per element for every ReLU and
BatchNorm (two for an affine BatchNorm), one per output element and kernel tap for pooling,
and its own window count for adaptive pooling (see :func:`tenas.proxies._naslib.model_stats`).
So these numbers exceed :func:`tenas.complexity.count_flops` (multiply-adds only), on purpose:
they equal NASLib's published numbers on NAS-Bench-201 (C=16, N=5). Computed from one
eval-mode forward of a zeros input of one sample of the inputs' shape (values do not
matter; fused cells run unfused). Direction: higher is better (the file's ρ with
val_accuracy is +0.71). Never NaN.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._naslib import counted_in_millions


@register_proxy("flops", higher_is_better=True)
def flops(model, inputs) -> float:
    """torchstat FLOPs (in millions) of one sample's forward, as NASLib's ``flops``."""
    return counted_in_millions(model, inputs, 1)
