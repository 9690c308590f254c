"""Gradient norm: Σ over Conv2d/Linear layers of ‖∂L/∂W‖₂ (NAS-Bench-Suite-Zero's ``grad_norm``; higher = better).

As NASLib ``measures/grad_norm.py``: one forward of the batch (several batches are
concatenated into one) in train mode (BatchNorm uses the batch's statistics), mean
cross-entropy ``L`` of the logits against ``targets``, and for every ``nn.Conv2d`` and
``nn.Linear`` weight ``W`` the Frobenius norm of ``∂L/∂W``, summed over layers (biases and
BatchNorm parameters are not scored). A weight that does not reach the loss adds 0.
Direction: higher is better (Abdelfattah et al. 2021; the file's ρ with val_accuracy is
+0.61). Degenerate case: a network whose output ignores every weight scores 0.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._naslib import total


@register_proxy("grad_norm", higher_is_better=True, needs_targets=True, needs={"loss_grads"})
def grad_norm(p) -> float:
    """Σ over Conv2d/Linear layers of the Frobenius norm of ∂(cross-entropy)/∂W on one batch, train mode."""
    _, grads, _, _ = p.loss_grads()
    return total([g.norm() for g in grads if g is not None])
