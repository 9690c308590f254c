"""Helpers shared by the activation-based proxies (nwot, epe_nas, zen, zico, meco, swap)."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn


def as_list(inputs) -> list[torch.Tensor]:
    """One batch or a list of batches, as a list of batches."""
    return list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]


@contextmanager
def forward_hooks(modules: Iterable[nn.Module], hook: Callable, pre: bool = False):
    """Register ``hook`` as forward (``pre=True``: forward-pre) hook on every module; removed on exit."""
    handles = [(m.register_forward_pre_hook(hook) if pre else m.register_forward_hook(hook)) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def relus(model: nn.Module) -> list[nn.Module]:
    """Every ``nn.ReLU`` module of ``model`` (functional ``relu`` calls are invisible to hooks)."""
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


def seed_from(inputs, seed: int | None) -> int:
    """``seed`` when given; otherwise a seed derived from the bytes of ``inputs`` (so each repeat's
    fresh inputs give fresh random draws, and the same inputs always give the same draws)."""
    if seed is not None:
        return int(seed)
    digest = hashlib.blake2b(digest_size=8)
    for x in as_list(inputs):
        digest.update(x.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return int.from_bytes(digest.digest(), "little") & ((1 << 62) - 1)


@torch.no_grad()
def gaussian_init_(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Zen-NAS / SWAP ``network_weight_gaussian_init``: Conv2d and Linear weights N(0, 1), their biases 0,
    BatchNorm2d/GroupNorm weight 1 and bias 0; BatchNorm running statistics reset (a freshly built network's)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.copy_(torch.randn(m.weight.shape, generator=generator).to(m.weight))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            m.reset_running_stats()
    return model


def distinct_rows(bits: torch.Tensor) -> int:
    """Number of distinct rows of a 0/1 (bool) matrix ``[rows, cols]``, rows compared bit for bit."""
    rows, cols = bits.shape
    if rows == 0:
        return 0
    if cols == 0:
        return 1
    pad = (-cols) % 8
    b = bits.to(torch.uint8)
    if pad:
        b = torch.nn.functional.pad(b, (0, pad))
    weights = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8, device=b.device)
    packed = (b.view(rows, -1, 8) * weights).sum(-1, dtype=torch.uint8).cpu().numpy()
    keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))
    return int(np.unique(keys.ravel()).shape[0])
