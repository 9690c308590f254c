"""NAS-Bench-201 networks: one class serves the scoring supernet and the standalone network.

Every edge holds a set of candidate ops (all five in the supernet, the genotype's
one in a standalone network). At forward time each edge outputs the average of
its ops that are alive in ``self.alive``; an edge with nothing alive outputs
zero. Node j is the sum of its incoming edges; the cell outputs node 3.
"""
from __future__ import annotations

import torch
from torch import nn

from search_spaces.base import AliveSet, Supernet
from search_spaces.nasbench201.genotype import EDGES, NUM_NODES, parse_arch
from search_spaces.nasbench201.ops import OP_NAMES, OPS, ReLUConvBN

CELL = "cell"


class Cell(nn.Module):
    def __init__(self, C: int, candidate_ops):
        super().__init__()
        # candidate_ops[e]: the op names built on edge e
        self.edges = nn.ModuleList(nn.ModuleDict({op: OPS[op](C, C, 1) for op in ops}) for ops in candidate_ops)

    def forward(self, x, alive_ops: list[list[str]]):
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
    linear-region count, whose inputs then need ``C`` channels).
    """

    def __init__(self, C: int = 3, N: int = 1, num_classes: int = 10, candidate_ops=None, stem: bool = True):
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
            layers.extend(Cell(width, candidate_ops) for _ in range(N))
        self.cells = nn.ModuleList(layers)
        self.lastact = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=False))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)
        masks = torch.zeros(len(EDGES), len(OP_NAMES), dtype=torch.bool)
        for e, ops in enumerate(candidate_ops):
            for op in ops:
                masks[e, OP_NAMES.index(op)] = True
        self.set_alive(AliveSet(OP_NAMES, {CELL: masks}))

    def set_alive(self, alive: AliveSet) -> None:
        if alive.op_names != OP_NAMES or set(alive.masks) != {CELL}:
            raise ValueError("not a NAS-Bench-201 alive-set")
        built = getattr(self, "_built", None)
        if built is not None and bool((alive.masks[CELL] & ~built).any()):
            raise ValueError("alive-set switches on an op this network does not hold")
        if built is None:
            self._built = alive.masks[CELL].clone()
        self.alive = alive
        self._alive_ops = [alive.alive_ops(CELL, e) for e in range(len(EDGES))]

    def forward(self, x):
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, self._alive_ops) if isinstance(layer, Cell) else layer(x)
        x = self.pool(self.lastact(x)).flatten(1)
        return self.classifier(x)


def network_for_arch(arch: str, C: int = 16, N: int = 5, num_classes: int = 10) -> NB201Network:
    """The standalone network of one architecture string (benchmark layout: C=16, N=5)."""
    ops = parse_arch(arch)
    return NB201Network(C=C, N=N, num_classes=num_classes, candidate_ops=[[op] for op in ops])
