"""Rankings: turn averaged indicator changes into an importance per candidate.

A ranking receives, for the candidates of one round, the mean relative change
``Δ = (score_origin - score_candidate) / score_origin`` of every indicator it
uses, and returns an importance per candidate. On each edge (group) the
candidates with the LOWEST importance are pruned. Ties are broken by candidate
order (cell type, edge, op index in the space's op table): among equally
unimportant ops the first one is pruned.

Rank-based rankings (``te_nas``) rank every indicator over ALL candidates of the
round (not per edge) with :func:`dense_rank`, after rounding each Δ to
:data:`RANK_SIGNIFICANT_DIGITS` significant digits, so that Δs differing only by
floating-point noise share a rank; rank 1 is the most prunable.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


#: Δs are rounded to this many significant digits before dense ranking.
RANK_SIGNIFICANT_DIGITS = 10


@dataclass(frozen=True)
class Ranking:
    """``importance(deltas)``: one value per candidate (lowest pruned first); ``ranks(deltas)``
    (optional): the per-indicator ranks behind it, written to ``rounds.csv`` as ``rank_<indicator>``."""

    name: str
    indicators: tuple[str, ...]
    importance: Callable[[dict[str, np.ndarray]], np.ndarray]
    doc: str = ""
    ranks: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None


RANKINGS: dict[str, Ranking] = {}


def register_ranking(name: str, indicators: tuple[str, ...], ranks: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None):
    def deco(fn):
        RANKINGS[name] = Ranking(name, tuple(indicators), fn, (fn.__doc__ or "").strip(), ranks)
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


def round_significant(values: np.ndarray, digits: int = RANK_SIGNIFICANT_DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (0 stays 0)."""
    values = np.asarray(values, dtype=np.float64)
    magnitude = np.floor(np.log10(np.abs(np.where(values == 0, 1.0, values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale


def ntk_ranks(deltas: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dense rank of Δκ over the round, descending (rank 1 = removal lowers κ most)."""
    return {"ntk": dense_rank(round_significant(deltas["ntk"]), descending=True)}


def te_nas_ranks(deltas: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Dense ranks over the round: Δκ descending (rank 1 = removal lowers κ most) and
    ΔR ascending (rank 1 = removal costs the fewest linear regions)."""
    return {**ntk_ranks(deltas), "linear_regions": dense_rank(round_significant(deltas["linear_regions"]))}


@register_ranking("ntk", indicators=("ntk",), ranks=ntk_ranks)
def ntk_only(deltas: dict[str, np.ndarray]) -> np.ndarray:
    """κ only: the op whose removal lowers κ most (highest Δκ) is pruned."""
    return -np.asarray(deltas["ntk"], dtype=np.float64)


@register_ranking("te_nas", indicators=("ntk", "linear_regions"), ranks=te_nas_ranks)
def te_nas(deltas: dict[str, np.ndarray]) -> np.ndarray:
    """TE-NAS: importance = rank(Δκ, descending) + rank(ΔR, ascending); on each edge the op
    with the lowest sum (its removal lowers κ most and costs the fewest regions) is pruned."""
    ranks = te_nas_ranks(deltas)
    return (ranks["ntk"] + ranks["linear_regions"]).astype(np.float64)


def prune_order(importance: np.ndarray) -> np.ndarray:
    """Candidate indices from first-to-prune to last (stable: earlier candidates first on ties)."""
    return np.argsort(np.asarray(importance, dtype=np.float64), kind="stable")
