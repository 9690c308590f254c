"""Plain: Σ W ⊙ ∂L/∂W over Conv2d/Linear weights, signed (NAS-Bench-Suite-Zero's ``plain``; LOWER = better).

As NASLib ``measures/plain.py``: mean cross-entropy ``L`` of the logits against
``targets`` on one batch (several batches concatenated), train mode (BatchNorm with batch
statistics), and the sum over every ``Conv2d``/``Linear`` weight of ``W · ∂L/∂W`` (signed;
biases and BatchNorm parameters are not scored). It is the first-order change of the loss
when every weight is scaled up together.

Direction: registered as lower-is-better. The references just sum and rank it like the
others, but it correlates NEGATIVELY with accuracy (zero-cost-nas reports a negative ρ on
NAS-Bench-201; in NASLib's published scores its ρ with CIFAR-10 val_accuracy is -0.26), so
lower is the direction that carries information. Degenerate case: 0.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._naslib import total


@register_proxy("plain", higher_is_better=False, needs_targets=True, needs={"loss_grads"})
def plain(p) -> float:
    """Σ W ⊙ ∂(cross-entropy)/∂W (signed) over Conv2d/Linear weights on one batch, train mode."""
    layers, grads, _, _ = p.loss_grads()
    return total([layer.weight.detach() * g for layer, g in zip(layers, grads) if g is not None])
