"""NAS-Bench-201 networks: one class serves the scoring supernet and the standalone network.

Every edge holds a set of candidate ops (all five in the supernet, the genotype's
one in a standalone network). At forward time each edge outputs the average of
its ops that are alive in ``self.alive``; an edge with nothing alive outputs
zero. Node j is the sum of its incoming edges; the cell outputs node 3.

A *fused* cell (the scoring supernet's) computes the same function faster: all
alive ReLU-conv-BN ops that read the same node share one ReLU call (that of the
first such op, so ReLU hooks still see every node's pattern); those of one
kernel size share one convolution (outputs stacked along channels) and one
BatchNorm call over the stacked channels
(:func:`search_spaces.fusion.stacked_relu_conv_bn`: per channel, so identical;
running statistics are written back to each op's BatchNorm); the parameter-free
pooling of a node is computed once for all its edges. Parameters and buffers stay
in the per-op modules, so state dicts, ``named_parameters`` and NTK columns are
those of the unfused network; forward hooks on the conv and BN modules of the ops
do not fire.

A *masked* forward (``with net.masked(net.op_mask(alive))``) weighs every op of
every edge by a 0/1 mask instead of reading the alive-set: the same function (an
op whose mask is 0 adds an exact zero, and its parameters get zero gradients),
but a tensor input, so ``torch.func.vmap`` over a stack of masks runs many
alive-sets of one supernet as one batched computation (a search's
``compute.candidate_batch``, :func:`tenas.ntk.candidate_condition_numbers`).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from search_spaces.base import AliveSet, Supernet
from search_spaces.fusion import stacked_relu_conv_bn
from search_spaces.nasbench201.genotype import EDGES, NUM_NODES, parse_arch
from search_spaces.nasbench201.ops import OP_NAMES, OPS
from search_spaces.ops import ReLUConvBN

CELL = "cell"


CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")
POOL_OP = "avg_pool_3x3"
# OUT_EDGES[i]: the edges that read node i, in edge order
OUT_EDGES = tuple(tuple(k for k, (_, src) in enumerate(EDGES) if src == i) for i in range(NUM_NODES - 1))


class Cell(nn.Module):
    """The 4-node cell; ``fused=True`` selects the fused forward described in the module docstring."""

    def __init__(self, C: int, candidate_ops, fused: bool = False):
        super().__init__()
        # candidate_ops[e]: the op names built on edge e
        self.edges = nn.ModuleList(nn.ModuleDict({op: OPS[op](C, C, 1) for op in ops}) for ops in candidate_ops)
        self.fused = fused

    def forward(self, x, alive_ops: list[list[str]]):
        if self.fused:
            return self._forward_fused(x, alive_ops)
        nodes = [x]
        k = 0
        for j in range(1, NUM_NODES):
            total = None
            for i in range(j):
                ops = alive_ops[k]
                if ops:
                    edge = self.edges[k]
                    out = edge[ops[0]](nodes[i])
                    for op in ops[1:]:
                        out = out + edge[op](nodes[i])
                    if len(ops) > 1:
                        out = out / len(ops)
                    total = out if total is None else total + out
                k += 1
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[-1]

    def forward_masked(self, x, mask: torch.Tensor):
        """The forward with ``mask[k, o]`` (0/1, ``[edges, ops]`` in ``OP_NAMES`` order) saying whether
        op ``o`` of edge ``k`` is alive: each edge outputs the mean of its alive ops, zero if none."""
        count = mask.sum(-1).clamp(min=1)
        nodes = [x]
        k = 0
        for j in range(1, NUM_NODES):
            total = None
            for i in range(j):
                edge, out = self.edges[k], None
                for o, op in enumerate(OP_NAMES):
                    if op in edge:
                        y = mask[k, o] * edge[op](nodes[i])
                        out = y if out is None else out + y
                out = out / count[k]
                total = out if total is None else total + out
                k += 1
            nodes.append(total)
        return nodes[-1]

    def _forward_fused(self, x, alive_ops: list[list[str]]):
        edge_out: list[torch.Tensor | None] = [None] * len(EDGES)
        nodes = [x]
        for i in range(NUM_NODES):
            if i > 0:
                incoming = [edge_out[k] for k, (dst, _) in enumerate(EDGES) if dst == i and edge_out[k] is not None]
                total = incoming[0] if incoming else torch.zeros_like(x)
                for out in incoming[1:]:
                    total = total + out
                nodes.append(total)
            if i == NUM_NODES - 1:
                break
            src = nodes[i]
            conv_out = {}
            relu = None
            for kind in CONV_OPS:
                convs = [(k, op) for k in OUT_EDGES[i] for op in alive_ops[k] if op == kind]
                if convs:
                    blocks = [self.edges[k][op] for k, op in convs]
                    relu = blocks[0].relu(src) if relu is None else relu
                    conv_out.update(zip(convs, stacked_relu_conv_bn(blocks, src, relu)))
            pooled = None
            for k in OUT_EDGES[i]:
                ops = alive_ops[k]
                if not ops:
                    continue
                outs = []
                for op in ops:
                    if op in CONV_OPS:
                        outs.append(conv_out[(k, op)])
                    elif op == POOL_OP:
                        pooled = self.edges[k][op](src) if pooled is None else pooled
                        outs.append(pooled)
                    else:
                        outs.append(self.edges[k][op](src))
                out = outs[0]
                for extra in outs[1:]:
                    out = out + extra
                edge_out[k] = out / len(ops) if len(ops) > 1 else out
        return nodes[-1]


class ResidualReduction(nn.Module):
    """The benchmark's residual block between stages: stride 2, doubles the width."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1)
        self.downsample = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x):
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(Supernet):
    """Stem, ``N`` cells at C, reduction, ``N`` cells at 2C, reduction, ``N`` cells at 4C, BN+ReLU, pool, linear.

    ``candidate_ops`` lists the ops built on each of the 6 edges (default: all five,
    the supernet). ``stem=False`` drops the stem conv (the thin network of the
    linear-region count, whose inputs then need ``C`` channels). ``fused=True``
    gives the cells the fused forward (same function, faster; see the module
    docstring), which the search's scoring supernets use.
    """

    def __init__(self, C: int = 3, N: int = 1, num_classes: int = 10, candidate_ops=None, stem: bool = True, fused: bool = False):
        super().__init__()
        if candidate_ops is None:
            candidate_ops = [list(OP_NAMES)] * len(EDGES)
        self.C, self.N = C, N
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)) if stem else nn.Identity()
        layers = []
        width = C
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(width, width * 2))
                width *= 2
            layers.extend(Cell(width, candidate_ops, fused) for _ in range(N))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)
        masks = torch.zeros(len(EDGES), len(OP_NAMES), dtype=torch.bool)
        for e, ops in enumerate(candidate_ops):
            for op in ops:
                masks[e, OP_NAMES.index(op)] = True
        self._mask = None
        self.set_alive(AliveSet(OP_NAMES, {CELL: masks}))

    def set_alive(self, alive: AliveSet) -> None:
        self._check(alive)
        if getattr(self, "_built", None) is None:
            self._built = alive.masks[CELL].clone()
        self.alive = alive
        self._alive_ops = [alive.alive_ops(CELL, e) for e in range(len(EDGES))]

    def _check(self, alive: AliveSet) -> None:
        if alive.op_names != OP_NAMES or set(alive.masks) != {CELL}:
            raise ValueError("not a NAS-Bench-201 alive-set")
        built = getattr(self, "_built", None)
        if built is not None and bool((alive.masks[CELL] & ~built).any()):
            raise ValueError("alive-set switches on an op this network does not hold")

    supports_op_masks = True
    cell_edges = {CELL: EDGES}  # (target node, source node) of each edge, for the architecture priors

    def op_mask(self, alive: AliveSet) -> torch.Tensor:
        """``alive`` as the float 0/1 mask ``[edges, ops]`` of :meth:`masked`, on the network's device."""
        self._check(alive)
        return alive.masks[CELL].to(self.classifier.weight)

    @contextmanager
    def masked(self, mask: torch.Tensor):
        """Inside the block the forward weighs the ops by ``mask`` (:meth:`op_mask`; under
        ``vmap`` one of a batch of masks) instead of reading the alive-set."""
        previous, self._mask = self._mask, mask
        try:
            yield self
        finally:
            self._mask = previous

    def forward(self, x):
        x = self.stem(x)
        for layer in self.cells:
            if not isinstance(layer, Cell):
                x = layer(x)
            elif self._mask is not None:
                x = layer.forward_masked(x, self._mask)
            else:
                x = layer(x, self._alive_ops)
        x = self.pool(self.lastact(x)).flatten(1)
        return self.classifier(x)


def network_for_arch(arch: str, C: int = 16, N: int = 5, num_classes: int = 10, stem: bool = True) -> NB201Network:
    """The standalone network of one architecture string (benchmark layout: C=16, N=5)."""
    ops = parse_arch(arch)
    return NB201Network(C=C, N=N, num_classes=num_classes, candidate_ops=[[op] for op in ops], stem=stem)
