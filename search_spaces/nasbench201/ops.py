"""The NAS-Bench-201 op table: ``OPS[name](C_in, C_out, stride) -> nn.Module``."""
from __future__ import annotations

import torch
from torch import nn

OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv -> BN, the benchmark's ``nor_conv`` ops."""

    def __init__(self, C_in, C_out, kernel_size, stride, padding, affine=True, track_running_stats=True):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine, track_running_stats=track_running_stats),
        )


class Zero(nn.Module):
    """The ``none`` op: an all-zero output of the right shape."""

    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.C_out, self.stride = C_out, stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        if x.shape[1] == self.C_out:
            return x.mul(0.0)
        return x.new_zeros(x.shape[0], self.C_out, *x.shape[2:])


class FactorizedReduce(nn.Module):
    """Skip connection that halves resolution or changes width (benchmark's definition)."""

    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.stride = stride
        self.relu = nn.ReLU(inplace=False)
        if stride == 2:
            half = C_out // 2
            self.convs = nn.ModuleList([nn.Conv2d(C_in, half, 1, 2, bias=False), nn.Conv2d(C_in, C_out - half, 1, 2, bias=False)])
            self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0)
        else:
            self.convs = nn.ModuleList([nn.Conv2d(C_in, C_out, 1, 1, bias=False)])
        self.bn = nn.BatchNorm2d(C_out)

    def forward(self, x):
        if self.stride == 2:
            x = self.relu(x)
            y = self.pad(x)
            out = torch.cat([self.convs[0](x), self.convs[1](y[:, :, 1:, 1:])], dim=1)
        else:
            out = self.convs[0](x)
        return self.bn(out)


class Pooling(nn.Module):
    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.preprocess = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0)
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x if self.preprocess is None else self.preprocess(x))


def _skip(C_in, C_out, stride):
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride)


OPS = {
    "none": lambda C_in, C_out, stride: Zero(C_in, C_out, stride),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C_in, C_out, stride: ReLUConvBN(C_in, C_out, 1, stride, 0),
    "nor_conv_3x3": lambda C_in, C_out, stride: ReLUConvBN(C_in, C_out, 3, stride, 1),
    "avg_pool_3x3": lambda C_in, C_out, stride: Pooling(C_in, C_out, stride),
}
assert tuple(OPS) == OP_NAMES
