"""Stacked ops: several conv-BN ops of one shape on the same input as one convolution and one BatchNorm.

A BatchNorm normalises each channel on its own, so BatchNorms applied to consecutive
channel slices of one tensor give the same result as one BatchNorm call over all of it
with their weights, biases and running statistics concatenated, provided they share
mode and settings. The running statistics that call updates are written back to each
op's BatchNorm, whose ``num_batches_tracked`` counts the batch as its own call would.
A cumulative average (``momentum=None``) is not stacked: :func:`stackable` says when.

Parameters and buffers stay in the per-op modules, so state dicts, ``named_parameters``
and NTK columns are those of the per-op calls; forward hooks on the stacked conv and BN
modules do not fire (the ReLU is the caller's to call, through one of the ops' ReLU modules).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.ops import ReLUConvBN


def stackable(bns: list[nn.BatchNorm2d]) -> bool:
    """BatchNorms that one stacked call reproduces: affine, same mode and settings, no cumulative average."""
    settings = {(bn.training, bn.track_running_stats, bn.affine, bn.momentum, bn.eps) for bn in bns}
    return len(settings) == 1 and bns[0].affine and bns[0].momentum is not None


def stacked_batch_norm(bns: list[nn.BatchNorm2d], y: torch.Tensor) -> torch.Tensor:
    """``bns`` applied to consecutive channel slices of ``y`` as one call (``stackable(bns)`` assumed)."""
    first = bns[0]
    weight, bias = torch.cat([bn.weight for bn in bns]), torch.cat([bn.bias for bn in bns])
    if not first.track_running_stats:
        return F.batch_norm(y, None, None, weight, bias, True, 0.0, first.eps)
    mean, var = torch.cat([bn.running_mean for bn in bns]), torch.cat([bn.running_var for bn in bns])
    y = F.batch_norm(y, mean, var, weight, bias, first.training, first.momentum, first.eps)
    if first.training:
        widths = [bn.num_features for bn in bns]
        with torch.no_grad():
            for bn, m, v in zip(bns, mean.split(widths), var.split(widths)):
                bn.running_mean.copy_(m)
                bn.running_var.copy_(v)
                bn.num_batches_tracked.add_(1)
    return y


def stacked_relu_conv_bn(blocks: list[ReLUConvBN], x: torch.Tensor, relu_x: torch.Tensor) -> list[torch.Tensor]:
    """``[b(x) for b in blocks]`` for :class:`ReLUConvBN` ``blocks`` whose convs have the same settings,
    as one convolution of ``relu_x`` (= ReLU(x)) and one BatchNorm over the stacked output channels.

    Falls back to one call per block when their BatchNorms are not :func:`stackable`.
    """
    bns = [b.bn for b in blocks]
    if not stackable(bns):
        return [b(x) for b in blocks]
    conv = blocks[0].conv
    shape = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups)
    if conv.groups != 1 or any((c.kernel_size, c.stride, c.padding, c.dilation, c.groups) != shape for c in (b.conv for b in blocks)):
        raise ValueError("stacked_relu_conv_bn: the blocks' convs differ in shape or are grouped")
    y = F.conv2d(relu_x, torch.cat([b.conv.weight for b in blocks]), None, conv.stride, conv.padding, conv.dilation)
    return list(stacked_batch_norm(bns, y).split([bn.num_features for bn in bns], 1))
