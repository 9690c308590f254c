"""Infinite-width NTK of a two-layer ReLU network, and the finite network it is the limit of.

Network (NTK parameterisation, no biases)::

    f(x) = (1/√m) Σ_{j=1..m} a_j · relu(w_j · x),   w_j ~ N(0, I_d),  a_j ~ N(0, 1),

both layers trained. Its kernel is a sum of one term per layer,

    Θ(x, x') = (1/m) Σ_j relu(w_j·x) relu(w_j·x')               (readout a: ∂f/∂a_j)
             + (1/m) Σ_j a_j² 1[w_j·x > 0] 1[w_j·x' > 0] x·x'    (hidden w: ∂f/∂w_j),

and as m → ∞ each average tends to its expectation (arc-cosine kernels of
degree 1 and 0, Cho & Saul 2009), with θ the angle between x and x':

    readout: ‖x‖‖x'‖ (sin θ + (π - θ) cos θ) / (2π)
    hidden:  x·x' (π - θ) / (2π)

so Θ∞(x, x) = ‖x‖² (half from each layer). The finite-width kernel fluctuates
around Θ∞ with standard deviation O(1/√m). With ``k`` outputs (independent
readout rows) the per-class limit is Θ∞(x, x') δ_cd and the class-summed one k·Θ∞.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class TwoLayerReLU(nn.Module):
    """``f(x) = readout(relu(hidden(x))) / √width`` in NTK parameterisation (see module docstring).

    ``hidden.weight`` is ``[width, in_features]`` (rows w_j), ``readout.weight``
    ``[out_features, width]``; all entries drawn N(0, 1) from ``generator``.
    Inputs ``[n, ...]`` are flattened to ``[n, in_features]``; output ``[n, out_features]``.
    """

    def __init__(self, in_features: int, width: int, out_features: int = 1, generator: torch.Generator | None = None):
        super().__init__()
        if in_features < 1 or width < 1 or out_features < 1:
            raise ValueError(f"sizes must be positive, got in_features={in_features}, width={width}, out_features={out_features}")
        self.width = width
        self.hidden = nn.Linear(in_features, width, bias=False)
        self.readout = nn.Linear(width, out_features, bias=False)
        with torch.no_grad():
            for layer in (self.hidden, self.readout):
                layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(torch.relu(self.hidden(x.flatten(1)))) / math.sqrt(self.width)


def two_layer_relu_ntk(x1: torch.Tensor, x2: torch.Tensor | None = None, *, hidden: bool = True, readout: bool = True) -> torch.Tensor:
    """Analytic infinite-width NTK Θ∞(x1, x2) of :class:`TwoLayerReLU`, ``[n, m]`` float64.

    ``hidden`` / ``readout`` select which layer's contribution is included (the
    kernel of training only that layer); ``readout`` alone is the arc-cosine
    (NNGP) kernel of degree 1. Inputs ``[n, ...]`` are flattened; ``x2=None`` means ``x1``.
    """
    if not (hidden or readout):
        raise ValueError("select at least one trained layer (hidden and/or readout)")
    a = x1.detach().flatten(1).to(torch.float64)
    b = a if x2 is None else x2.detach().flatten(1).to(torch.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 and x2 must have the same number of features, got {a.shape[1]} and {b.shape[1]}")
    dot = a @ b.T
    norms = a.norm(dim=1)[:, None] * b.norm(dim=1)[None, :]
    cos = torch.where(norms > 0, dot / norms.clamp_min(torch.finfo(torch.float64).tiny), torch.zeros_like(dot)).clamp(-1.0, 1.0)
    theta = torch.arccos(cos)
    kernel = torch.zeros_like(dot)
    if readout:
        kernel = kernel + norms * (torch.sin(theta) + (math.pi - theta) * cos) / (2 * math.pi)
    if hidden:
        kernel = kernel + dot * (math.pi - theta) / (2 * math.pi)
    return kernel
