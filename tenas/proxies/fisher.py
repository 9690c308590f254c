"""Fisher: Σ over channels of ½·mean_n(Σ_spatial a·∂L/∂a)², times the channel's fan-in (NAS-Bench-Suite-Zero's ``fisher``; higher = better).

As NASLib ``measures/fisher.py`` (Turner et al. 2020, channel mode): one forward of the
batch (several batches concatenated) in train mode (BatchNorm with batch statistics),
mean cross-entropy ``L`` of the logits against ``targets``. For every ``nn.Conv2d`` and
``nn.Linear`` module, with ``a`` its output (before any BatchNorm) and ``∂L/∂a`` the
gradient there: per sample ``n`` and output channel ``k``, ``g_nk = Σ_spatial a·∂L/∂a``;
the channel's saliency is ``½·mean_n g_nk²``. NASLib broadcasts each channel's saliency
to every weight of that channel (``prod(W.shape[1:])`` entries) before summing, so the
score is ``Σ_layers Σ_k ½·mean_n g_nk² · prod(W.shape[1:])``, reproduced here.
A module called several times adds each call. Fused supernet cells run unfused (their
conv modules must be called for the hooks to see them). Direction: higher is better (the
file's ρ with val_accuracy is +0.51). Degenerate case: layers that do not reach the loss
add 0 (the classifier still does, so the score stays finite).
"""
from __future__ import annotations

import math

import torch

from tenas.proxies._registry import register_proxy


@register_proxy("fisher", higher_is_better=True, needs_targets=True, needs={"layer_grads"})
def fisher(p) -> float:
    """Channel Fisher saliency Σ ½·mean_n(Σ a·∂L/∂a)² × fan-in over Conv2d/Linear outputs, one batch, train mode."""
    _, _, calls, grads = p.loss_grads()
    score = torch.zeros((), dtype=torch.float64)
    for (module, out), grad in zip(calls, grads):
        if grad is None:  # an output that does not reach the loss adds 0
            continue
        g = out.detach() * grad.detach()
        g_nk = g.sum(dim=tuple(range(2, g.dim()))) if g.dim() > 2 else g
        score = score + g_nk.double().pow(2).mean(0).mul(0.5).sum() * math.prod(module.weight.shape[1:])
    return float(score)
