"""Empirical NTK between two input sets, Θ(X1, X2) = J(X1) J(X2)ᵀ.

Built on :func:`tenas.ntk.empirical.jacobian`: each Jacobian comes from one
forward and one batched backward (no loop over pairs or samples), ``chunk_size``
cotangents at a time. Peak memory is the two Jacobians, ``(n + m) · k' · P``
floats (``k' = k`` per class, else 1; ``P`` the selected parameter count), plus
``chunk_size`` copies of the activation gradients during each backward.
"""
from __future__ import annotations

import torch
from torch import nn

from tenas.ntk.empirical import ParamSelector, jacobian


def empirical_ntk(
    model: nn.Module,
    x1: torch.Tensor,
    x2: torch.Tensor | None = None,
    *,
    params: ParamSelector = "weight",
    train: bool | None = True,
    per_class: bool = False,
    joint: bool = False,
    chunk_size: int | None = 32,
) -> torch.Tensor:
    """Empirical neural tangent kernel Θ(x1, x2) of ``model`` at its current parameters.

    Shapes: ``x1`` has ``n`` samples, ``x2`` ``m`` (``x2=None`` means ``x2 = x1``,
    computed from a single Jacobian). The result is ``[n, m]`` with
    ``Θ[i, j] = <∇_θ Σ_c f_c(x1_i), ∇_θ Σ_c f_c(x2_j)>`` (class-summed logits, as
    TE-NAS), or with ``per_class=True`` the full kernel ``[n·k, m·k]`` with
    ``Θ[i·k + c, j·k + d] = <∇_θ f_c(x1_i), ∇_θ f_d(x2_j)>``; the summed kernel is
    the sum of each ``k x k`` block of the per-class one.

    ``params`` picks the differentiated parameters (substring, list of names,
    predicate, or ``None`` for all; see :func:`select_parameters`).

    BatchNorm: ``train=True`` normalises with batch statistics, ``False`` with the
    running statistics, ``None`` keeps the model's mode. In train mode the samples
    of a batch are coupled, so the batch matters: by default (``joint=False``)
    ``x1`` and ``x2`` are forwarded as two separate batches, each normalised by
    its own statistics (``Θ(X, X)`` is then exactly the TE-NAS batch kernel of X);
    ``joint=True`` forwards ``cat([x1, x2])`` as one batch and returns the
    off-diagonal block of its kernel. Without BatchNorm, or in eval mode, the two
    agree. The model is left as found (mode, parameters, gradients, buffers).
    """
    if x2 is not None and x2.shape[1:] != x1.shape[1:]:
        raise ValueError(f"x1 and x2 must have the same sample shape, got {tuple(x1.shape[1:])} and {tuple(x2.shape[1:])}")
    options = dict(params=params, train=train, per_class=per_class, chunk_size=chunk_size)
    if x2 is None:
        J1 = jacobian(model, x1, **options)
        return J1 @ J1.T
    if joint:
        J = jacobian(model, torch.cat([x1, x2]), **options)
        split = J.shape[0] * len(x1) // (len(x1) + len(x2))
        return J[:split] @ J[split:].T
    return jacobian(model, x1, **options) @ jacobian(model, x2, **options).T
