"""The search-space interface the pruning loop is written against.

The one piece of state a search changes is the *alive-set*: for every cell type
(NAS-Bench-201 has one, ``"cell"``; DARTS has ``"normal"`` and ``"reduce"``) a
boolean mask of shape ``[edges, ops]`` saying which candidate ops are still on
which edge. A supernet reads the alive-set at forward time, so a candidate
network is the same module with one op switched off, never a rebuilt copy.
"""
from __future__ import annotations

import abc
import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn


@dataclass(frozen=True)
class AliveSet:
    """Which ops are alive on which edge, per cell type.

    ``masks[cell_type]`` is a bool tensor ``[num_edges, num_ops]`` whose columns
    follow ``op_names``. Instances are immutable: :meth:`without` returns a new one.
    """

    op_names: tuple[str, ...]
    masks: dict[str, torch.Tensor]

    @classmethod
    def full(cls, op_names, edges_per_cell: dict[str, int]) -> "AliveSet":
        return cls(tuple(op_names), {c: torch.ones(e, len(op_names), dtype=torch.bool) for c, e in edges_per_cell.items()})

    def op_index(self, op: str) -> int:
        try:
            return self.op_names.index(op)
        except ValueError:
            raise ValueError(f"unknown op {op!r}; this space has {list(self.op_names)}") from None

    def alive_ops(self, cell_type: str, edge: int) -> list[str]:
        return [self.op_names[i] for i in torch.nonzero(self.masks[cell_type][edge]).flatten().tolist()]

    def without(self, cell_type: str, edge: int, op: str | None = None) -> "AliveSet":
        """A copy with ``op`` switched off on ``edge`` (every op of the edge when ``op`` is None)."""
        masks = {c: m.clone() for c, m in self.masks.items()}
        if op is None:
            masks[cell_type][edge] = False
        else:
            if not masks[cell_type][edge, self.op_index(op)]:
                raise ValueError(f"op {op!r} on {cell_type} edge {edge} is not alive")
            masks[cell_type][edge, self.op_index(op)] = False
        return AliveSet(self.op_names, masks)

    def without_op_everywhere(self, op: str) -> "AliveSet":
        masks = {c: m.clone() for c, m in self.masks.items()}
        for m in masks.values():
            m[:, self.op_index(op)] = False
        return AliveSet(self.op_names, masks)

    def num_alive(self, cell_type: str, edge: int) -> int:
        return int(self.masks[cell_type][edge].sum())

    def is_single_path(self) -> bool:
        """True when every edge that has any op alive has exactly one."""
        return all(bool(((m.sum(1) == 1) | (m.sum(1) == 0)).all()) for m in self.masks.values())

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, AliveSet)
            and self.op_names == other.op_names
            and self.masks.keys() == other.masks.keys()
            and all(torch.equal(self.masks[c], other.masks[c]) for c in self.masks)
        )

    def __hash__(self) -> int:
        return hash((self.op_names, tuple((c, tuple(m.flatten().tolist())) for c, m in self.masks.items())))


class Supernet(nn.Module):
    """A network whose edges hold several ops and read an :class:`AliveSet` at forward time."""

    alive: AliveSet
    #: True when the supernet also takes its alive-set as a tensor: ``op_mask(alive)`` gives it and,
    #: inside ``with net.masked(mask):``, the forward weighs the ops by ``mask`` instead of reading
    #: ``alive`` (the same function), so ``torch.func.vmap`` over masks scores many alive-sets at once.
    supports_op_masks: bool = False
    #: Per cell type, the ``(target node, source node)`` of each edge (node 0 the cell's input, the last node its
    #: output), for proxies read off the genotype (:mod:`tenas.proxies.priors`); ``None``: the space does not say.
    cell_edges: dict | None = None

    def set_alive(self, alive: AliveSet) -> None:
        self.alive = alive

    def trying(self, alive: AliveSet):
        """Context manager: forward with ``alive`` inside the block, restore afterwards."""
        return _Trying(self, alive)


class _Trying:
    def __init__(self, net: Supernet, alive: AliveSet):
        self.net, self.new, self.old = net, alive, None

    def __enter__(self):
        self.old = self.net.alive
        self.net.set_alive(self.new)
        return self.net

    def __exit__(self, *exc):
        self.net.set_alive(self.old)
        return False


