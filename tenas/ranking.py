"""Rankings: turn averaged indicator changes into an importance per candidate.

A ranking receives, for the candidates of one round, the mean relative change
``Δ = (score_origin - score_candidate) / score_origin`` of every indicator it
uses, and returns an importance per candidate. On each edge (group) the
candidates with the LOWEST importance are pruned. Ties are broken by candidate
order (cell type, edge, op index in the space's op table): among equally
unimportant ops the first one is pruned.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Ranking:
    name: str
    indicators: tuple[str, ...]
    importance: Callable[[dict[str, np.ndarray]], np.ndarray]
    doc: str = ""


RANKINGS: dict[str, Ranking] = {}


def register_ranking(name: str, indicators: tuple[str, ...]):
    def deco(fn):
        RANKINGS[name] = Ranking(name, tuple(indicators), fn, (fn.__doc__ or "").strip())
        return fn

    return deco


def get_ranking(name: str) -> Ranking:
    if name not in RANKINGS:
        raise ValueError(f"unknown ranking {name!r}; known: {sorted(RANKINGS)}")
    return RANKINGS[name]


def dense_rank(values: np.ndarray, descending: bool = False) -> np.ndarray:
    """Dense ranks starting at 1 (equal values share a rank, no gaps)."""
    values = np.asarray(values, dtype=np.float64)
    keyed = -values if descending else values
    _, inverse = np.unique(keyed, return_inverse=True)
    return inverse.reshape(-1) + 1


@register_ranking("ntk", indicators=("ntk",))
def ntk_only(deltas: dict[str, np.ndarray]) -> np.ndarray:
    """κ only: the op whose removal lowers κ most (highest Δκ) is pruned."""
    return -np.asarray(deltas["ntk"], dtype=np.float64)


def prune_order(importance: np.ndarray) -> np.ndarray:
    """Candidate indices from first-to-prune to last (stable: earlier candidates first on ties)."""
    return np.argsort(np.asarray(importance, dtype=np.float64), kind="stable")
