"""Weight norm: Σ over Conv2d/Linear layers of ‖W‖₂ (NAS-Bench-Suite-Zero's ``l2_norm``; higher = better).

As NASLib ``measures/l2_norm.py``: the Frobenius norm of every ``nn.Conv2d`` and
``nn.Linear`` weight at initialisation, summed (biases and BatchNorm parameters are not
scored). No gradient; the inputs' values are not read. NASLib sums over every layer of the
standalone network; here only the layers that run in a forward of one zeros sample count
(eval mode, fused cells unfused), which is the same on a standalone network and makes a
supernet count only its alive ops. Direction: higher is better (the file's ρ with
val_accuracy is +0.73; at a fixed initialisation it grows with the number of conv layers).
Never NaN.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.state import untouched
from tenas.proxies._naslib import LAYER_TYPES, model_stats, one_batch, total


@register_proxy("l2_norm", higher_is_better=True)
def l2_norm(model, inputs) -> float:
    """Σ Frobenius norms of the Conv2d/Linear weights that take part in a forward."""
    x, _ = one_batch(inputs)
    with untouched(model, train=False):
        _, _, called = model_stats(model, tuple(x.shape[1:]))
    layers = [m for m in called if isinstance(m, LAYER_TYPES)]
    return total([m.weight.detach().norm() for m in layers])
