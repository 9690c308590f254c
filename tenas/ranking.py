"""Rankings: combine any registered proxies into one merit per candidate.

A ranking is a list of proxies and an aggregation, one file ``conf/ranking/<name>.yaml``
(``name``, ``proxies``, ``aggregation``). It never knows which proxies it combines: each
proxy's values are first turned into *goodness* (higher = better, by the proxy's
``higher_is_better``), then aggregated:

- ``rank_sum`` (TE-NAS): per proxy, dense ranks of goodness with rank 1 = best (equal
  values share a rank, after rounding to :data:`RANK_SIGNIFICANT_DIGITS` significant digits
  so that floating-point noise is a tie); merit = −Σ ranks.
- ``log_rank`` (AZ-NAS): per proxy, ranks ``r`` from 1 = worst to ``n`` = best (ties get
  their average rank); merit = Σ log(r / n), which punishes a candidate that is bad on
  any one proxy.
- ``max_norm_sum`` (FreeREA): per proxy, goodness divided by its largest absolute value
  over the candidates being compared; merit = the sum. Not rank-based: the scale of each
  proxy counts, and adding one candidate can move every merit. A proxy whose goodness is 0
  everywhere contributes 0 (nothing to divide by); a non-finite value contributes one less
  than the lowest finite term of its proxy (the worst, by a margin larger than any finite
  gap, since finite terms lie in [-1, 1]), or -2 when no value of the proxy is finite.

Non-finite values are the worst on that proxy (rank after every finite value).

In the pruning loop the candidates are "the current network minus one op" and their
goodness on a proxy is how much removing the op improves that proxy:
``Δ = (origin − candidate) / |origin|`` for a lower-is-better proxy (κ) and ``−Δ`` for a
higher-is-better one (#LR). The op whose removal has the highest merit is the least
important: :meth:`Ranking.importance` is ``−merit`` and the lowest importance is pruned.
Ties are broken by candidate order (cell type, edge, op index in the space's op table):
among equally unimportant ops the first one is pruned.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tenas import CONF_DIR
from tenas.proxies import get_proxy

RANKING_DIR = CONF_DIR / "ranking"

#: Values are rounded to this many significant digits before dense ranking.
RANK_SIGNIFICANT_DIGITS = 10

#: Up to this many candidates, average ranks come from pairwise comparisons (fewer numpy calls than a sort).
PAIRWISE_RANKS_UP_TO = 256

AGGREGATIONS = ("rank_sum", "log_rank", "max_norm_sum")
TIE_RULES = ("dense", "reference")


def round_significant(values: np.ndarray, digits: int = RANK_SIGNIFICANT_DIGITS) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (0 and non-finite values stay as they are)."""
    values = np.asarray(values, dtype=np.float64)
    safe = np.where((values == 0) | ~np.isfinite(values), 1.0, values)
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.abs(safe))))
    return np.where(np.isfinite(values), np.round(values * scale) / scale, values)


def best_first_dense_ranks(goodness: np.ndarray, digits: int = RANK_SIGNIFICANT_DIGITS) -> np.ndarray:
    """Dense ranks, 1 = highest goodness after rounding to ``digits`` significant digits; non-finite values share the last rank."""
    g = round_significant(goodness, digits)
    distinct, position = np.unique(np.where(np.isfinite(g), g, -np.inf), return_inverse=True)
    return (len(distinct) - position.reshape(-1)).astype(np.int64)


def reference_order(goodness: np.ndarray, digits: int) -> np.ndarray:
    """Candidate indices as TE-NAS's reference code sorts them: by goodness rounded to ``digits``
    significant digits, best first, equal keys in candidate order (``prune_tenas.py``, lines 147 and 159)."""
    key = round_significant(goodness, digits)
    return np.argsort(-np.where(np.isfinite(key), key, -np.inf), kind="stable")


