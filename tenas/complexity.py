"""Size of a network: parameters and FLOPs, in the conventions of NAS papers."""
from __future__ import annotations

import torch
from torch import nn


def count_parameters(model: nn.Module, exclude: tuple[str, ...] = ("auxiliary",)) -> int:
    """Trainable parameters, leaving out those whose name contains a string of ``exclude``
    (the auxiliary head, which DARTS does not count since it is dropped after training)."""
    return sum(p.numel() for name, p in model.named_parameters() if p.requires_grad and not any(s in name for s in exclude))


@torch.no_grad()
def count_flops(model: nn.Module, input_shape: tuple[int, ...], device="cpu") -> int:
    """Multiply-accumulates of one forward pass of ONE input of ``input_shape`` (C x H x W), eval mode.

    Counted on ``Conv2d`` (output elements x in_channels/groups x kernel area) and
    ``Linear`` (output elements x in_features) through forward hooks; BatchNorm,
    pooling, activations and additions are not counted. This is what NAS papers
    (DARTS, TE-NAS) report as "FLOPs" or "multi-adds". The auxiliary head does not
    run in eval mode, so it is not counted. The model's mode is restored.
    """
    total = 0

    def conv_hook(module: nn.Conv2d, _inputs, output):
        nonlocal total
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def linear_hook(module: nn.Linear, _inputs, output):
        nonlocal total
        total += output.numel() * module.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        model(torch.zeros(1, *input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return total
