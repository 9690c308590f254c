"""Jacobian covariance: -Σ_i [log(λ_i + k) + 1/(λ_i + k)] over the eigenvalues of the inputs' Jacobian correlation (NAS-Bench-Suite-Zero's ``jacov``; higher = better).

As NASLib ``measures/jacov.py`` (Mellor et al.'s first NASWOT score, in NASLib's variant):
one forward of the batch (several batches concatenated) in train mode (BatchNorm with
batch statistics, so samples are coupled), ``J`` = ∂(Σ logits)/∂x, one row per sample
(flattened), ``C`` = the correlation matrix of the rows (``np.corrcoef``, float64), and
the score ``-Σ_i [log(λ_i + 1e-5) + 1/(λ_i + 1e-5)]`` over the eigenvalues λ of ``C``. The
eigenvalues come from ``numpy.linalg.eigvalsh`` (``C`` is symmetric) instead of NASLib's
``eig``: the same values, always real. No targets needed. Direction: higher is better (the
file's ρ with val_accuracy is +0.77). Degenerate case: a row of ``J`` that is constant
(e.g. a network whose output ignores its input) makes ``C`` undefined: NaN (NASLib: -1e8).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from tenas.proxies._registry import register_proxy
from tenas.proxies._common import logits
from tenas.state import untouched
from tenas.proxies._naslib import one_batch

K = 1e-5


def jacov_score(jacobian: np.ndarray, k: float = K) -> float:
    """``-Σ [log(λ + k) + 1/(λ + k)]`` over the eigenvalues of ``corrcoef(jacobian)`` (rows = samples); NaN if undefined."""
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.corrcoef(jacobian)
        if not np.all(np.isfinite(corr)):
            return math.nan
        try:
            v = np.linalg.eigvalsh(corr)
        except np.linalg.LinAlgError:
            return math.nan
        return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


@register_proxy("jacov", higher_is_better=True)
def jacov(model, inputs) -> float:
    """Score of the correlation of the per-sample input Jacobians of the summed logits, one batch, train mode."""
    x, _ = one_batch(inputs)
    with untouched(model, train=True):
        x = x.detach().clone().requires_grad_(True)
        out = logits(model(x))
        (jac,) = torch.autograd.grad(out.sum(), x, allow_unused=True)
    if jac is None:
        return math.nan
    return jacov_score(jac.reshape(jac.shape[0], -1).double().cpu().numpy())
