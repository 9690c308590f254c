"""What the NAS-Bench-Suite-Zero proxies (NASLib's zero-cost measures) share.

NASLib (``naslib/predictors/zerocost.py``, ``naslib/predictors/utils/pruners/``) scores
each architecture once: a fresh network (PyTorch's default initialisation), one
training batch of 32 augmented images, cross-entropy (mean) on the logits, the
network in train mode (BatchNorm normalises with the batch's statistics) unless a
measure says otherwise. The per-weight measures are taken on every ``nn.Conv2d`` and
``nn.Linear`` weight (biases and BatchNorm parameters are not scored) and summed.
Several batches (``num_batches > 1``) are concatenated into one, as NASLib's
``get_some_data`` does.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from tenas.proxies._common import logits
from tenas.state import untouched

#: The layers NASLib scores (``p_utils.get_layer_metric_array``).
LAYER_TYPES = (nn.Conv2d, nn.Linear)


def scored_layers(model: nn.Module) -> list[nn.Module]:
    """``model``'s ``Conv2d`` and ``Linear`` modules, in module order."""
    return [m for m in model.modules() if isinstance(m, LAYER_TYPES)]


def one_batch(inputs, targets=None):
    """One tensor (and its targets) from a batch or a list of batches, concatenated in order."""
    if isinstance(inputs, (list, tuple)):
        inputs = torch.cat(list(inputs))
        if targets is not None:
            targets = torch.cat(list(targets))
    return inputs, targets


def cross_entropy(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``model``'s logits on one batch (NASLib's ``graph.get_loss_fn()``)."""
    out = logits(model(inputs))
    return F.cross_entropy(out, targets.to(out.device))


def weight_gradients(model: nn.Module, inputs, targets, create_graph: bool = False):
    """The loss, the scored layers, and ``dL/dW`` of each (``None`` where a weight does not reach the loss)."""
    x, y = one_batch(inputs, targets)
    layers = scored_layers(model)
    for layer in layers:
        layer.weight.requires_grad_(True)
    loss = cross_entropy(model, x, y)
    if not loss.requires_grad:  # no parameter reaches the loss
        return loss, layers, [None] * len(layers)
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers], allow_unused=True, create_graph=create_graph)
    return loss, layers, list(grads)


@contextmanager
def unfused(model: nn.Module) -> Iterator[nn.Module]:
    """Run modules that offer a faster *fused* forward (a boolean ``fused`` attribute, e.g. the
    NAS-Bench-201 scoring supernet's cells) unfused inside the block: same function, but every
    conv/BN/pool module is called as a module, so forward hooks on them fire. Restored after."""
    saved = [(m, m.fused) for m in model.modules() if isinstance(getattr(m, "fused", None), bool)]
    try:
        for m, _ in saved:
            m.fused = False
        yield model
    finally:
        for m, value in saved:
            m.fused = value


def total(values: Sequence[torch.Tensor]) -> float:
    """Sum of a list of tensors, in float64."""
    return float(sum((v.detach().double().sum() for v in values), torch.zeros((), dtype=torch.float64)))


# --- model statistics as NASLib counts them (tensorwatch's torchstat: ``model_stats.py``) ---------

def _flops_of(module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> int:
    """torchstat's ``compute_flops`` of one module call (0 for module types it does not count)."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        positions = out.shape[0] * out.shape[2] * out.shape[3]
        flops = kh * kw * (module.in_channels // module.groups) * module.out_channels * positions
        return flops + (module.out_channels * positions if module.bias is not None else 0)
    if isinstance(module, nn.BatchNorm2d):
        return x.numel() * (2 if module.affine else 1)
    if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
        kernel = module.kernel_size if isinstance(module.kernel_size, tuple) else (module.kernel_size,) * 2
        return out.numel() * kernel[0] * kernel[1]
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        # torchstat's formula, off-by-one included: (rows + 1) x (cols + 1) reads per output cell
        h, w = x.shape[2], x.shape[3]
        oh, ow = out.shape[2], out.shape[3]
        reads = 0
        for i in range(oh):
            rows = -(-((i + 1) * h) // oh) - (i * h) // oh + 1
            for j in range(ow):
                reads += rows * (-(-((j + 1) * w) // ow) - (j * w) // ow + 1)
        return x.shape[0] * x.shape[1] * reads
    if isinstance(module, (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)):
        return x.numel()
    if isinstance(module, nn.Upsample):
        return out.numel()
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    return 0


@torch.no_grad()
def model_stats(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, int, list[nn.Module]]:
    """``(parameters, flops, called)`` of one eval-mode forward of a zeros input ``[1, *input_shape]``.

    As tensorwatch's ``ModelStats`` (what NASLib's ``flops``/``params`` read): the
    parameters are those held (directly) by the modules that run in the forward; the FLOPs
    follow torchstat's per-module formulas: ``Conv2d`` multiply-accumulates (+ one per
    output for a bias), ``BatchNorm2d`` one per input element (two when affine), ReLU-type
    activations one per element, ``AvgPool2d``/``MaxPool2d`` one per output element and
    kernel tap, adaptive pooling torchstat's window count, ``Linear`` multiply-accumulates
    (bias not counted), ``Upsample`` one per output; everything else (additions, identity,
    zero ops) 0. Unlike torchstat, a module called twice is counted twice. ``called``: the
    modules that ran. Call inside :func:`tenas.proxies._common.untouched` (eval mode).
    """
    flops = 0
    called: dict[nn.Module, None] = {}

    def hook(module, args, out):
        nonlocal flops
        called[module] = None
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        if x is not None and isinstance(out, torch.Tensor):
            flops += _flops_of(module, x, out)

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with unfused(model):
            first = next(model.parameters(), None)
            kwargs = {"device": first.device, "dtype": first.dtype} if first is not None and first.is_floating_point() else {}
            model(torch.zeros(1, *input_shape, **kwargs))
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for m in called for p in m.parameters(recurse=False))
    return params, flops, list(called)


def counted_in_millions(model: nn.Module, inputs, which: int) -> float:
    """Item ``which`` of :func:`model_stats` (0: parameters, 1: FLOPs) for one sample of ``inputs``' shape, in millions,
    the model left as found."""
    x, _ = one_batch(inputs)
    with untouched(model, train=False):
        return model_stats(model, tuple(x.shape[1:]))[which] / 1e6
