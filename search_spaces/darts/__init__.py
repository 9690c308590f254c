"""The DARTS space: 8 ops on the 14 edges of normal and reduction cells, 2 inputs kept per node."""
from __future__ import annotations

import torch

from search_spaces.base import AliveSet, SearchSpace, cross_genes, register_space
from search_spaces.darts.genotype import (
    CELL_TYPES,
    DARTS_V2,
    EDGES,
    INPUTS_PER_NODE,
    NODE_EDGES,
    Genotype,
    check_genotype,
    format_genotype,
    genotype_from_dict,
    genotype_to_dict,
    parse_genotype,
)
from search_spaces.darts.model import DartsNetwork, darts_cell_types, genotype_ops, network_for_genotype
from search_spaces.darts.ops import OP_NAMES, OPS


@register_space("darts")
class DartsSpace(SearchSpace):
    """TE-NAS's scoring supernet: stem (``stem_multiplier * C``), the cells of ``cells``, BN+ReLU, pool, linear
    (fused cells: the same function as the plain ones, computed with stacked ops)."""

    name = "darts"
    op_names = OP_NAMES
    settings = {
        "C": {"kind": "int", "low": 1, "hint": "width of the scoring supernet"},
        "cells": {"kind": "names", "choices": CELL_TYPES},
        "stem_multiplier": {"kind": "int", "low": 1},
    }

    def __init__(self, C: int = 1, cells=CELL_TYPES, stem_multiplier: int = 1):
        self.C, self.cells, self.stem_multiplier = C, tuple(cells), stem_multiplier

    def edges_per_cell(self):
        return {c: len(EDGES) for c in CELL_TYPES}

    def build_supernet(self, num_classes: int, C: int | None = None, stem: bool = True) -> DartsNetwork:
        """Every op on every edge; ``stem=False`` feeds inputs of ``stem_multiplier * C`` channels straight to the cells."""
        return DartsNetwork(self.C if C is None else C, num_classes, self.cells, stem="cifar" if stem else "none",
                            stem_multiplier=self.stem_multiplier, final_bn_relu=True, fused=True)

    def scoring_network(self, genotype, num_classes: int, C: int | None = None, stem: bool = True) -> DartsNetwork:
        """The scoring supernet's layout (:meth:`build_supernet`) with only ``genotype``'s ops (every op when ``None``)."""
        ops = None if genotype is None else genotype_ops(self.parse_genotype(genotype))
        return DartsNetwork(self.C if C is None else C, num_classes, self.cells, ops, stem="cifar" if stem else "none",
                            stem_multiplier=self.stem_multiplier, final_bn_relu=True, fused=True)

    def edge_groups(self, alive: AliveSet) -> list[tuple[str, list[int], int]]:
        """The incoming edges of each intermediate node and how many it keeps, normal cell first, then reduce."""
        return [(c, list(edges), INPUTS_PER_NODE) for c in CELL_TYPES for edges in NODE_EDGES]

    def genotype(self, alive: AliveSet) -> Genotype:
        """Each node's 2 alive incoming edges with their one op; ValueError before op pruning and edge decision end."""
        cells = {}
        for c in CELL_TYPES:
            pairs = []
            for node, edges in enumerate(NODE_EDGES):
                kept = [e for e in edges if alive.num_alive(c, e) > 0]
                if len(kept) != INPUTS_PER_NODE or any(alive.num_alive(c, e) != 1 for e in kept):
                    raise ValueError(f"{c} node {node + 2} has {len(kept)} live inputs holding {[alive.alive_ops(c, e) for e in kept]}: "
                                     "the search is not done (each node needs 2 inputs of one op)")
                pairs += [(alive.alive_ops(c, e)[0], EDGES[e][1]) for e in kept]
            cells[c] = pairs
        return check_genotype((cells["normal"], [2, 3, 4, 5], cells["reduce"], [2, 3, 4, 5]))

    def random_single_path(self, generator: torch.Generator) -> AliveSet:
        """A random genotype as an alive-set: in each cell type (normal, then reduce), for each intermediate
        node, 2 distinct inputs drawn uniformly and a uniformly random op other than ``none`` on each."""
        ops = [i for i, op in enumerate(OP_NAMES) if op != "none"]
        alive = AliveSet(OP_NAMES, {c: torch.zeros(len(EDGES), len(OP_NAMES), dtype=torch.bool) for c in CELL_TYPES})
        for c in CELL_TYPES:
            for edges in NODE_EDGES:
                for k in torch.randperm(len(edges), generator=generator)[:2].tolist():
                    alive.masks[c][edges[k], ops[int(torch.randint(len(ops), (1,), generator=generator))]] = True
        return alive

    def mutate(self, alive: AliveSet, generator: torch.Generator) -> AliveSet:
        """One change to one node: a uniformly random cell type, node and one of the node's 2 inputs; then with
        probability 1/2 that input's op becomes another op (not ``none``), otherwise the input moves to another
        source the node does not read yet, keeping its op (node 2 reads both of its sources: always the op)."""
        self.genotype(alive)  # a finished genotype: 2 inputs of one op per node
        c = CELL_TYPES[int(torch.randint(len(CELL_TYPES), (1,), generator=generator))]
        edges = NODE_EDGES[int(torch.randint(len(NODE_EDGES), (1,), generator=generator))]
        live = [e for e in edges if alive.num_alive(c, e) > 0]
        edge = live[int(torch.randint(len(live), (1,), generator=generator))]
        op = alive.alive_ops(c, edge)[0]
        free = [e for e in edges if e not in live]
        masks = {k: m.clone() for k, m in alive.masks.items()}
        if free and bool(torch.randint(2, (1,), generator=generator)):
            target = free[int(torch.randint(len(free), (1,), generator=generator))]
            masks[c][edge] = False
            masks[c][target, OP_NAMES.index(op)] = True
        else:
            others = [o for o in OP_NAMES if o not in ("none", op)]
            masks[c][edge] = False
            masks[c][edge, OP_NAMES.index(others[int(torch.randint(len(others), (1,), generator=generator))])] = True
        return AliveSet(OP_NAMES, masks)

    def crossover(self, first: AliveSet, second: AliveSet, generator: torch.Generator) -> AliveSet | None:
        """Each node's two inputs (sources and ops) from one parent or the other at random, per cell type; a child
        unlike both parents (``None`` if none exists). Whole nodes move, so the child is a valid genotype."""
        self.genotype(first), self.genotype(second)
        return cross_genes(first, second, [(c, list(edges)) for c in CELL_TYPES for edges in NODE_EDGES], generator)

    def alive_set_for(self, genotype) -> AliveSet:
        """The single-path alive-set of a genotype (its op on its edges, nothing elsewhere)."""
        alive = AliveSet.full(OP_NAMES, self.edges_per_cell())
        for c, edges in genotype_ops(genotype).items():
            alive.masks[c][:] = False
            for e, ops in enumerate(edges):
                for op in ops:
                    alive.masks[c][e, OP_NAMES.index(op)] = True
        return alive

    def genotype_text(self, genotype) -> str:
        return format_genotype(genotype)

    def parse_genotype(self, value) -> Genotype:
        """A checked genotype from its ``Genotype(...)`` text, its JSON dict or a genotype-like tuple."""
        if isinstance(value, str):
            return parse_genotype(value)
        if isinstance(value, dict):
            return genotype_from_dict(value)
        return check_genotype(value)

    def is_genotype_text(self, text: str) -> bool:
        return text.startswith("Genotype")

    def genotype_to_json(self, genotype) -> dict:
        return {"genotype": genotype_to_dict(genotype), "genotype_repr": format_genotype(genotype)}

    def genotype_from_json(self, fields: dict) -> Genotype:
        """``genotype`` (JSON) and/or ``genotype_repr`` (text); when both are there they must agree."""
        if "genotype" not in fields and "genotype_repr" not in fields:
            raise ValueError(f"a {self.name} genotype file needs a 'genotype' or 'genotype_repr' field")
        genotype = self.parse_genotype(fields["genotype"] if "genotype" in fields else fields["genotype_repr"])
        if "genotype" in fields and "genotype_repr" in fields and self.parse_genotype(fields["genotype_repr"]) != genotype:
            raise ValueError("its 'genotype' and 'genotype_repr' fields disagree")
        return genotype

    def network(self, genotype, num_classes: int, auxiliary: bool = False, C: int = 36, layers: int = 20, imagenet: bool = False):
        """DARTS's evaluation network of ``genotype`` (20 cells, C=36 by default; the ImageNet stem with ``imagenet``)."""
        return network_for_genotype(genotype, C=C, layers=layers, num_classes=num_classes, auxiliary=auxiliary, imagenet=imagenet)

    def train_recipe(self, dataset: str) -> str:
        return "darts_imagenet" if dataset == "imagenet" else "darts_cifar"


__all__ = [
    "DartsSpace", "DartsNetwork", "Genotype", "DARTS_V2", "OP_NAMES", "OPS", "EDGES", "NODE_EDGES", "CELL_TYPES",
    "check_genotype", "format_genotype", "parse_genotype", "genotype_to_dict", "genotype_from_dict",
    "genotype_ops", "network_for_genotype", "darts_cell_types",
]
