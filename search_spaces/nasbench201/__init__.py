"""NAS-Bench-201: 5 ops on the 6 edges of a 4-node cell."""
from __future__ import annotations

from functools import lru_cache

import torch

from search_spaces.base import AliveSet, SearchSpace, cross_genes, register_space
from search_spaces.nasbench201.genotype import EDGES, format_arch, parse_arch
from search_spaces.nasbench201.model import CELL, NB201Network, network_for_arch
from search_spaces.nasbench201.ops import OP_NAMES, OPS


@register_space("nasbench201")
class NASBench201Space(SearchSpace):
    name = "nasbench201"
    op_names = OP_NAMES
    settings = {
        "C": {"kind": "int", "low": 1, "hint": "stem width of the scoring supernet"},
        "N": {"kind": "int", "low": 1, "hint": "cells per stage"},
    }
    has_benchmark = True

    def __init__(self, C: int = 3, N: int = 1):
        self.C, self.N = C, N

    def edges_per_cell(self):
        return {CELL: len(EDGES)}

    def build_supernet(self, num_classes: int, C: int | None = None, N: int | None = None, stem: bool = True):
        return NB201Network(C=self.C if C is None else C, N=self.N if N is None else N, num_classes=num_classes, stem=stem, fused=True)

    def genotype(self, alive: AliveSet) -> str:
        return _arch_of(tuple(self._op_indices(alive)))

    @staticmethod
    def _op_indices(alive: AliveSet) -> list[int]:
        """The op index of each edge of a single-path alive-set; ValueError while an edge holds more than one."""
        rows = alive.masks[CELL].tolist()  # plain lists: a search on a score table calls this per child
        if sum(map(sum, rows)) == len(rows) and all(True in row for row in rows):  # one op on every edge
            return [row.index(True) for row in rows]
        raise ValueError("the alive-set still has more than one op on some edge: the search is not done")

    def alive_set_for(self, arch: str) -> AliveSet:
        ops = parse_arch(arch)
        alive = AliveSet.full(OP_NAMES, self.edges_per_cell())
        for e, op in enumerate(ops):
            alive.masks[CELL][e] = False
            alive.masks[CELL][e, OP_NAMES.index(op)] = True
        return alive

    def _single_path(self, ops) -> AliveSet:
        return AliveSet(OP_NAMES, {CELL: _ONE_HOT[list(ops)]})  # a new tensor (indexing copies)

    def random_single_path(self, generator: torch.Generator) -> AliveSet:
        """A uniformly random op (any of the 5, ``none`` included) on each edge: uniform over the 15,625 cells."""
        return self._single_path(torch.randint(len(OP_NAMES), (len(EDGES),), generator=generator).tolist())

    def cheapest_path(self, alive: AliveSet, cost) -> AliveSet:
        """Each edge's alive op that is cheapest by ``cost(alive_set) -> float`` of the cell with that op on
        every edge: an op costs the same on every edge and the edges' parameters and FLOPs add up, so for
        those this is the cheapest single path ``alive`` holds (for latency, the ops' order as timed)."""
        price = {op: cost(self._single_path([i] * len(EDGES))) for i, op in enumerate(OP_NAMES)}
        return self._single_path([OP_NAMES.index(min(alive.alive_ops(CELL, e), key=price.__getitem__)) for e in range(len(EDGES))])

    def mutate(self, alive: AliveSet, generator: torch.Generator) -> AliveSet:
        """One uniformly random edge gets a uniformly random different op (one of the 24 neighbours)."""
        ops = self._op_indices(alive)
        edge = int(torch.randint(len(EDGES), (1,), generator=generator))
        others = [i for i in range(len(OP_NAMES)) if i != ops[edge]]
        ops[edge] = others[int(torch.randint(len(others), (1,), generator=generator))]
        return self._single_path(ops)

    def all_archs(self) -> list[str]:
        """The 15,625 architecture strings in NAS-Bench-201's index order (:func:`_benchmark_order`)."""
        return list(_benchmark_order())

    def arch_key(self, text: str) -> int:
        """The architecture's NAS-Bench-201 index (so a study's table keys its weights by the benchmark's index)."""
        return _benchmark_index()[self.parse_genotype(text)]

    def crossover(self, first: AliveSet, second: AliveSet, generator: torch.Generator) -> AliveSet | None:
        """Each edge's op from one parent or the other at random, a child unlike both (``None`` if none exists)."""
        self._op_indices(first), self._op_indices(second)
        return cross_genes(first, second, [(CELL, [e]) for e in range(len(EDGES))], generator)

    def parse_genotype(self, value) -> str:
        """The architecture string, checked (ValueError with a one-line reason)."""
        return format_arch(parse_arch(value))

    def is_genotype_text(self, text: str) -> bool:
        return text.startswith("|")

    def genotype_to_json(self, genotype: str) -> dict:
        return {"arch": genotype}

    def genotype_from_json(self, fields: dict) -> str:
        if "arch" not in fields:
            raise ValueError(f"a {self.name} genotype file needs an 'arch' field")
        return self.parse_genotype(fields["arch"])

    def scoring_network(self, genotype: str | None, num_classes: int, C: int | None = None, N: int | None = None, stem: bool = True):
        C, N = self.C if C is None else C, self.N if N is None else N
        if genotype is None:
            return NB201Network(C, N, num_classes, stem=stem)
        return network_for_arch(genotype, C=C, N=N, num_classes=num_classes, stem=stem)

    def network(self, genotype: str, num_classes: int, auxiliary: bool = False, C: int = 16, N: int = 5):
        """The benchmark's network of ``genotype`` (C=16, N=5 by default); it has no auxiliary head (``auxiliary`` is ignored)."""
        return network_for_arch(genotype, C=C, N=N, num_classes=num_classes)

    def train_recipe(self, dataset: str) -> str:
        return "nasbench201"


__all__ = ["NASBench201Space", "NB201Network", "network_for_arch", "parse_arch", "format_arch", "OP_NAMES", "OPS", "EDGES"]


_ONE_HOT = torch.eye(len(OP_NAMES), dtype=torch.bool)  # row i: op i alone


@lru_cache(maxsize=1)
def _benchmark_order() -> tuple[str, ...]:
    """NAS-Bench-201's architectures in its index order, as the benchmark made it: every op tuple with the first
    edge's op varying slowest (ops in ``OP_NAMES`` order), shuffled by Python's ``random`` seeded with 88
    (its ``generate_meta_info``; index 0 is ``|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+...``)."""
    import itertools
    import random

    archs = [format_arch(ops) for ops in itertools.product(OP_NAMES, repeat=len(EDGES))]
    random.Random(88).shuffle(archs)
    return tuple(archs)


@lru_cache(maxsize=1)
def _benchmark_index() -> dict[str, int]:
    return {arch: i for i, arch in enumerate(_benchmark_order())}


@lru_cache(maxsize=None)
def _arch_of(op_indices: tuple[int, ...]) -> str:
    """The architecture string of six op indices (at most 5^6 of them: a search on a table asks per child)."""
    return format_arch(OP_NAMES[i] for i in op_indices)