class SearchSpace(abc.ABC):
    """A space of architectures: what the search, the genotype files and the retraining ask of it.

    ``settings`` declares the constructor's settings, the keys of a config's ``search_space``
    section the space is built from (:func:`space_from_config`); the section's other keys are
    the search's (``ops_per_edge``, ``proxy``, ...). Each entry holds the keyword arguments of a
    :class:`tenas.schema.Setting` (kind, range, hint), which checks it before a search starts.
    """

    name: str
    op_names: tuple[str, ...]
    settings: dict[str, dict] = {}
    #: True when NAS-Bench-201 ground truth (``tenas.benchmark``, ``benchmark.path``) covers the space's
    #: architectures, looked up by their :meth:`genotype_text`.
    has_benchmark: bool = False

    @classmethod
    def config_options(cls, section: Mapping) -> dict:
        """The constructor's settings among the keys of a config section (those ``settings`` declares)."""
        return {key: section[key] for key in cls.settings if key in section}

    # ------------------------------------------------------------------------- the search
    @abc.abstractmethod
    def edges_per_cell(self) -> dict[str, int]:
        """Number of edges of each cell type, e.g. ``{"cell": 6}``."""

    def full_alive_set(self) -> AliveSet:
        return AliveSet.full(self.op_names, self.edges_per_cell())

    @abc.abstractmethod
    def build_supernet(self, num_classes: int, **options) -> Supernet:
        """The scoring supernet (every op on every edge), reading its alive-set at forward time."""

    @abc.abstractmethod
    def genotype(self, alive: AliveSet):
        """The genotype of a single-path alive-set; raises ValueError before the search is done."""

    def edge_groups(self, alive: AliveSet) -> list[tuple[str, list[int], int]]:
        """``(cell_type, edges, keep)``: groups of edges of which ``keep`` stay (DARTS's edge decision: a
        node's incoming edges, 2 kept); none by default."""
        return []

    def random_single_path(self, generator: torch.Generator) -> AliveSet:
        """A uniformly random architecture of the space as a single-path alive-set (``tenas.strategies``)."""
        raise NotImplementedError(
            f"search space {self.name!r} cannot draw random architectures: implement random_single_path "
            "to use strategy=sample or strategy=evolve (strategy=prune needs only the supernet)"
        )

    def cheapest_path(self, alive: AliveSet, cost) -> AliveSet:
        """The single path of ``alive`` with the lowest ``cost(single_path) -> float`` (``search.limits``)."""
        raise NotImplementedError(
            f"search space {self.name!r} cannot name the cheapest architecture of an alive-set: implement cheapest_path to search it under limits"
        )

    def mutate(self, alive: AliveSet, generator: torch.Generator) -> AliveSet:
        """A copy of the single-path ``alive`` with one random small change (``strategy=evolve``)."""
        raise NotImplementedError(
            f"search space {self.name!r} cannot mutate architectures: implement mutate to use strategy=evolve"
        )

    def all_archs(self) -> list[str]:
        """Every architecture of the space as its text (a search on a score table needs them all)."""
        raise NotImplementedError(f"search space {self.name!r} cannot list its architectures: implement all_archs "
                                  "to search it on a score table (scorer=table)")

    def crossover(self, first: AliveSet, second: AliveSet, generator: torch.Generator) -> AliveSet | None:
        """A child of two single-path parents, each of its genes taken from one of them at random (FreeREA's
        crossover, ``strategy.crossover``), differing from both parents; ``None`` when no such child exists."""
        raise NotImplementedError(
            f"search space {self.name!r} cannot cross architectures: implement crossover to use strategy.crossover=true"
        )

    def arch_key(self, text: str) -> int:
        """The architecture's number in the space, the key of its weights' seed (:func:`tenas.arch_scorer.weight_seed`):
        by default the first 8 bytes of the SHA-256 of its text (a space with a benchmark numbers them as it does)."""
        import hashlib

        return int.from_bytes(hashlib.sha256(self.genotype_text(self.parse_genotype(text)).encode()).digest()[:8], "little") >> 1

    def arch_text(self, alive: AliveSet) -> str:
        """The one-line text of a single-path alive-set's architecture (its genotype's text)."""
        return self.genotype_text(self.genotype(alive))

    # ------------------------------------------------------------------------- genotypes and their files
    def genotype_text(self, genotype) -> str:
        """The one-line text of a checked genotype, which :meth:`parse_genotype` reads back."""
        return str(genotype)

    @abc.abstractmethod
    def parse_genotype(self, value):
        """The checked genotype of ``value``: its text or another form the space accepts; ValueError with a
        one-line reason for anything else."""

    @abc.abstractmethod
    def is_genotype_text(self, text: str) -> bool:
        """Whether ``text`` is written in this space's genotype notation (valid or not): a genotype file
        holding only text belongs to the space that claims it."""

    @abc.abstractmethod
    def genotype_to_json(self, genotype) -> dict:
        """A JSON-ready description of the genotype (``genotype.json`` fields)."""

    @abc.abstractmethod
    def genotype_from_json(self, fields: dict):
        """The checked genotype in the fields :meth:`genotype_to_json` writes; ValueError with a one-line
        reason when they are missing or wrong."""

    @abc.abstractmethod
    def alive_set_for(self, genotype) -> AliveSet:
        """The single-path alive-set of a genotype (the inverse of :meth:`genotype`)."""

    def scoring_network(self, genotype, num_classes: int, **options) -> nn.Module:
        """The standalone network of one architecture as a study scores it (``None``: every op on every edge):
        the scoring supernet's layout with only the genotype's ops, ``options`` a proxy protocol's ``network``
        section (``None`` entries: the space's scoring width and depth)."""
        raise NotImplementedError(f"the {self.name} space has no standalone scoring network: implement scoring_network "
                                  "to score whole architectures (strategy=sample|evolve, a study)")

    # ------------------------------------------------------------------------- retraining
    @abc.abstractmethod
    def network(self, genotype, num_classes: int, auxiliary: bool = False, **options) -> nn.Module:
        """The standalone network of a genotype, to train: ``options`` are a training recipe's ``network``
        section (``conf/train.yaml``); ``auxiliary`` adds an auxiliary head where the space has one."""

    @abc.abstractmethod
    def train_recipe(self, dataset: str) -> str:
        """The recipe of ``conf/train.yaml`` that retrains this space's genotypes on ``dataset`` (``recipe=auto``)."""


