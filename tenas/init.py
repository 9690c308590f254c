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


INIT_METHODS = ("kaiming", "default")


def initialise(model: nn.Module, method: str, generator: torch.Generator) -> nn.Module:
    """Re-draw ``model``'s weights from ``generator``: ``"kaiming"`` is :func:`kaiming_init_`;
    ``"default"`` is PyTorch's own initialisation of each module (``reset_parameters``, and
    BatchNorm running statistics reset), drawn under a seed taken from ``generator`` without
    touching the global RNG."""
    if method == "kaiming":
        return kaiming_init_(model, generator)
    if method != "default":
        raise ValueError(f"unknown init {method!r}; known: {list(INIT_METHODS)}")
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model
