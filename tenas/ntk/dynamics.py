"""Training dynamics of the linearised model, solved in the eigenbasis of the kernel.

Loss ``L(u) = ½ Σ_i (u_i - y_i)²`` over the n training points (a sum; for the
mean loss pass ``K / n``). For a model linear in its parameters with kernel K
(a wide network near initialisation), learning rate η gives

* gradient flow ``du/dt = -η K (u - y)``:  ``u(t) = y + e^{-ηKt} (u(0) - y)``,
* gradient descent ``u_{s+1} = u_s - η K (u_s - y)``:  ``u_s = y + (I - ηK)^s (u_0 - y)``,

and a test point x* moves by ``du*/dt = -η Θ(x*, X) (u - y)``, so

* flow:    ``u*(t) = u*(0) - Θ(x*, X) V diag((1 - e^{-ηλt}) / λ) Vᵀ (u(0) - y)``,
* descent: ``u*_s  = u*_0  - Θ(x*, X) V diag((1 - (1 - ηλ)^s) / λ) Vᵀ (u_0 - y)``,

with K = V diag(λ) Vᵀ (the factor tends to ηt, resp. ηs, as λ → 0, so a
singular K needs no pseudo-inverse). One ``eigh`` per call, all times at once,
everything in float64.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LinearizedPrediction:
    """Predicted outputs at each requested time: ``train`` ``[T, n(, k)]``, ``test`` ``[T, m(, k)]`` or None."""

    train: torch.Tensor
    test: torch.Tensor | None


def gradient_flow(kernel, targets, initial, times, *, lr: float, test_kernel=None, test_initial=None) -> LinearizedPrediction:
    """Continuous-time kernel gradient flow (see module docstring), at each of ``times`` (``[T]``, >= 0).

    ``kernel`` K is ``[n, n]`` symmetric PSD; ``targets`` y and ``initial`` u(0) are
    ``[n]`` or ``[n, k]`` (each column evolves under the same K); ``test_kernel``
    Θ(X*, X) is ``[m, n]`` and ``test_initial`` u*(0) ``[m]`` or ``[m, k]``.
    """
    times = _as_times(times, integral=False)
    return _evolve(
        kernel, targets, initial, test_kernel, test_initial, lr,
        residual=lambda lam: torch.exp(-lr * lam[None, :] * times[:, None]),
        integral=lambda lam: torch.where(
            lam.abs() > 0, -torch.expm1(-lr * lam[None, :] * times[:, None]) / lam[None, :], lr * times[:, None].expand(-1, len(lam))
        ),
    )


def gradient_descent(kernel, targets, initial, steps, *, lr: float, test_kernel=None, test_initial=None) -> LinearizedPrediction:
    """Full-batch gradient descent on the linearised model after each of ``steps`` (``[T]`` integers >= 0).

    Same shapes as :func:`gradient_flow`. Diverges (``|1 - ηλ_max| > 1``) when η > 2 / λ_max.
    """
    steps = _as_times(steps, integral=True)

    def integral(lam):
        rate = lr * lam[None, :]
        # 1 - (1 - ηλ)^s without cancellation where ηλ is small; the limit ηs at λ = 0
        small = -torch.expm1(steps[:, None] * torch.log1p(-rate.clamp(max=0.5)))
        large = 1.0 - (1.0 - rate) ** steps[:, None]
        total = torch.where(rate < 0.5, small, large)
        return torch.where(lam.abs() > 0, total / lam[None, :], lr * steps[:, None].expand(-1, len(lam)))

    return _evolve(
        kernel, targets, initial, test_kernel, test_initial, lr,
        residual=lambda lam: (1.0 - lr * lam[None, :]) ** steps[:, None],
        integral=integral,
    )


def _as_times(times, integral: bool) -> torch.Tensor:
    t = torch.as_tensor(times, dtype=torch.float64).reshape(-1)
    if bool((t < 0).any()) or not bool(torch.isfinite(t).all()):
        raise ValueError("times/steps must be finite and >= 0")
    if integral and not bool((t == t.round()).all()):
        raise ValueError("gradient-descent steps must be whole numbers")
    return t


def _evolve(kernel, targets, initial, test_kernel, test_initial, lr, residual, integral) -> LinearizedPrediction:
    if not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")
    K = torch.as_tensor(kernel).detach().to(torch.float64)
    n = K.shape[0]
    if K.dim() != 2 or K.shape[1] != n:
        raise ValueError(f"kernel must be a square [n, n] matrix, got shape {tuple(K.shape)}")
    y = torch.as_tensor(targets).detach().to(torch.float64)
    u0 = torch.as_tensor(initial).detach().to(torch.float64)
    if y.shape[:1] != (n,) or y.dim() > 2 or u0.shape != y.shape:
        raise ValueError(f"targets and initial must both be [n] or [n, k] with n = {n}, got {tuple(y.shape)} and {tuple(u0.shape)}")
    if (test_kernel is None) != (test_initial is None):
        raise ValueError("test_kernel and test_initial must be given together")
    lam, V = torch.linalg.eigh((K + K.T) / 2)
    coeff = V.T @ (u0 - y).reshape(n, -1)  # [n, k]: residual in the eigenbasis
    train = y.reshape(n, -1) + torch.einsum("ij,tj,jk->tik", V, residual(lam), coeff)
    test = None
    if test_kernel is not None:
        Ks = torch.as_tensor(test_kernel).detach().to(torch.float64)
        u0s = torch.as_tensor(test_initial).detach().to(torch.float64)
        if Ks.dim() != 2 or Ks.shape[1] != n:
            raise ValueError(f"test_kernel must be [m, {n}], got shape {tuple(Ks.shape)}")
        if u0s.shape[:1] != Ks.shape[:1] or u0s.shape[1:] != y.shape[1:]:
            raise ValueError(f"test_initial must be [{Ks.shape[0]}]{list(y.shape[1:])}, got {tuple(u0s.shape)}")
        test = u0s.reshape(len(Ks), -1) - torch.einsum("mj,tj,jk->tmk", Ks @ V, integral(lam), coeff)
        test = test.reshape(len(test), *u0s.shape)
    return LinearizedPrediction(train=train.reshape(len(train), *y.shape), test=test)