_SPACES: dict[str, type[SearchSpace]] = {}


def cross_genes(first: AliveSet, second: AliveSet, genes: list[tuple[str, list[int]]], generator: torch.Generator,
                tries: int = 32) -> AliveSet | None:
    """Uniform crossover over ``genes`` (``(cell type, edges)`` groups copied whole from one parent): the first
    of ``tries`` draws that differs from both parents, ``None`` when the parents differ in fewer than two genes
    (every child is then one of them) or no draw differs."""
    rows = {cell: (first.masks[cell].tolist(), second.masks[cell].tolist()) for cell in {cell for cell, _ in genes}}  # plain lists: fast
    differing = [(cell, edges) for cell, edges in genes if any(rows[cell][0][e] != rows[cell][1][e] for e in edges)]
    if len(differing) < 2:
        return None
    for _ in range(tries):
        take = torch.randint(2, (len(differing),), generator=generator).tolist()
        if 0 < sum(take) < len(differing):
            masks = {c: m.clone() for c, m in first.masks.items()}
            for (cell, edges), from_second in zip(differing, take):
                if from_second:
                    masks[cell][edges] = second.masks[cell][edges]
            return AliveSet(first.op_names, masks)
    return None


def space_defaults(cls: type[SearchSpace]) -> dict:
    """The defaults of the settings a space declares (``settings``): its constructor's, their one place."""
    parameters = inspect.signature(cls.__init__).parameters
    return {key: list(value) if isinstance(value, tuple) else value for key in cls.settings for value in [parameters[key].default]}


def register_space(name: str):
    """Register the decorated class as space ``name``, and its settings with their defaults as the config
    ``search_space/<name>_settings`` (Hydra's ConfigStore), which ``conf/search_space/<name>.yaml`` extends."""
    def deco(cls):
        from hydra.core.config_store import ConfigStore

        _SPACES[name] = cls
        ConfigStore.instance().store(group="search_space", name=f"{name}_settings", node={"name": name, **space_defaults(cls)},
                                     provider="search_spaces")
        return cls

    return deco


def _import_spaces() -> None:
    """Import every subpackage of ``search_spaces`` (once): each registers its space on import."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.ispkg and f"search_spaces.{module.name}" not in sys.modules:
            importlib.import_module(f"search_spaces.{module.name}")


def space_class(name: str) -> type[SearchSpace]:
    """The class registered under ``name``; ValueError naming the known spaces otherwise."""
    if not isinstance(name, str) or name not in list_spaces():
        raise ValueError(f"unknown search space {name!r}; known: {list_spaces()}")
    return _SPACES[name]


def get_space(name: str, **options) -> SearchSpace:
    return space_class(name)(**options)


def space_from_config(section: Mapping) -> SearchSpace:
    """The space a config section names (``name``), built from the settings its class declares."""
    cls = space_class(section["name"])
    return cls(**cls.config_options(section))


def list_spaces() -> list[str]:
    _import_spaces()
    return sorted(_SPACES)
