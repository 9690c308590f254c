"""GraSP: -Σ W ⊙ (H g) over Conv2d/Linear weights, g = ∂L/∂W, H the Hessian (NAS-Bench-Suite-Zero's ``grasp``; higher = better).

As NASLib ``measures/grasp.py`` (T = 1, one iteration): ``L`` = mean cross-entropy of the
logits against ``targets`` on one batch (several batches concatenated), train mode
(BatchNorm with batch statistics); ``g`` = ∂L/∂W over every ``Conv2d``/``Linear`` weight
(treated as a constant), ``Hg`` = ∂(Σ g ⊙ ∂L/∂W)/∂W (Hessian-gradient product, restricted
to those weights), and the score is ``Σ -W ⊙ Hg``. NASLib runs two identical forwards
(one for ``g``, one for ``Hg``); in train mode they compute the same function of the same
batch, so one forward with a double backward is used here (same value).

Direction: higher is better, as NASLib's sign convention gives it (its note: the minus
sign is there because accuracy correlates negatively with ``W ⊙ Hg``; the file's ρ with
val_accuracy is +0.54). Degenerate case: a network whose output ignores every weight
scores 0.
"""
from __future__ import annotations

import torch

from tenas.proxies._registry import register_proxy
from tenas.state import untouched
from tenas.proxies._naslib import total, weight_gradients


@register_proxy("grasp", higher_is_better=True, needs_targets=True)
def grasp(model, inputs, *, targets) -> float:
    """-Σ W ⊙ (H g) over Conv2d/Linear weights, g the cross-entropy gradient on one batch, train mode."""
    with untouched(model, train=True):
        _, layers, grads = weight_gradients(model, inputs, targets, create_graph=True)
        pairs = [(layer.weight, g) for layer, g in zip(layers, grads) if g is not None and g.requires_grad]
        if not pairs:
            return 0.0
        z = sum((g.detach() * g).sum() for _, g in pairs)
        hg = torch.autograd.grad(z, [w for w, _ in pairs], allow_unused=True)
        return total([-w.detach() * h for (w, _), h in zip(pairs, hg) if h is not None])
