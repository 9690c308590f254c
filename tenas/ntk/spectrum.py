"""Spectrum of a kernel matrix and what it says about gradient-descent training.

Convention (shared with :mod:`tenas.ntk.dynamics`): the loss is
``L(u) = ½ Σ_i (u_i - y_i)²`` (a sum, not a mean), so gradient flow with
learning rate η moves the training outputs by ``du/dt = -η K (u - y)`` and a
gradient-descent step by ``u ← u - η K (u - y)`` in the linear regime. For the
mean loss ``½ · (1/n) Σ (u_i - y_i)²`` pass ``K / n`` instead of ``K``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Spectrum:
    """Eigen-summary of a symmetric positive semi-definite kernel ``K`` (n x n).

    ``eigenvalues``: float64, ascending. ``condition_number`` κ = λ_max / λ_min, or
    ``inf`` when λ_min <= 0 (singular up to rounding). ``trace`` = Σλ.
    ``effective_rank`` = exp(H(p)) with p_i = λ_i / Σλ over the positive
    eigenvalues (the entropy effective rank of Roy & Vetterli, 2007: n for a
    flat spectrum, 1 for rank one). ``stable_rank`` = trace / λ_max (= ‖J‖_F² /
    ‖J‖₂² for K = J Jᵀ; also in [1, n]).
    """

    eigenvalues: torch.Tensor
    lambda_min: float
    lambda_max: float
    condition_number: float
    trace: float
    effective_rank: float
    stable_rank: float

    @property
    def max_stable_learning_rate(self) -> float:
        """Largest η for which gradient descent ``u ← u - ηK(u - y)`` does not diverge: 2 / λ_max."""
        return 2.0 / self.lambda_max

    def loss_bound(self, lr: float, time) -> torch.Tensor:
        """Upper bound on L(t) / L(0) under gradient flow: ``exp(-2 η λ_min t)``.

        ``time`` (scalar or tensor) is the flow's time; ``s`` gradient-descent steps of
        size η correspond to ``t = s`` when η λ_max ≪ 1.
        """
        return torch.exp(-2.0 * lr * max(self.lambda_min, 0.0) * torch.as_tensor(time, dtype=torch.float64))

    def step_contraction(self, lr: float) -> float:
        """Worst per-step factor ``max_i |1 - η λ_i|`` of the residual ‖u - y‖ under gradient descent
        (< 1 iff 0 < η < 2 / λ_max; at η = 1 / λ_max it is 1 - 1/κ, so about κ steps per factor e)."""
        return max(abs(1.0 - lr * self.lambda_min), abs(1.0 - lr * self.lambda_max))


def kernel_spectrum(kernel: torch.Tensor) -> Spectrum:
    """Eigenvalues, κ, λ_min, λ_max, trace and effective ranks of a symmetric PSD kernel (one ``eigvalsh`` in float64).

    ``kernel`` is ``[n, n]``; it is symmetrised as (K + Kᵀ)/2. Raises ValueError
    for a non-square or non-finite matrix or a spectrum with no positive eigenvalue.
    """
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a square matrix, got shape {tuple(kernel.shape)}")
    K = kernel.detach().to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        raise ValueError("kernel has non-finite entries")
    eig = torch.linalg.eigvalsh((K + K.T) / 2)
    lmin, lmax = float(eig[0]), float(eig[-1])
    if not lmax > 0:
        raise ValueError(f"kernel has no positive eigenvalue (λ_max = {lmax:.3g})")
    positive = eig[eig > 0]
    p = positive / positive.sum()
    return Spectrum(
        eigenvalues=eig,
        lambda_min=lmin,
        lambda_max=lmax,
        condition_number=lmax / lmin if lmin > 0 else math.inf,
        trace=float(eig.sum()),
        effective_rank=float(torch.exp(-(p * p.log()).sum())),
        stable_rank=float(eig.sum()) / lmax,
    )
