"""DARTS networks: one class serves the TE-NAS scoring supernet and the standalone retraining networks.

Every edge of a cell holds a set of candidate ops (all eight in the supernet, the
genotype's one on the genotype's edges and none elsewhere in a standalone
network). At forward time an edge outputs the average of its ops alive in
``self.alive`` (one mask per cell type, ``normal`` and ``reduce``); an edge with
nothing alive contributes nothing to its node, and a node with no input is zero.
A cell outputs its 4 intermediate nodes concatenated (4C channels). ``fused=True``
computes the same function with stacked ops (:mod:`search_spaces.darts.fused`);
the scoring supernet uses it.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from search_spaces.base import AliveSet, Supernet
from search_spaces.darts.fused import fused_cell_forward
from search_spaces.darts.genotype import CELL_TYPES, EDGES, NUM_NODES, check_genotype, edge_index
from search_spaces.darts.ops import OP_NAMES, OPS
from search_spaces.ops import FactorizedReduce, ReLUConvBN


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob``, rescaling the rest (global RNG)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """A normal or reduction cell over inputs ``s0, s1`` (reduction: stride 2 on the edges from the inputs)."""

    def __init__(self, cell_type: str, candidate_ops, C_prev_prev: int, C_prev: int, C: int, reduction_prev: bool,
                 affine: bool = True, fused: bool = False):
        super().__init__()
        self.cell_type, self.C, self.fused = cell_type, C, fused
        self.reduction = cell_type == "reduce"
        self.preprocess0 = FactorizedReduce(C_prev_prev, C, 2, affine) if reduction_prev else ReLUConvBN(C_prev_prev, C, 1, 1, 0, affine)
        self.preprocess1 = ReLUConvBN(C_prev, C, 1, 1, 0, affine)
        self.edges = nn.ModuleList(
            nn.ModuleDict({op: OPS[op](C, 2 if self.reduction and source < 2 else 1, affine) for op in ops})
            for (_, source), ops in zip(EDGES, candidate_ops)
        )

    def forward(self, s0, s1, alive_ops: Sequence[Sequence[str]], drop_prob: float = 0.0):
        if self.fused and not (drop_prob > 0 and self.training):
            return fused_cell_forward(self, s0, s1, alive_ops)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(NUM_NODES):
            total = None
            for source in range(node + 2):
                k = edge_index(node, source)
                ops = alive_ops[k]
                if not ops:
                    continue
                outs = []
                for op in ops:
                    module = self.edges[k][op]
                    out = module(states[source])
                    if drop_prob > 0 and self.training and not isinstance(module, nn.Identity):
                        out = drop_path(out, drop_prob)
                    outs.append(out)
                out = outs[0] if len(outs) == 1 else torch.stack(outs).mean(0)
                total = out if total is None else total + out
            if total is None:
                n, _, h, w = states[1].shape
                size = ((h + 1) // 2, (w + 1) // 2) if self.reduction else (h, w)
                total = states[1].new_zeros(n, self.C, *size)
            states.append(total)
        return torch.cat(states[2:], dim=1)


class AuxiliaryHead(nn.Sequential):
    """DARTS's auxiliary classifier; pools to 2x2 for any input size (DARTS's 5x5 pool does so on 8x8 / 7x7 maps)."""

    def __init__(self, C: int, num_classes: int):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(2),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
            nn.Flatten(),
            nn.Linear(768, num_classes),
        )


def _stem(kind: str, C: int, C_stem: int) -> nn.Module:
    if kind == "cifar":
        return nn.Sequential(nn.Conv2d(3, C_stem, 3, padding=1, bias=False), nn.BatchNorm2d(C_stem))
    if kind == "imagenet":  # two modules: s0 at 1/4, s1 at 1/8 of the input resolution
        return nn.ModuleList([
            nn.Sequential(
                nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C // 2), nn.ReLU(inplace=False),
                nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C),
            ),
            nn.Sequential(nn.ReLU(inplace=False), nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(C)),
        ])
    if kind == "none":  # inputs already have C_stem channels (thin networks)
        return nn.Identity()
    raise ValueError(f"unknown stem {kind!r}; choose cifar, imagenet or none")


class DartsNetwork(Supernet):
    """Stem, cells of ``cell_types`` (a reduce cell halves the resolution and doubles C), classifier.

    ``candidate_ops[cell_type]`` lists the ops built on each of the 14 edges
    (default: all eight everywhere, the supernet). ``stem``: ``cifar`` (3x3 conv to
    ``stem_multiplier * C``), ``imagenet`` (three stride-2 convs) or ``none``.
    ``auxiliary_at``: index of the cell after which the auxiliary head reads.
    ``final_bn_relu``: BN + ReLU before pooling (TE-NAS's scoring supernet).
    ``fused``: the cells' fused forward (same function, faster).
    """

    def __init__(self, C: int, num_classes: int, cell_types=CELL_TYPES, candidate_ops=None, stem: str = "cifar",
                 stem_multiplier: int = 3, auxiliary_at: int | None = None, final_bn_relu: bool = False, affine: bool = True,
                 fused: bool = False):
        super().__init__()
        if candidate_ops is None:
            candidate_ops = {c: [list(OP_NAMES)] * len(EDGES) for c in CELL_TYPES}
        self.stem_kind, self.auxiliary_at, self.drop_path_prob = stem, auxiliary_at, 0.0
        C_stem = C if stem == "imagenet" else C * stem_multiplier
        self.stem = _stem(stem, C, C_stem)
        C_prev_prev, C_prev, C_curr, reduction_prev = C_stem, C_stem, C, stem == "imagenet"
        self.cells = nn.ModuleList()
        self.auxiliary = None
        for i, cell_type in enumerate(cell_types):
            if cell_type not in CELL_TYPES:
                raise ValueError(f"unknown cell type {cell_type!r}; choose from {list(CELL_TYPES)}")
            C_curr = C_curr * 2 if cell_type == "reduce" else C_curr
            self.cells.append(Cell(cell_type, candidate_ops[cell_type], C_prev_prev, C_prev, C_curr, reduction_prev, affine, fused))
            C_prev_prev, C_prev, reduction_prev = C_prev, NUM_NODES * C_curr, cell_type == "reduce"
            if i == auxiliary_at:
                self.auxiliary = AuxiliaryHead(C_prev, num_classes)
        self.final = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False)) if final_bn_relu else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        masks = {c: torch.zeros(len(EDGES), len(OP_NAMES), dtype=torch.bool) for c in CELL_TYPES}
        for c, edges in candidate_ops.items():
            for e, ops in enumerate(edges):
                masks[c][e, [OP_NAMES.index(op) for op in ops]] = True
        self._built = masks
        self.set_alive(AliveSet(OP_NAMES, {c: m.clone() for c, m in masks.items()}))

    def set_alive(self, alive: AliveSet) -> None:
        if alive.op_names != OP_NAMES or set(alive.masks) != set(CELL_TYPES):
            raise ValueError("not a DARTS alive-set (cell types normal and reduce over the 8 DARTS ops)")
        if any(bool((alive.masks[c] & ~self._built[c]).any()) for c in CELL_TYPES):
            raise ValueError("alive-set switches on an op this network does not hold")
        self.alive = alive
        self._alive_ops = {c: [alive.alive_ops(c, e) for e in range(len(EDGES))] for c in CELL_TYPES}

    def forward_with_aux(self, x):
        """``(logits, auxiliary logits)``; the auxiliary head runs in training mode only (else ``None``)."""
        if self.stem_kind == "imagenet":
            s0 = self.stem[0](x)
            s1 = self.stem[1](s0)
        else:
            s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self._alive_ops[cell.cell_type], self.drop_path_prob)
            if i == self.auxiliary_at and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        return self.classifier(self.pool(self.final(s1)).flatten(1)), aux

    def forward(self, x):
        return self.forward_with_aux(x)[0]


def darts_cell_types(layers: int) -> list[str]:
    """DARTS's stacking: reduction cells at ``layers // 3`` and ``2 * layers // 3``, normal cells elsewhere."""
    return ["reduce" if i in (layers // 3, 2 * layers // 3) else "normal" for i in range(layers)]


def genotype_ops(genotype) -> dict[str, list[list[str]]]:
    """Candidate ops per edge of each cell type for a genotype: its op on its edges, nothing elsewhere."""
    g = check_genotype(genotype)
    out = {}
    for cell_type in CELL_TYPES:
        ops = [[] for _ in EDGES]
        for k, (op, source) in enumerate(getattr(g, cell_type)):
            ops[edge_index(k // 2, source)] = [op]
        out[cell_type] = ops
    return out


def network_for_genotype(genotype, C: int = 36, layers: int = 20, num_classes: int = 10, auxiliary: bool = True, imagenet: bool = False) -> DartsNetwork:
    """The standalone retraining network (CIFAR: 20 cells, C=36; ImageNet: ``imagenet=True``, 14 cells, C=48)."""
    return DartsNetwork(C, num_classes, darts_cell_types(layers), genotype_ops(genotype), stem="imagenet" if imagenet else "cifar",
                        stem_multiplier=3, auxiliary_at=2 * layers // 3 if auxiliary else None)
