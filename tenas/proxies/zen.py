"""Zen-score (Lin et al., ICCV 2021): log of the pre-GAP feature map's response to a tiny input
perturbation, plus the log BatchNorm scaling (higher = better).

With ``x`` the given batch and ``ε`` a second standard-Gaussian batch, the feature map ``f`` just
before global average pooling is computed for ``x`` and for ``x + mixup_gamma * ε``; then
``Δ = mean_i Σ_{c,h,w} |f(x)_i - f(x + γ ε)_i|`` and the score is
``log Δ + Σ_{BatchNorm2d} log sqrt(mean(running_var))``, the running variances being those left
by the two forwards (train mode, the model's momentum, starting from reset statistics).

Where the pre-GAP feature map is read: the *input* of the last ``nn.AdaptiveAvgPool2d`` called in
the forward (for ``NB201Network`` the output of ``lastact``, i.e. final BN + ReLU, before ``pool``);
``feature_module="name"`` (a name from ``model.named_modules()``) reads that module's *output*
instead, for a user's model whose pooling is functional. A model with neither raises ``ValueError``.

- differentiated: nothing (two forwards under ``no_grad``);
- parameters: with ``gaussian_init`` (default, as the reference's ``network_weight_gaussian_init``)
  Conv2d/Linear weights are re-drawn N(0, 1) with zero biases and BN affine 1/0, inside the call and
  undone afterwards; ``gaussian_init=False`` scores the weights as given;
- BatchNorm: train mode (batch statistics), running statistics reset first (a fresh network's);
- inputs: one batch (the reference: 64 standard-Gaussian images, our ``noise`` kind); a list of
  batches gives the mean of the per-batch scores;
- randomness: the perturbation ``ε`` and the Gaussian weights come from a local generator seeded by
  ``seed`` or, when ``seed`` is None, by a hash of the inputs (fresh inputs per repeat, fresh draws);
- direction: higher is better;
- degenerate: a feature map that ignores its input (``Δ = 0``) gives ``-inf``, NaN after the registry.
"""
from __future__ import annotations

import torch
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list, forward_hooks, gaussian_init_, seed_from
from tenas.state import untouched


def pre_gap_features(model: nn.Module, x: torch.Tensor, feature_module: str | None = None) -> torch.Tensor:
    """The feature map entering global average pooling in one forward of ``x`` (see the module docstring)."""
    seen: list[torch.Tensor] = []
    if feature_module is not None:
        modules = [dict(model.named_modules())[feature_module]]
        hook, pre = (lambda m, args, out: seen.append(out)), False
    else:
        modules = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
        hook, pre = (lambda m, args: seen.append(args[0])), True
    if not modules:
        raise ValueError(f"{type(model).__name__} has no nn.AdaptiveAvgPool2d; pass feature_module= (the module whose output is the pre-GAP map)")
    with forward_hooks(modules, hook, pre=pre):
        model(x)
    if not seen:
        raise ValueError("the pre-GAP module was not called in the forward")
    return seen[-1]


def log_bn_scaling(model: nn.Module) -> float:
    """Σ over BatchNorm2d modules with running statistics of ``log sqrt(mean(running_var))``."""
    total = 0.0
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            total += 0.5 * float(torch.log(m.running_var.double().mean()))
    return total


@register_proxy("zen", higher_is_better=True)
def zen(model: nn.Module, inputs, *, mixup_gamma: float = 1e-2, gaussian_init: bool = True,
        seed: int | None = None, feature_module: str | None = None) -> float:
    """Zen-score: log mean |Δ pre-GAP features| under a 1e-2 Gaussian input perturbation + Σ log BN scaling."""
    scores = []
    generator = torch.Generator().manual_seed(seed_from(inputs, seed))
    with untouched(model, train=True), torch.no_grad():
        for x in as_list(inputs):
            if gaussian_init:
                gaussian_init_(model, generator)
            else:
                for m in model.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                        m.reset_running_stats()
            noise = torch.randn(x.shape, generator=generator).to(x)
            f1 = pre_gap_features(model, x, feature_module)
            f2 = pre_gap_features(model, x + mixup_gamma * noise, feature_module)
            delta = (f1 - f2).abs().flatten(1).sum(1).mean().double()
            scores.append(float(torch.log(delta)) + log_bn_scaling(model))
    return sum(scores) / len(scores)
