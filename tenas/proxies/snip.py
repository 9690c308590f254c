"""SNIP: Σ |W ⊙ ∂L/∂W| over Conv2d/Linear weights (NAS-Bench-Suite-Zero's ``snip``; higher = better).

NASLib ``measures/snip.py`` multiplies every ``Conv2d``/``Linear`` weight by a mask of
ones and takes ``|∂L/∂mask|``; at mask = 1 that is exactly ``|W ⊙ ∂L/∂W|``, which is what
is computed here (no mask parameters are added). ``L``: mean cross-entropy of the logits
against ``targets`` on one batch (several batches concatenated), train mode (BatchNorm
with batch statistics). Summed over every weight of every scored layer; biases and
BatchNorm parameters are not scored. Direction: higher is better (Lee et al. 2019,
Abdelfattah et al. 2021; the file's ρ with val_accuracy is +0.61). Degenerate case: a
network whose output ignores every weight scores 0.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._naslib import total


@register_proxy("snip", higher_is_better=True, needs_targets=True, needs={"loss_grads"})
def snip(p) -> float:
    """Σ|W ⊙ ∂(cross-entropy)/∂W| over Conv2d/Linear weights on one batch, train mode."""
    layers, grads, _, _ = p.loss_grads()
    return total([(layer.weight.detach() * g).abs() for layer, g in zip(layers, grads) if g is not None])
