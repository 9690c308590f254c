"""The fused forward of a DARTS cell: the same function as ``Cell.forward``, with far fewer op calls.

All edges leaving one state have the same stride, so the alive conv ops of one
kind (``sep_conv_3x3``, ``sep_conv_5x5``, ``dil_conv_3x3``, ``dil_conv_5x5``) on
those edges run as one stacked block: the state's ReLU once, one depthwise conv
over the state repeated once per edge (``groups`` = all stacked channels), one
grouped pointwise conv (one group per edge) and one BatchNorm over the stacked
channels (:func:`search_spaces.fusion.stacked_batch_norm`: per channel, so
identical; running statistics are written back to each op's BatchNorm). A
``sep_conv`` repeats this for its second half. Each parameter-free pooling of a
state is computed once for all its edges.

Parameters and buffers stay in the per-op modules, so state dicts,
``named_parameters`` and NTK columns are those of the plain cell. ReLU forward
hooks still see every activation pattern (each stacked ReLU is the call of one
of the stacked ops' ReLU modules on all their inputs); hooks on the conv and BN
modules of stacked ops do not fire. The scoring supernet (no drop-path) uses it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.darts.genotype import EDGES, NUM_NODES
from search_spaces.darts.ops import DilConv, SepConv
from search_spaces.fusion import stackable, stacked_batch_norm

CONV_KINDS = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
POOL_KINDS = ("avg_pool_3x3", "max_pool_3x3")
# OUT_EDGES[j]: the edges that read state j (0, 1: the cell inputs; 2..5: the intermediate nodes)
OUT_EDGES = tuple(tuple(k for k, (_, source) in enumerate(EDGES) if source == j) for j in range(NUM_NODES + 2))


def stacked_dil_conv(blocks: list[DilConv], x: torch.Tensor, relu: nn.ReLU | None) -> torch.Tensor:
    """:class:`DilConv` ``blocks`` (one shape) on the consecutive C-channel slices of ``x``, block by
    block; ``relu`` is the ReLU module run on all of ``x`` (``None``: ``x`` has been through it already)."""
    depthwise = blocks[0].depthwise
    y = x if relu is None else relu(x)
    y = F.conv2d(y, torch.cat([b.depthwise.weight for b in blocks]), None, depthwise.stride, depthwise.padding, depthwise.dilation, groups=x.shape[1])
    y = F.conv2d(y, torch.cat([b.pointwise.weight for b in blocks]), None, 1, 0, 1, groups=len(blocks))
    return stacked_batch_norm([b.bn for b in blocks], y)


def _conv_kind(modules: list[SepConv] | list[DilConv], kind: str, src: torch.Tensor, relu_src: torch.Tensor) -> list[torch.Tensor]:
    """Outputs of the ``kind`` op ``modules`` of several edges on ``src`` (``relu_src`` = ReLU(src), already hooked)."""
    sep = kind.startswith("sep")
    halves = [[m.first for m in modules], [m.second for m in modules]] if sep else [modules]
    if not all(stackable([b.bn for b in h]) for h in halves):
        return [m(src) for m in modules]
    y = stacked_dil_conv(halves[0], relu_src.repeat(1, len(modules), 1, 1), None)
    if sep:
        y = stacked_dil_conv(halves[1], y, halves[1][0].relu)
    return list(y.chunk(len(modules), dim=1))


def fused_cell_forward(cell, s0: torch.Tensor, s1: torch.Tensor, alive_ops) -> torch.Tensor:
    """``cell(s0, s1, alive_ops)`` without drop-path, computed with stacked ops (see the module docstring)."""
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    edge_out: list[torch.Tensor | None] = [None] * len(EDGES)
    for j in range(NUM_NODES + 2):
        if j >= 2:
            incoming = [edge_out[k] for k, (node, _) in enumerate(EDGES) if node == j - 2 and edge_out[k] is not None]
            if incoming:
                states.append(sum(incoming[1:], incoming[0]))
            else:
                n, _, h, w = states[1].shape
                size = ((h + 1) // 2, (w + 1) // 2) if cell.reduction else (h, w)
                states.append(states[1].new_zeros(n, cell.C, *size))
        src = states[j]
        outputs: dict[tuple[int, str], torch.Tensor] = {}
        relu_src = None
        for kind in CONV_KINDS:
            edges = [k for k in OUT_EDGES[j] if kind in alive_ops[k]]
            if edges:
                modules = [cell.edges[k][kind] for k in edges]
                if relu_src is None:  # one ReLU call on the state, through the first conv op's ReLU module
                    relu_src = (modules[0].first.relu if kind.startswith("sep") else modules[0].relu)(src)
                outputs.update(zip([(k, kind) for k in edges], _conv_kind(modules, kind, src, relu_src)))
        pooled: dict[str, torch.Tensor] = {}
        for k in OUT_EDGES[j]:
            ops = alive_ops[k]
            outs = []
            for op in ops:
                if op in CONV_KINDS:
                    outs.append(outputs[(k, op)])
                elif op in POOL_KINDS:
                    if op not in pooled:
                        pooled[op] = cell.edges[k][op](src)
                    outs.append(pooled[op])
                else:
                    outs.append(cell.edges[k][op](src))
            if outs:
                edge_out[k] = outs[0] if len(outs) == 1 else sum(outs[1:], outs[0]) * (1.0 / len(outs))
    return torch.cat(states[2:], dim=1)
