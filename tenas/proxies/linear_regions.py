"""Number of linear regions (TE-NAS's expressivity indicator; higher = more expressive).

A ReLU network is piecewise linear: inside one *linear region* of input space
every ReLU keeps the same on/off state. The count of regions that a set of
input samples falls into is the number of distinct activation patterns among
them, the pattern of a sample being the sign of every ReLU output (``> 0``) of
every ``nn.ReLU`` module, concatenated in call order.
"""
from __future__ import annotations

import re
import warnings
from typing import Iterable

import numpy as np
import torch
from torch import nn

from tenas.state import untouched

_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_signs(activations: torch.Tensor) -> torch.Tensor:
    """``[n, ...]`` activations -> ``[n, ceil(D / 8)]`` uint8, bit ``d`` set iff feature ``d`` is ``> 0``.

    Packing happens on the activations' device (8 neurons per byte), so patterns
    cross to the CPU already compressed.
    """
    bits = (activations.detach().reshape(activations.shape[0], -1) > 0).to(torch.uint8)
    pad = (-bits.shape[1]) % 8
    if pad:
        bits = torch.nn.functional.pad(bits, (0, pad))
    weights = _BIT_WEIGHTS.to(bits.device)
    return (bits.view(bits.shape[0], -1, 8) * weights).sum(-1, dtype=torch.uint8)


def _unique_rows(rows: np.ndarray) -> np.ndarray:
    """Distinct rows of a 2-D uint8 array (compared as whole byte strings)."""
    if rows.shape[1] == 0:
        return rows[:1]
    keys = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1])))
    return rows[np.unique(keys.ravel(), return_index=True)[1]]


def count_linear_regions(
    model: nn.Module,
    inputs: torch.Tensor | Iterable[torch.Tensor],
    *,
    batch_size: int | None = None,
    train: bool | None = True,
    relus: str | None = None,
) -> int:
    """Number of distinct ReLU activation patterns of ``model`` over the input samples.

    ``inputs`` is one tensor ``[n, ...]`` or an iterable of such batches; each
    batch is one forward pass (``batch_size`` splits a single tensor into
    forwards of that many samples). With ``train=True`` (TE-NAS, default)
    BatchNorm normalises with the statistics of each forward batch, so how the
    samples are batched matters; ``False`` uses running statistics; ``None``
    keeps the model's mode. The pattern of a sample concatenates ``output > 0``
    of every ``nn.ReLU`` module called in the forward (functional ``relu``
    calls are invisible); a model without ReLU modules has one region (a
    warning says so). No samples: 0.

    ``relus`` selects which ReLU modules make up the pattern: a regular
    expression searched (``re.search``) in each module's qualified name from
    ``model.named_modules()``, e.g. ``"^cells\\.\\d+\\.edges\\."`` for only the ReLUs
    inside NAS-Bench-201 cells (not those of the residual reduction blocks or the
    final BN-ReLU); ``None`` (default) counts every ``nn.ReLU`` module. A filter
    that selects no module warns and gives one region, as a model without ReLUs.

    Exact and memory-bounded: patterns are packed to bits on the model's device
    and only the distinct ones seen so far are kept (at most ``n`` rows of
    ``D / 8`` bytes for ``D`` ReLU outputs per sample). The model is left as
    found: mode, parameters, gradients, buffers (BatchNorm running statistics),
    and no hook is left behind, even when the forward raises. No gradients are
    taken and the global RNG is not used.
    """
    batches = _batches(inputs, batch_size)
    if relus is not None and not isinstance(relus, str):
        raise ValueError(f"relus must be a regular expression (str) or None, got {relus!r}")
    pattern = re.compile(relus) if relus is not None else None
    modules = [m for name, m in model.named_modules() if isinstance(m, nn.ReLU) and (pattern is None or pattern.search(name))]
    if not modules:
        which = "no nn.ReLU module" if pattern is None else f"no nn.ReLU module whose name matches {relus!r}"
        warnings.warn(f"model has {which}: every sample lies in the same (single) linear region", RuntimeWarning, stacklevel=2)
    packed: list[torch.Tensor] = []

    def record(module, args, output):
        packed.append(pack_signs(output))

    distinct: np.ndarray | None = None
    seen = 0
    handles = [m.register_forward_hook(record) for m in modules]
    try:
        with untouched(model, train), torch.no_grad():
            for batch in batches:
                packed.clear()
                model(batch)
                n = batch.shape[0]
                seen += n
                if any(p.shape[0] != n for p in packed):
                    raise ValueError(f"a ReLU output does not have the batch's {n} samples first; count_linear_regions needs batch-first activations")
                rows = torch.cat(packed, 1).cpu().numpy() if packed else np.zeros((n, 0), dtype=np.uint8)
                distinct = _unique_rows(rows if distinct is None else np.concatenate([distinct, rows]))
    finally:
        for h in handles:
            h.remove()
        packed.clear()
    return 0 if distinct is None or seen == 0 else int(distinct.shape[0])


def _batches(inputs, batch_size: int | None) -> list[torch.Tensor]:
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if isinstance(inputs, torch.Tensor):
        if inputs.dim() < 1:
            raise ValueError("inputs must have a leading sample dimension")
        return list(inputs.split(batch_size)) if batch_size else [inputs]
    batches = list(inputs)
    if not all(isinstance(b, torch.Tensor) for b in batches):
        raise ValueError("inputs must be a tensor or an iterable of tensors")
    return [part for b in batches for part in (b.split(batch_size) if batch_size else [b])]


from tenas.proxies._registry import register_proxy  # noqa: E402

register_proxy("linear_regions", higher_is_better=True)(count_linear_regions)
