"""Number of parameters in millions (NAS-Bench-Suite-Zero's ``params``; higher = more accurate).

NASLib (``find_measures``, ``measures/model_stats.py``) reads tensorwatch's ``ModelStats``:
the parameters held by the modules that run in one forward, divided by 1e6. Here: one
eval-mode forward of a zeros input of one sample of the inputs' shape (no gradients; the
input values do not matter), counting every parameter held directly by a module that ran
(so a supernet counts only its alive ops; fused cells are run unfused). Biases and
BatchNorm affine parameters count. Equal to NASLib's published numbers on NAS-Bench-201
(C=16, N=5). Direction: higher is better (the file's ρ with val_accuracy is +0.74).
Degenerate networks are counted like any other (never NaN).
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._naslib import counted_in_millions


@register_proxy("params", higher_is_better=True)
def params(model, inputs) -> float:
    """Parameters (in millions) of the modules that run in a forward, as NASLib's ``params``."""
    return counted_in_millions(model, inputs, 0)
