"""Leaving a model, and the global RNG, as they were found."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def untouched(model: nn.Module, train: bool | None = True):
    """Run a block that may change anything of ``model`` and the global RNG, then put it all back.

    Inside, the model is in train (``True``) or eval (``False``) mode (``None``: as found).
    Restored afterwards: every parameter's and buffer's value, every ``.grad`` (including
    ``None``), ``requires_grad``, each module's mode, the forward/backward hooks present
    before, and the global CPU (and CUDA) RNG state.
    """
    modes = {m: m.training for m in model.modules()}
    params = [(p, p.detach().clone(), None if p.grad is None else p.grad.detach().clone(), p.requires_grad) for p in model.parameters()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    hooks = {m: (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in model.modules()}
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() and torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            if train is not None:
                model.train(train)
            yield model
        finally:
            with torch.no_grad():  # written back only where changed: a write would bump the tensor's version and
                for p, value, grad, requires_grad in params:  # break the caller's autograd graphs that saved it
                    if not torch.equal(p, value):
                        p.copy_(value)
                    p.grad = grad
                    p.requires_grad_(requires_grad)
                for b, value in buffers:
                    if not torch.equal(b, value):
                        b.copy_(value)
            for m, mode in modes.items():
                m.training = mode
            for m, (forward, pre, backward) in hooks.items():
                for store, saved in ((m._forward_hooks, forward), (m._forward_pre_hooks, pre), (m._backward_hooks, backward)):
                    for key in [k for k in store if k not in saved]:
                        del store[key]
