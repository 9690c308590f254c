"""Ops that both spaces' op tables build: :class:`ReLUConvBN`, :class:`Zero` and :class:`FactorizedReduce`.

Where the two spaces differ, a constructor argument says how (BatchNorm flags, whether
``Zero`` changes the width, how ``FactorizedReduce`` names its convolutions in the
state dict); each space's ``ops`` module passes its own values.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def position(index: int) -> property:
    """A read-only name for a Sequential's module at ``index``: the module keeps its key (``"1"``)
    in state dicts, ``named_parameters`` and ``named_modules``, and code can say ``block.conv``."""
    return property(lambda self: self[index], doc=f"The module at position {index}.")


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv (no bias) -> BN, a Sequential (state-dict keys ``1.weight``, ``2.weight`` ...);
    :attr:`relu`, :attr:`conv` and :attr:`bn` name its three modules."""

    relu, conv, bn = position(0), position(1), position(2)

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track_running_stats=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros at the resolution ``stride`` gives (ceil for odd sizes).

    With the input's width (``C_out`` None or equal to it) the zeros are ``input * 0``, so the
    op stays in the autograd graph (and a NaN input stays NaN); another ``C_out`` gives fresh zeros.
    """

    def __init__(self, stride: int = 1, C_out: int | None = None):
        super().__init__()
        self.stride, self.C_out = stride, C_out

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        if self.C_out is None or x.shape[1] == self.C_out:
            return x.mul(0.0)
        return x.new_zeros(x.shape[0], self.C_out, *x.shape[2:])


class FactorizedReduce(nn.Module):
    """A skip connection that changes resolution or width, then BN.

    ``stride=2``: ReLU, then two stride-2 1x1 convs, the second on the input shifted by one
    pixel (zero-padded at the bottom and right), their outputs (``C_out // 2`` and the rest)
    concatenated. ``stride=1``: one 1x1 conv, no ReLU (a width change).

    ``conv_list`` chooses the convs' names: ``False``: ``conv_1``, ``conv_2``; ``True``: a
    ModuleList ``convs`` (state-dict keys ``convs.0``, ``convs.1``). Either way they are
    built in that order, before the BN.
    """

    def __init__(self, C_in, C_out, stride: int = 2, affine: bool = True, conv_list: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"FactorizedReduce has stride 1 or 2, got {stride}")
        if stride == 2 and C_out < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels, got {C_out}")
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            convs = [nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False), nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)]
        else:
            convs = [nn.Conv2d(C_in, C_out, 1, bias=False)]
        if conv_list:
            self.convs = nn.ModuleList(convs)
        else:
            for i, conv in enumerate(convs, 1):
                self.add_module(f"conv_{i}", conv)
        self.conv_list = conv_list
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def conv_modules(self) -> list[nn.Conv2d]:
        """The convs in order (one at stride 1, two at stride 2)."""
        if self.conv_list:
            return list(self.convs)
        return [self.conv_1, self.conv_2] if self.stride == 2 else [self.conv_1]

    def forward(self, x):
        convs = self.conv_modules()
        if self.stride == 1:
            return self.bn(convs[0](x))
        x = self.relu(x)
        shifted = F.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([convs[0](x), convs[1](shifted)], dim=1))
