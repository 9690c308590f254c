"""log SynFlow: the log of Σ|θ ⊙ ∂R/∂θ| with R the summed output of the |θ| network on ones (higher = better).

SynFlow (Tanaka et al. 2020) as NAS-Bench-Suite-Zero scores it (NASLib
``measures/synflow.py`` with ``bn=False``, then ``ZeroCost.query``): on a copy of the
network, every parameter and buffer replaced by its absolute value, everything in float64,
every BatchNorm removed (identity), one all-ones input of one sample of the inputs' shape
(the input values are never read), ``R`` = the sum of the logits; the score is the sum over
every ``Conv2d`` and ``Linear`` weight of ``|θ ⊙ ∂R/∂θ|``.

THE RETURNED VALUE IS THE NATURAL LOG OF THAT SUM. NASLib publishes the log too
(``ZeroCost.query`` takes ``math.log`` of the synflow sum), so the values compare directly
with ``zc_nasbench201.json``. Overflow: the network runs in float64 and the per-layer sums
are combined with ``logsumexp`` (never exponentiated back), so the score stays finite as
long as each activation, gradient and per-layer sum stays below float64's ~e^709 (float32
would overflow at ~e^88; NASLib's NAS-Bench-201 scores reach e^115).

Deliberate differences from NASLib: the copy runs in eval mode (no dropout/drop-path
randomness; with BatchNorm removed NAS-Bench-201 networks compute the same either way), and
fused supernet cells run unfused so that their BatchNorms are removed too. The model itself
is never touched (the work happens on a deep copy, without its hooks). Degenerate case:
when no weight reaches the output (e.g. a cell whose output is always zero) the sum is 0,
its log is -inf, returned as NaN by the registry (NASLib writes 0 there).
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from tenas.proxies._registry import register_proxy


def linearised_copy(model: nn.Module) -> nn.Module:
    """A float64 copy of ``model`` with ``|θ|`` for every parameter and buffer, BatchNorms replaced by
    identities, fused forwards switched off, no hooks, in eval mode."""
    net = copy.deepcopy(model)
    for m in net.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
        m._backward_hooks.clear()
        if isinstance(getattr(m, "fused", None), bool):
            m.fused = False
        for name, child in list(m.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(m, name, nn.Identity())
    net.double().eval()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.abs_()
        for p in net.parameters():
            p.grad = None
            p.requires_grad_(True)
    return net


def synflow_layer_sums(p, transform=None) -> list[torch.Tensor]:
    """Per scored layer (``Conv2d``/``Linear`` in module order) of pass ``p``'s network, ``Σ|θ ⊙ ∂R/∂θ|`` in
    float64 on the CPU; with ``transform``, ``Σ|θ ⊙ transform(∂R/∂θ)|`` (LogSynflow's ``log1p``). The
    gradients come from the pass (:meth:`tenas.proxies._pass.Pass.synflow_grads`), taken once for both."""
    layers, grads = p.synflow_grads()
    return [
        torch.zeros((), dtype=torch.float64) if g is None else (layer.weight.detach() * (g if transform is None else transform(g))).abs().sum().cpu()
        for layer, g in zip(layers, grads)
    ]


@register_proxy("synflow", higher_is_better=True, needs={"synflow"})
def synflow(p) -> float:
    """log of SynFlow's Σ|θ ⊙ ∂R/∂θ| (float64, BatchNorm removed, one all-ones input), as NASLib publishes it."""
    sums = torch.stack([s.detach() for s in synflow_layer_sums(p)])
    positive = sums[sums > 0]
    if positive.numel() == 0:
        return -math.inf
    return float(torch.logsumexp(positive.log(), 0))
