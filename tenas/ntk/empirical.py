"""Empirical NTK of any ``nn.Module``, computed with one forward and one batched backward.

Semantics (those of TE-NAS): the row of sample i is the gradient of its
class-summed logit ``sum_c f(x)[i, c]`` with respect to the selected parameters
(by default every parameter whose name contains ``"weight"``: conv and linear
weights and BatchNorm gammas; no biases, no BN betas). ``Θ = J Jᵀ``. In train
mode BatchNorm normalises with the statistics of the whole batch, so samples are
coupled: the rows are the gradients of each output of *one* batched forward,
which is what a per-sample loop of ``backward`` calls on that forward computes.
(``vmap`` over single samples would give every sample its own statistics and a
different kernel.)

How: ``torch.func.vjp`` of the batch's outputs, then ``torch.func.vmap`` of the
pullback over one-hot cotangents, ``chunk_size`` at a time. The forward runs
under :class:`tenas.ntk.fast_backward.fast_backward_ops`, whose exact
convolution, pooling (CPU) and BatchNorm backward formulas are several times
faster than PyTorch's on few-channel activations and under ``vmap``.

The caller's model is left as it was found: its train/eval mode, parameters,
``.grad`` fields and BatchNorm running statistics.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, vjp, vmap

from tenas.ntk.fast_backward import fast_backward_ops
from tenas.state import untouched

#: κ reported for a degenerate kernel (non-finite entries, or λ_min <= 0); the
#: reference implementation maps a NaN κ to the same value.
DEGENERATE_KAPPA = 1e5

ParamSelector = str | Iterable[str] | Callable[[str, nn.Parameter], bool] | None


def select_parameters(model: nn.Module, params: ParamSelector = "weight") -> list[tuple[str, nn.Parameter]]:
    """The parameters the kernel differentiates.

    ``params`` is a substring every selected name contains (default ``"weight"``),
    an explicit list of names, a predicate ``(name, param) -> bool``, or ``None``
    for every parameter. Parameters with ``requires_grad=False`` are never selected.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if params is None:
        chosen = named
    elif isinstance(params, str):
        chosen = [(n, p) for n, p in named if params in n]
    elif callable(params):
        chosen = [(n, p) for n, p in named if params(n, p)]
    else:
        wanted = set(params)
        chosen = [(n, p) for n, p in named if n in wanted]
        missing = wanted - {n for n, _ in chosen}
        if missing:
            raise ValueError(f"no trainable parameter named {sorted(missing)[0]!r} in the model")
    if not chosen:
        raise ValueError(f"parameter selection {params!r} matches no trainable parameter")
    return chosen


def _logits(output):
    if isinstance(output, (tuple, list)):
        output = output[-1]
    if output.dim() == 1:
        output = output[:, None]
    return output.flatten(1)


def jacobian(
    model: nn.Module,
    inputs: torch.Tensor,
    *,
    params: ParamSelector = "weight",
    train: bool | None = True,
    per_class: bool = False,
    chunk_size: int | None = 8,
) -> torch.Tensor:
    """Rows of the NTK Jacobian, shape ``[n, P]`` (or ``[n * k, P]`` with ``per_class``, row ``i*k + c``).

    One forward of the whole batch, then one backward batched over the one-hot
    cotangents, ``chunk_size`` of them at a time (bounds peak memory: a batched
    backward holds ``chunk_size`` copies of the activation gradients; ``None`` =
    all at once; on a CPU 8 is the fastest for TE-NAS's 3-channel NAS-Bench-201
    supernet, where larger chunks fall out of the caches, and 32 for the DARTS
    supernet, whose grouped convolutions then build their input patches once). ``train`` selects BatchNorm with batch
    statistics (True, TE-NAS) or running statistics (False); ``None`` keeps the
    model's own mode. Columns follow :func:`select_parameters`; a selected
    parameter the forward does not use (a switched-off op) has zero columns.
    """
    _check_chunk_size(chunk_size)
    names, fixed = _parameters(model, params)

    def outputs_of(selected: dict[str, torch.Tensor]) -> torch.Tensor:
        with fast_backward_ops():
            logits = _logits(functional_call(model, {**fixed, **selected}, (inputs,)))
        return logits.reshape(-1) if per_class else logits.sum(1)

    with untouched(model, train), _batch_statistics_only(model), torch.enable_grad():
        return _rows(outputs_of, names, fixed, chunk_size)


