"""SWAP-score (Peng et al., ICLR 2024): number of distinct sample-wise activation patterns (higher = better).

One forward of the batch; the outputs of every ``nn.ReLU`` module whose input is a 4-D feature map
are flattened per sample and concatenated into ``A [samples, neurons]``. Each *neuron*'s pattern is
its sign vector over the samples, ``sign(A)ᵀ [neurons, samples]`` (ReLU outputs, so 0/1); the score
is the number of distinct such rows (``SampleWiseActivationPatterns.calSWAP`` of ``src/metrics/swap.py``).

This is the plain SWAP-score the paper correlates on NAS-Bench-201. The paper's *regularised*
variant multiplies it by ``exp(-(params_k - μ)² / σ)`` (``params_k``: parameter count in thousands,
μ and σ chosen per space to steer model size); it is a separate score, not implemented here.

- differentiated: nothing (one forward, no gradients);
- parameters: with ``gaussian_init`` (default, as the reference's ``network_weight_gaussian_init``)
  Conv2d/Linear weights are re-drawn N(0, 1), biases 0, BN affine 1/0, inside the call and undone
  afterwards (seeded by ``seed`` or, when None, by a hash of the inputs); ``False``: weights as given;
- BatchNorm: train mode (batch statistics);
- inputs: one batch of training images (the reference: 16 CIFAR-10 images, 32 weight re-draws
  averaged — use the study's repeats); a list of batches gives the mean of the per-batch scores;
- direction: higher is better;
- degenerate: a network without ReLU on feature maps scores 0; all-equal patterns score 1.
"""
from __future__ import annotations

import torch
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list, distinct_rows, forward_hooks, gaussian_init_, relus, seed_from
from tenas.state import untouched


def swap_count(model: nn.Module, x: torch.Tensor) -> int:
    """Distinct per-neuron sign patterns over the samples of ``x`` (one forward, as found)."""
    n = x.shape[0]
    patterns: list[torch.Tensor] = []

    def hook(module, args, output):
        if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
            patterns.append((output.detach().reshape(n, -1) > 0).t())

    with torch.no_grad(), forward_hooks(relus(model), hook):
        model(x)
    if not patterns:
        return 0
    return distinct_rows(torch.cat(patterns, 0))


@register_proxy("swap", higher_is_better=True)
def swap(model: nn.Module, inputs, *, gaussian_init: bool = True, seed: int | None = None) -> float:
    """SWAP-score: number of distinct per-neuron ReLU sign patterns over a batch (plain, unregularised)."""
    scores = []
    generator = torch.Generator().manual_seed(seed_from(inputs, seed))
    with untouched(model, train=True):
        for x in as_list(inputs):
            if gaussian_init:
                gaussian_init_(model, generator)
            scores.append(swap_count(model, x))
    return sum(scores) / len(scores)