def reference_ranks(goodness: np.ndarray, digits: int) -> np.ndarray:
    """TE-NAS reference ranks (``prune_tenas.py``, lines 150-169): walk the :func:`reference_order`;
    the rank advances by one whenever a value differs from the previous one in that order, compared
    unrounded (so rounding only orders, it never makes a tie). Rank 1 = best."""
    g = np.asarray(goodness, dtype=np.float64)
    order = reference_order(g, digits)
    ranks = np.ones(len(g), dtype=np.int64)
    for previous, current in zip(order, order[1:]):
        same = g[current] == g[previous] or not (np.isfinite(g[current]) or np.isfinite(g[previous]))
        ranks[current] = ranks[previous] + (0 if same else 1)
    return ranks


def worst_first_average_ranks(goodness: np.ndarray, of=None) -> np.ndarray:
    """Ranks 1 = lowest goodness .. n = highest along the last axis, ties averaged; non-finite values are the
    lowest. ``of``: the indices (along the last axis) whose ranks are wanted, among all; ``None``: every one."""
    g = np.asarray(goodness, dtype=np.float64)
    g = np.where(np.isfinite(g), g, -np.inf)
    if g.shape[-1] <= PAIRWISE_RANKS_UP_TO:  # a population: count who is below and who is level, no sort
        mine = g if of is None else g[..., of]
        below = (mine[..., :, None] > g[..., None, :]).sum(axis=-1)
        level = (mine[..., :, None] == g[..., None, :]).sum(axis=-1)
        return below + (level + 1) / 2
    if of is not None:
        return worst_first_average_ranks(g)[..., of]
    order = np.argsort(g, axis=-1, kind="stable")
    ordered = np.take_along_axis(g, order, axis=-1)
    position = np.broadcast_to(np.arange(g.shape[-1]), g.shape)
    first = np.ones(g.shape, dtype=bool)  # the first of a run of equal values, in sorted order
    first[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    last = np.ones(g.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    start = np.maximum.accumulate(np.where(first, position, 0), axis=-1)
    end = g.shape[-1] - 1 - np.maximum.accumulate(np.where(last[..., ::-1], position, 0), axis=-1)[..., ::-1]  # the last of its run
    ranks = np.empty(g.shape)
    np.put_along_axis(ranks, order, (start + end) / 2 + 1, axis=-1)
    return ranks


def max_normalised(goodness: np.ndarray) -> np.ndarray:
    """FreeREA's normalisation of one proxy: goodness / max |goodness| over the candidates (finite ones);
    non-finite values become the lowest finite term minus 1 (-2 when none is finite)."""
    g = np.asarray(goodness, dtype=np.float64)
    finite = np.isfinite(g)
    if not finite.any():
        return np.full(g.shape, -2.0)
    scale = np.abs(g[finite]).max()
    terms = np.where(finite, g, 0.0) / (scale if scale > 0 else 1.0)
    return np.where(finite, terms, terms[finite].min() - 1.0)


def merit(goodness: dict[str, np.ndarray], aggregation: str, digits: int = RANK_SIGNIFICANT_DIGITS, ties: str = "dense", of=None) -> np.ndarray:
    """One merit per candidate (higher = better) from each proxy's goodness (see the module docstring);
    ``of``: only the merits of these candidates (indices), each still relative to all.

    ``ties="reference"`` (``rank_sum`` only) ranks as TE-NAS's reference code does
    (:func:`reference_ranks`) and breaks equal sums by the first proxy's reference order.
    """
    if aggregation == "log_rank":
        stacked = np.stack(list(goodness.values()))
        return np.log(worst_first_average_ranks(stacked, of) / stacked.shape[1]).sum(axis=0)
    if aggregation == "rank_sum" and ties == "reference":
        values = list(goodness.values())
        total = sum(reference_ranks(g, digits) for g in values).astype(np.float64)
        position = np.empty(len(values[0]))
        position[reference_order(values[0], digits)] = np.arange(len(values[0]))
        out = -(total + position / (len(values[0]) + 1))
    elif aggregation == "rank_sum":
        out = -sum(best_first_dense_ranks(g, digits) for g in goodness.values()).astype(np.float64)
    elif aggregation == "max_norm_sum":
        out = sum(max_normalised(g) for g in goodness.values())
    else:
        raise ValueError(f"unknown aggregation {aggregation!r}; known: {list(AGGREGATIONS)}")
    return out if of is None else out[of]


@dataclass(frozen=True)
class Ranking:
    """``proxies`` combined by ``aggregation``."""

    name: str
    proxies: tuple[str, ...]
    aggregation: str = "rank_sum"
    significant_digits: int = RANK_SIGNIFICANT_DIGITS
    ties: str = "dense"
    signs: np.ndarray = field(init=False, repr=False, compare=False)  # +1 per higher-is-better proxy, -1 otherwise

    def __post_init__(self):
        if not self.proxies:
            raise ValueError(f"ranking {self.name!r} names no proxy")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"ranking {self.name!r}: unknown aggregation {self.aggregation!r}; known: {list(AGGREGATIONS)}")
        if self.ties not in TIE_RULES or (self.ties == "reference" and self.aggregation != "rank_sum"):
            raise ValueError(f"ranking {self.name!r}: ties {self.ties!r} must be one of {list(TIE_RULES)} ('reference' with rank_sum only)")
        if not isinstance(self.significant_digits, int) or self.significant_digits < 1:
            raise ValueError(f"ranking {self.name!r}: significant_digits must be a positive integer, got {self.significant_digits!r}")
        object.__setattr__(self, "signs", np.array([1.0 if get_proxy(p).higher_is_better else -1.0 for p in self.proxies]))

    def score_goodness(self, scores: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Architectures' scores as goodness (higher = better)."""
        return {p: np.asarray(scores[p], np.float64) * sign for p, sign in zip(self.proxies, self.signs)}

    def removal_goodness(self, deltas: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """How much removing each candidate's op improves each proxy: Δ for lower-is-better, −Δ otherwise."""
        return {p: np.asarray(deltas[p], np.float64) * -sign for p, sign in zip(self.proxies, self.signs)}

    def combined_score(self, scores: dict[str, np.ndarray], of=None) -> np.ndarray:
        """The merit of each architecture from its proxies' scores (higher = better); ``of``: only these
        architectures' (indices), each still over all of them."""
        return merit(self.score_goodness(scores), self.aggregation, self.significant_digits, self.ties, of)

    def importance(self, deltas: dict[str, np.ndarray]) -> np.ndarray:
        """Importance of each candidate's op from the mean Δ of each proxy; the lowest is pruned first."""
        return -merit(self.removal_goodness(deltas), self.aggregation, self.significant_digits, self.ties)

    def ranks(self, deltas: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per proxy, dense ranks of the candidates with 1 = the most prunable (written to ``candidates.csv``)."""
        rank = (lambda g: reference_ranks(g, self.significant_digits)) if self.ties == "reference" else (lambda g: best_first_dense_ranks(g, self.significant_digits))
        return {p: rank(g) for p, g in self.removal_goodness(deltas).items()}


def ranking_from_config(cfg, protocol=None) -> Ranking:
    """A :class:`Ranking` from a ``ranking`` config section (``name``, ``proxies``, ``aggregation``),
    ranked with a search ``protocol``'s ``rank_significant_digits`` and ``rank_ties`` when given."""
    options = {}
    if protocol is not None:
        options = {"significant_digits": protocol.get("rank_significant_digits", RANK_SIGNIFICANT_DIGITS), "ties": protocol.get("rank_ties", "dense")}
    return Ranking(str(cfg["name"]), tuple(cfg["proxies"]), str(cfg.get("aggregation", "rank_sum")), **options)


def get_ranking(name: str) -> Ranking:
    """The preset ``conf/ranking/<name>.yaml``."""
    from omegaconf import OmegaConf

    path = RANKING_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown ranking {name!r}; known: {list_rankings()}")
    return ranking_from_config(OmegaConf.load(path))


def list_rankings() -> list[str]:
    return sorted(p.stem for p in RANKING_DIR.glob("*.yaml"))


def prune_order(importance: np.ndarray) -> np.ndarray:
    """Candidate indices from first-to-prune to last (stable: earlier candidates first on ties)."""
    return np.argsort(np.asarray(importance, dtype=np.float64), kind="stable")
