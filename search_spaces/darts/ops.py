"""The DARTS op table: ``OPS[name](C, stride, affine) -> nn.Module``, shared by supernet and retraining nets.

Every op maps ``C`` channels to ``C`` channels; ``stride=2`` halves the
resolution (ceil for odd sizes). ``affine`` is the BatchNorm affine flag.
"""
from __future__ import annotations

from torch import nn

from search_spaces.ops import FactorizedReduce, Zero, position

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


class DilConv(nn.Sequential):
    """ReLU -> depthwise (dilated) conv -> pointwise conv -> BN, a Sequential; :attr:`relu`,
    :attr:`depthwise`, :attr:`pointwise` and :attr:`bn` name its modules."""

    relu, depthwise, pointwise, bn = position(0), position(1), position(2), position(3)

    def __init__(self, C_in, C_out, kernel_size, stride, padding, dilation, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride, padding, dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked dilation-1 :class:`DilConv` (:attr:`first`, :attr:`second`); only the first one strides."""

    first, second = position(0), position(1)

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True):
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine),
        )


def _skip(C, stride, affine):
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, 2, affine)


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
