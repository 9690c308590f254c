"""The DARTS op table: ``OPS[name](C, stride, affine) -> nn.Module``, shared by supernet and retraining nets.

Every op maps ``C`` channels to ``C`` channels; ``stride=2`` halves the
resolution (ceil for odd sizes). ``affine`` is the BatchNorm affine flag.
"""
from __future__ import annotations

import torch
from torch import nn

OP_NAMES = (
    "none",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "avg_pool_3x3",
    "max_pool_3x3",
)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN (the cells' input preprocessing)."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked dilation-1 :class:`DilConv`; only the first one strides."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine),
        )


class Zero(nn.Module):
    """The ``none`` op: zeros of the output shape (kept in the graph, as DARTS does)."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two stride-2 1x1 convs, one offset by a pixel, concatenated."""

    def __init__(self, C_in, C_out, affine=True):
        super().__init__()
        if C_out < 2:
            raise ValueError(f"FactorizedReduce needs at least 2 output channels, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _skip(C, stride, affine):
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)


OPS = {
    "none": lambda C, stride, affine: Zero(stride),
    "skip_connect": _skip,
    "sep_conv_3x3": lambda C, stride, affine: SepConv(C, C, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C, stride, affine: SepConv(C, C, 5, stride, 2, affine),
    "dil_conv_3x3": lambda C, stride, affine: DilConv(C, C, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C, stride, affine: DilConv(C, C, 5, stride, 4, 2, affine),
    "avg_pool_3x3": lambda C, stride, affine: nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False),
    "max_pool_3x3": lambda C, stride, affine: nn.MaxPool2d(3, stride=stride, padding=1),
}
assert tuple(OPS) == OP_NAMES
