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

from tenas.proxies._registry import register_proxy
from tenas.proxies.synflow import synflow_layer_sums


@register_proxy("logsynflow", higher_is_better=True, needs={"synflow"})
def logsynflow(p) -> float:
    """FreeREA's LogSynflow: Σ|θ ⊙ log(1 + ∂R/∂θ)| (float64, BatchNorm removed, one all-ones input)."""
    return float(sum(s.detach() for s in synflow_layer_sums(p, torch.log1p)))
