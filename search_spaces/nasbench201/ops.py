"""The NAS-Bench-201 op table: ``OPS[name](C_in, C_out, stride) -> nn.Module``."""
from __future__ import annotations

from torch import nn

from search_spaces.ops import FactorizedReduce, ReLUConvBN, Zero

OP_NAMES = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


class Pooling(nn.Module):
    """3x3 average pooling (padding not counted), after a 1x1 ReLU-conv-BN where the width changes."""

    def __init__(self, C_in, C_out, stride):
        super().__init__()
        self.preprocess = None if C_in == C_out else ReLUConvBN(C_in, C_out, 1, 1, 0)
        self.pool = nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)

    def forward(self, x):
        return self.pool(x if self.preprocess is None else self.preprocess(x))


def _skip(C_in, C_out, stride):
    if stride == 1 and C_in == C_out:
        return nn.Identity()
    return FactorizedReduce(C_in, C_out, stride, conv_list=True)


OPS = {
    "none": lambda C_in, C_out, stride: Zero(stride, C_out),
    "skip_connect": _skip,
    "nor_conv_1x1": lambda C_in, C_out, stride: ReLUConvBN(C_in, C_out, 1, stride, 0),
    "nor_conv_3x3": lambda C_in, C_out, stride: ReLUConvBN(C_in, C_out, 3, stride, 1),
    "avg_pool_3x3": lambda C_in, C_out, stride: Pooling(C_in, C_out, stride),
}
assert tuple(OPS) == OP_NAMES
