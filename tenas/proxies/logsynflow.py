"""LogSynflow (FreeREA, Cavagnero et al. 2023): Σ |θ ⊙ log(1 + ∂R/∂θ)| on the |θ| network (higher = better).

FreeREA's variant of SynFlow takes the log per weight, of the gradient, before the sum
(``metrics/synflow.py`` of its repository), so that a few huge gradients of deep
convolution stacks do not swamp the score; tenas's ``synflow`` instead takes the log of
SynFlow's total, as NAS-Bench-Suite-Zero publishes it. The network and the input are
SynFlow's (:func:`tenas.proxies.synflow.linearised_copy`): a float64 copy with every
parameter and buffer replaced by its absolute value, BatchNorm removed, one all-ones input
of one sample of the inputs' shape, ``R`` the sum of the logits; the score is the sum over
every ``Conv2d`` and ``Linear`` weight. The gradients of the |θ| network are never negative,
so ``log1p`` is defined everywhere. The model itself is never touched. Degenerate case: no
weight reaches the output gives 0 (every gradient is 0), an honest "nothing flows" score.
"""
from __future__ import annotations

import torch

from tenas.proxies import register_proxy
from tenas.proxies._common import logits
from tenas.proxies._naslib import one_batch, scored_layers
from tenas.proxies.synflow import linearised_copy


@register_proxy("logsynflow", higher_is_better=True)
def logsynflow(model, inputs) -> float:
    """FreeREA's LogSynflow: Σ|θ ⊙ log(1 + ∂R/∂θ)| (float64, BatchNorm removed, one all-ones input)."""
    x, _ = one_batch(inputs)
    net = linearised_copy(model)
    layers = scored_layers(net)
    first = next(net.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    r = logits(net(torch.ones(1, *x.shape[1:], dtype=torch.float64, device=device))).sum()
    if not r.requires_grad:
        return 0.0
    grads = torch.autograd.grad(r, [layer.weight for layer in layers], allow_unused=True)
    return float(sum((layer.weight.detach() * torch.log1p(g)).abs().sum() for layer, g in zip(layers, grads) if g is not None))