def candidate_ntk_matrices(
    net: nn.Module,
    inputs: torch.Tensor,
    alive_sets: list,
    *,
    params: ParamSelector = "weight",
    train: bool | None = True,
    per_class: bool = False,
    chunk_size: int | None = 8,
) -> torch.Tensor:
    """The NTKs ``[len(alive_sets), n, n]`` of one supernet under several alive-sets, batched.

    ``net`` is a supernet with ``op_mask(alive)`` and ``masked(mask)`` (see
    :class:`search_spaces.base.Supernet`): its forward then weighs every op by the
    alive-set's 0/1 mask, so one ``vmap`` over the masks scores all the alive-sets in
    one computation (peak memory grows with their number). Each kernel equals
    :func:`ntk_matrix` of ``net`` under that alive-set up to float rounding: a
    switched-off op adds an exact zero to its edge and gets zero columns.
    Options as in :func:`jacobian`.
    """
    _check_chunk_size(chunk_size)
    names, fixed = _parameters(net, params)
    masks = torch.stack([net.op_mask(alive) for alive in alive_sets]).to(inputs.device)

    def kernel(mask: torch.Tensor) -> torch.Tensor:
        def outputs_of(selected: dict[str, torch.Tensor]) -> torch.Tensor:
            with fast_backward_ops(), net.masked(mask):
                logits = _logits(functional_call(net, {**fixed, **selected}, (inputs,)))
            return logits.reshape(-1) if per_class else logits.sum(1)

        J = _rows(outputs_of, names, fixed, chunk_size)
        return J @ J.T

    with untouched(net, train), _batch_statistics_only(net), torch.enable_grad():
        return vmap(kernel)(masks)


def candidate_condition_numbers(net: nn.Module, inputs: torch.Tensor, alive_sets: list, *,
                                fallback: float = DEGENERATE_KAPPA, **options) -> list[float]:
    """κ of ``net`` under each of ``alive_sets``, batched (:func:`candidate_ntk_matrices`); the
    same values as :func:`ntk_condition_number` under each alive-set, up to float rounding."""
    return [condition_number(K, fallback=fallback) for K in candidate_ntk_matrices(net, inputs, alive_sets, **options)]


def _check_chunk_size(chunk_size) -> None:
    if chunk_size is not None and int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer or None, got {chunk_size}")


def _parameters(model: nn.Module, params: ParamSelector) -> tuple[list[str], dict[str, torch.Tensor]]:
    """The selected parameters' names and every parameter, detached."""
    names = [n for n, _ in select_parameters(model, params)]
    return names, {n: p.detach() for n, p in model.named_parameters()}


def _rows(outputs_of, names: list[str], fixed: dict[str, torch.Tensor], chunk_size: int | None) -> torch.Tensor:
    """Jacobian rows ``[m, P]`` of ``outputs_of`` (selected parameters -> ``m`` outputs): one forward,
    then the pullback batched over one-hot cotangents, ``chunk_size`` at a time."""
    outputs, pullback = vjp(outputs_of, {n: fixed[n] for n in names})
    m = outputs.shape[0]
    step = m if not chunk_size else int(chunk_size)
    eye = torch.eye(m, dtype=outputs.dtype, device=outputs.device)
    blocks = []
    for start in range(0, m, step):
        (grads,) = vmap(pullback)(eye[start : start + step])
        blocks.append(torch.cat([grads[n].reshape(grads[n].shape[0], -1) for n in names], dim=1))
    return torch.cat(blocks, 0)


@contextmanager
def _batch_statistics_only(model: nn.Module):
    """Train-mode BatchNorm layers normalise with batch statistics but skip the running-statistics
    update inside the block (the same outputs; ``torch.func`` transforms forbid in-place buffer updates)."""
    switched = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and m.training and m.track_running_stats]
    for m in switched:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in switched:
            m.track_running_stats = True


def ntk_matrix(model: nn.Module, inputs: torch.Tensor, **options) -> torch.Tensor:
    """The ``n x n`` empirical NTK ``Θ = J Jᵀ`` of one batch (options as in :func:`jacobian`)."""
    J = jacobian(model, inputs, **options)
    return J @ J.T


def condition_number(kernel: torch.Tensor, *, fallback: float = DEGENERATE_KAPPA) -> float:
    """κ = λ_max / λ_min of a symmetric kernel, eigenvalues in float64.

    A degenerate kernel (non-finite entries, λ_min <= 0, or a non-finite ratio)
    returns ``fallback`` with a ``RuntimeWarning`` instead of raising, so a search
    loop never stops on one bad candidate.
    """
    K = kernel.detach().to(torch.float64)
    if not bool(torch.isfinite(K).all()):
        warnings.warn(f"NTK has non-finite entries; κ set to {fallback:g}", RuntimeWarning, stacklevel=2)
        return float(fallback)
    eig = torch.linalg.eigvalsh((K + K.T) / 2)
    lmin, lmax = float(eig[0]), float(eig[-1])
    if not lmin > 0 or not math.isfinite(lmax / lmin):
        warnings.warn(f"NTK is singular (λ_min={lmin:.3g}, λ_max={lmax:.3g}); κ set to {fallback:g}", RuntimeWarning, stacklevel=2)
        return float(fallback)
    return lmax / lmin


def ntk_condition_number(model: nn.Module, inputs: torch.Tensor, *, fallback: float = DEGENERATE_KAPPA, **options) -> float:
    """κ of the empirical NTK of ``model`` on ``inputs`` (TE-NAS's trainability indicator; lower = more trainable).

    Train-mode BatchNorm, class-summed logits, parameters named ``*weight*`` by
    default (see :func:`jacobian` for ``params``, ``train``, ``chunk_size``).
    Degenerate kernels give ``fallback`` and a warning (see :func:`condition_number`).
    """
    return condition_number(ntk_matrix(model, inputs, **options), fallback=fallback)
