"""Weight initialisation used before each scoring repeat."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def kaiming_init_(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Re-draw weights in place: conv and linear weights Kaiming-normal (fan_in, ReLU gain),
    biases zero, BatchNorm gamma 1 and beta 0. Running statistics are reset.

    The draws come from ``generator`` (on the CPU, then copied), so a seed fixes them
    on every device.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            std = (2.0 / fan_in) ** 0.5
            w = torch.randn(m.weight.shape, generator=generator, dtype=torch.float32) * std
            m.weight.copy_(w.to(m.weight))
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()
            if m.track_running_stats:
                m.reset_running_stats()
    return model
