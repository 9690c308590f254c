"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of per-layer gradients across batches (higher = better).

For each batch ``b`` (at least two): forward, cross-entropy loss with the batch's labels (mean
over samples), backward; the gradient ``g_b`` of every ``nn.Conv2d`` and ``nn.Linear`` weight is
recorded. Per layer, with ``μ = mean_b |g_b|`` and ``σ = std_b g_b`` (population std) per weight
entry, over the entries with ``σ ≠ 0``: ``S_layer = Σ μ/σ``; the score is ``Σ_layers log S_layer``
(layers with ``S_layer = 0`` are skipped). This is ``caculate_zico`` of the official
``ZeroShotProxy/compute_zico.py``.

As in the official ``getzico`` the gradients are *not* zeroed between batches, so ``g_b`` is the
gradient accumulated over batches ``1..b`` (``accumulate=False`` records each batch's own
gradient, the paper's formula, instead).

- differentiated: the CE loss, with respect to Conv2d and Linear weights;
- parameters: as given (ZiCo's NAS-Bench-201 study: the benchmark network at its default init);
- BatchNorm: train mode (batch statistics);
- inputs: a list of batches with their labels (``needs_targets``; the reference: 2 batches of 64
  CIFAR-10 training images); a single batch is split into two halves;
- direction: higher is better;
- degenerate: no layer with a non-zero ratio sums to 0 (``log`` never taken), which the reference returns.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list
from tenas.proxies._common import logits
from tenas.state import untouched


def zico_from_gradients(grads: dict[str, list[torch.Tensor]]) -> float:
    """``Σ_layers log Σ_{σ≠0} mean_b|g|/std_b(g)`` of per-batch gradients ``grads[layer] = [g_1, g_2, ...]``."""
    total = 0.0
    for per_batch in grads.values():
        g = torch.stack([t.reshape(-1) for t in per_batch]).double()
        std = g.std(0, unbiased=False)
        keep = std != 0
        ratio_sum = float((g.abs().mean(0)[keep] / std[keep]).sum())
        if ratio_sum != 0:
            total += torch.log(torch.tensor(ratio_sum, dtype=torch.float64)).item()
    return total


@register_proxy("zico", higher_is_better=True, needs_targets=True)
def zico(model: nn.Module, inputs, *, targets, accumulate: bool = True) -> float:
    """ZiCo: Σ over conv/linear layers of log Σ mean|grad|/std(grad) across >= 2 labelled batches (CE loss, train-mode BN)."""
    batches, labels = as_list(inputs), as_list(targets)
    if len(batches) == 1:
        half = batches[0].shape[0] // 2
        batches = [batches[0][:half], batches[0][half:]]
        labels = [labels[0][:half], labels[0][half:]]
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    grads: dict[str, list[torch.Tensor]] = {}
    with untouched(model, train=True):
        for p in model.parameters():
            p.grad = None
            p.requires_grad_(True)
        for x, y in zip(batches, labels):
            if not accumulate:
                for p in model.parameters():
                    p.grad = None
            loss = F.cross_entropy(logits(model(x)), y.to(x.device))
            loss.backward()
            for name, m in layers:
                if m.weight.grad is not None:
                    grads.setdefault(name, []).append(m.weight.grad.detach().clone())
    return zico_from_gradients({k: v for k, v in grads.items() if len(v) == len(batches)})
