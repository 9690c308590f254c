"""The TE-NAS pruning loop, written once against the search-space interface.

Each round every alive op on every undecided edge is a candidate: the current
network (the *origin*) minus that op. For each of ``repeats`` repeats every
indicator draws fresh weights and a fresh batch; the origin is scored once and
each candidate on the same weights and batch. ``Δ = (origin - candidate) /
|origin|`` is averaged over repeats, a ranking turns the Δs into importances, and
on every edge the least important op(s) are pruned. Rounds repeat until one op
per edge is left.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from search_spaces.base import AliveSet
from tenas.ranking import Ranking, prune_order

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """Remove ``op`` from ``edge`` of ``cell_type`` (``op=None``: remove the whole edge)."""

    cell_type: str
    edge: int
    op: str | None

    def apply(self, alive: AliveSet) -> AliveSet:
        return alive.without(self.cell_type, self.edge, self.op)

    def label(self) -> str:
        return f"{self.cell_type}[{self.edge}]" + (f" {self.op}" if self.op else "")


class Indicator(Protocol):
    """Scores alive-sets of one supernet; all sets of one ``score`` call share weights and inputs."""

    name: str

    def new_repeat(self, generator: torch.Generator) -> None:
        """Draw fresh weights and inputs for the next repeat."""

    def score(self, alive_sets: Sequence[AliveSet], progress: Callable[[int], None] | None = None) -> list[float]:
        """One score per alive-set."""


@dataclass
class RoundResult:
    index: int
    candidates: list[Candidate]
    records: list[dict] = field(default_factory=list)  # one per (repeat, candidate)
    importance: np.ndarray | None = None
    pruned: list[Candidate] = field(default_factory=list)
    seconds: float = 0.0


def relative_change(origin: float, candidate: float) -> float:
    """(origin - candidate) / |origin| (a drop is positive whatever the score's sign); NaN when
    either is non-finite or origin is 0."""
    if not (math.isfinite(origin) and math.isfinite(candidate)) or origin == 0:
        return float("nan")
    return (origin - candidate) / abs(origin)


def score_candidates(
    alive: AliveSet,
    candidates: Sequence[Candidate],
    indicators: Sequence[Indicator],
    repeats: int,
    generator: torch.Generator,
    round_index: int = 0,
    progress: Callable[[str], None] | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Score every candidate against the origin ``alive``; returns per-repeat records and mean Δ per indicator."""
    records: list[dict] = []
    deltas = {ind.name: np.zeros((repeats, len(candidates))) for ind in indicators}
    trial_sets = [alive] + [c.apply(alive) for c in candidates]
    for r in range(repeats):
        rows = [{"round": round_index, "repeat": r, "cell_type": c.cell_type, "edge": c.edge, "op": c.op if c.op else "<edge>"} for c in candidates]
        for ind in indicators:
            ind.new_repeat(generator)

            def tick(i, _ind=ind, _r=r):
                if progress:
                    progress(f"round {round_index} repeat {_r + 1}/{repeats} {_ind.name} candidate {max(i, 0)}/{len(candidates)}")

            scores = ind.score(trial_sets, progress=tick)
            origin = scores[0]
            for j, row in enumerate(rows):
                d = relative_change(origin, scores[j + 1])
                row[f"{ind.name}_origin"] = origin
                row[ind.name] = scores[j + 1]
                row[f"delta_{ind.name}"] = d
                deltas[ind.name][r, j] = d
        records.extend(rows)
    mean = {name: mean_over_repeats(d) for name, d in deltas.items()}
    return records, mean


def mean_over_repeats(d: np.ndarray) -> np.ndarray:
    """Mean Δ over repeats (axis 0), ignoring non-finite repeats. A candidate with no finite Δ
    in any repeat gets Δ = 0 (its removal is treated as changing nothing) and a warning."""
    finite = np.isfinite(d)
    out = np.zeros(d.shape[1])
    ok = finite.any(axis=0)
    out[ok] = np.where(finite, d, 0.0)[:, ok].sum(0) / finite[:, ok].sum(0)
    if not ok.all():
        log.warning("%d candidate(s) had no finite Δ in any repeat; their Δ is taken as 0", int((~ok).sum()))
    return out


def prune_ops(
    alive: AliveSet,
    indicators: Sequence[Indicator],
    ranking: Ranking,
    repeats: int,
    generator: torch.Generator,
    ops_per_edge: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[AliveSet, list[RoundResult]]:
    """Prune ops round by round until every edge holds one op; returns the final alive-set and the rounds."""
    rounds: list[RoundResult] = []
    r = 0
    while True:
        candidates = [
            Candidate(c, e, op)
            for c, m in alive.masks.items()
            for e in range(m.shape[0])
            if alive.num_alive(c, e) > 1
            for op in alive.alive_ops(c, e)
        ]
        if not candidates:
            return alive, rounds
        r += 1
        t0 = time.perf_counter()
        records, mean = score_candidates(alive, candidates, indicators, repeats, generator, r, progress)
        importance = np.asarray(ranking.importance(mean), dtype=np.float64)
        result = RoundResult(r, candidates, records, importance)
        for (c, e), members in _group_by_edge(candidates).items():
            k = min(ops_per_edge, alive.num_alive(c, e) - 1)
            order = members[prune_order(importance[members])]
            result.pruned.extend(candidates[j] for j in order[:k])
        for cand in result.pruned:
            alive = cand.apply(alive)
        result.seconds = time.perf_counter() - t0
        _annotate(result, mean, ranking)
        rounds.append(result)
        log.info("round %d: pruned %s (%.1fs)", r, ", ".join(c.label() for c in result.pruned), result.seconds)


def _group_by_edge(candidates: Sequence[Candidate]) -> dict[tuple[str, int], np.ndarray]:
    groups: dict[tuple[str, int], list[int]] = {}
    for j, c in enumerate(candidates):
        groups.setdefault((c.cell_type, c.edge), []).append(j)
    return {k: np.asarray(v) for k, v in groups.items()}


def _annotate(result: RoundResult, mean: dict[str, np.ndarray], ranking: Ranking | None = None) -> None:
    """Add mean Δs, the ranking's per-indicator ranks (``rank_<name>``), importance and the
    pruning decision to every record of the round."""
    index = {(c.cell_type, c.edge, c.op if c.op else "<edge>"): j for j, c in enumerate(result.candidates)}
    pruned = {(c.cell_type, c.edge, c.op if c.op else "<edge>") for c in result.pruned}
    ranks = ranking.ranks(mean) if ranking is not None else {}
    for row in result.records:
        key = (row["cell_type"], row["edge"], row["op"])
        j = index[key]
        for name, m in mean.items():
            row[f"mean_delta_{name}"] = float(m[j])
        for name, r in ranks.items():
            row[f"rank_{name}"] = int(r[j])
        row["importance"] = float(result.importance[j])
        row["pruned"] = key in pruned


def decide_edges(
    alive: AliveSet,
    groups: Sequence[tuple[str, Sequence[int]]],
    indicators: Sequence[Indicator],
    ranking: Ranking,
    repeats: int,
    generator: torch.Generator,
    keep: int = 2,
    first_round: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[AliveSet, list[RoundResult]]:
    """DARTS's edge decision: in each group (the incoming edges of one node, from ``space.edge_groups``),
    remove live edges one at a time until ``keep`` remain.

    Each removal is a round whose candidates are the group's live edges, each removed
    whole (``Candidate(cell_type, edge, None)``), scored against the current alive-set
    like op candidates (same indicators, repeats and ranking); the least important edge
    goes, and the next round scores against the alive-set without it. Groups are
    processed in the order given. Returns the final alive-set and one round per removal,
    numbered from ``first_round``.
    """
    rounds: list[RoundResult] = []
    r = first_round
    for cell_type, edges in groups:
        while True:
            live = [e for e in edges if alive.num_alive(cell_type, e) > 0]
            if len(live) <= keep:
                break
            t0 = time.perf_counter()
            candidates = [Candidate(cell_type, e, None) for e in live]
            records, mean = score_candidates(alive, candidates, indicators, repeats, generator, r, progress)
            importance = np.asarray(ranking.importance(mean), dtype=np.float64)
            result = RoundResult(r, candidates, records, importance, [candidates[prune_order(importance)[0]]])
            alive = result.pruned[0].apply(alive)
            result.seconds = time.perf_counter() - t0
            _annotate(result, mean, ranking)
            rounds.append(result)
            log.info("round %d: removed edge %s (%.1fs)", r, result.pruned[0].label(), result.seconds)
            r += 1
    return alive, rounds
