"""NASWOT (Mellor et al., ICML 2021): log-determinant of the binary ReLU-code kernel (higher = better).

For every ``nn.ReLU`` module called in one forward, the code of sample ``i`` is ``c_i = (input_i > 0)``
over all that module's input units (NASWOT's ``hooklogdet`` and NASLib's ``nwot`` read the ReLU
*input*, which has the same sign as its output). The kernel sums, over the ReLU calls,
``K = c cᵀ + (1 - c)(1 - c)ᵀ`` (number of units on which two samples agree) and the score is
``log|det K|`` (``slogdet``, float64).

- differentiated: nothing (one forward, no gradients);
- parameters: all, as given (NAS-Bench-Suite-Zero: PyTorch's default init);
- BatchNorm: train mode (batch statistics; NASLib scores a fresh network, which is in train mode);
- inputs: one batch of training images (NAS-Bench-Suite-Zero: 64 CIFAR-10 images); a list of batches
  gives the mean of the per-batch scores;
- direction: higher is better;
- degenerate: a singular kernel (e.g. two identical codes, or no ReLU at all) has ``log det = -inf``,
  which the registry turns into NaN.
"""
from __future__ import annotations

import torch
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list, forward_hooks, relus
from tenas.state import untouched


def relu_code_kernel(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """NASWOT's kernel ``Σ_relus c cᵀ + (1-c)(1-c)ᵀ`` of one forward of ``x``, float64 ``[n, n]``."""
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64)

    def hook(module, args, output):
        code = (args[0].detach().reshape(n, -1) > 0).to(torch.float32)
        # c cᵀ + (1-c)(1-c)ᵀ = (D + s sᵀ) / 2 with s = 2c - 1 (exact in float32 below 2^24 units)
        s = 2.0 * code - 1.0
        kernel.add_(((s @ s.t() + code.shape[1]) / 2).to("cpu", torch.float64))

    with torch.no_grad(), forward_hooks(relus(model), hook):
        model(x)
    return kernel


@register_proxy("nwot", higher_is_better=True)
def nwot(model: nn.Module, inputs) -> float:
    """NASWOT score: slogdet of the summed binary ReLU-code kernel of one batch (no gradients, train-mode BN)."""
    scores = []
    with untouched(model, train=True):
        for x in as_list(inputs):
            _, logdet = torch.linalg.slogdet(relu_code_kernel(model, x))
            scores.append(float(logdet))
    return sum(scores) / len(scores)
