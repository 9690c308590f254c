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


#: How an indicator draws weights and inputs when no ``schedule`` says otherwise: once per repeat,
#: shared by the origin and every candidate of that repeat.
SHARED_SCHEDULE = {"weights": "per_repeat", "inputs": "per_repeat"}
WEIGHT_SCHEDULES = ("per_repeat", "per_round", "per_candidate")
INPUT_SCHEDULES = ("per_repeat", "per_pair")


def score_candidates(
    alive: AliveSet,
    candidates: Sequence[Candidate],
    indicators: Sequence[Indicator],
    repeats: int,
    generator: torch.Generator,
    round_index: int = 0,
    progress: Callable[[str], None] | None = None,
    delta_decimals: int | None = None,
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Score every candidate against the origin ``alive``; returns per-repeat records and mean Δ per indicator.

    An indicator with the shared schedule (:data:`SHARED_SCHEDULE`, the default) draws weights and
    inputs once per repeat and scores the origin once and every candidate on them. An indicator whose
    ``schedule`` asks for ``inputs: per_pair`` scores the origin again with each candidate in each
    repeat, on inputs drawn for that pair, and draws weights once per round, per candidate (shared by
    its repeats) or per repeat (``weights``). Shared indicators draw first, repeat by repeat; then each
    pairwise indicator, candidate by candidate. ``delta_decimals`` rounds each repeat's Δ to that many
    decimals (the reference code's ``precision``).
    """
    rows = [
        [{"round": round_index, "repeat": r, "cell_type": c.cell_type, "edge": c.edge, "op": c.op if c.op else "<edge>"} for c in candidates]
        for r in range(repeats)
    ]
    deltas = {ind.name: np.zeros((repeats, len(candidates))) for ind in indicators}
    trial_sets = [c.apply(alive) for c in candidates]

    def record(ind, r: int, j: int, origin: float, score: float) -> None:
        d = relative_change(origin, score)
        if delta_decimals is not None and math.isfinite(d):
            d = round(d, delta_decimals)
        rows[r][j].update({f"{ind.name}_origin": origin, ind.name: score, f"delta_{ind.name}": d})
        deltas[ind.name][r, j] = d

    def tick(ind, r: int):
        return lambda i: progress and progress(f"round {round_index} repeat {r + 1}/{repeats} {ind.name} candidate {max(i, 0)}/{len(candidates)}")

    shared = [ind for ind in indicators if getattr(ind, "schedule", SHARED_SCHEDULE) == SHARED_SCHEDULE]
    for r in range(repeats):
        for ind in shared:
            ind.new_repeat(generator)
            scores = ind.score([alive] + trial_sets, progress=tick(ind, r))
            for j in range(len(candidates)):
                record(ind, r, j, scores[0], scores[j + 1])
    for ind in (i for i in indicators if i not in shared):
        weights = ind.schedule["weights"]
        if weights == "per_round":
            ind.new_weights(generator)
        for j, trial in enumerate(trial_sets):
            if weights == "per_candidate":
                ind.new_weights(generator)
            for r in range(repeats):
                if weights == "per_repeat":
                    ind.new_weights(generator)
                ind.new_inputs(generator)
                origin, score = ind.score([alive, trial])
                record(ind, r, j, origin, score)
            tick(ind, repeats - 1)(j)
    mean = {name: mean_over_repeats(d) for name, d in deltas.items()}
    return [row for per_repeat in rows for row in per_repeat], mean


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


@dataclass(frozen=True)
class Group:
    """Candidates of one decision and how many of them leave (the least important first)."""

    candidates: list[Candidate]
    remove: int


def run_rounds(
    alive: AliveSet,
    propose: Callable[[AliveSet], list[Group]],
    indicators: Sequence[Indicator],
    ranking: Ranking,
    repeats: int,
    generator: torch.Generator,
    *,
    first_round: int = 1,
    progress: Callable[[str], None] | None = None,
    done: Sequence[RoundResult] = (),
    after_round: Callable[[AliveSet, list[RoundResult]], None] | None = None,
    delta_decimals: int | None = None,
    allowed: Callable[[AliveSet], bool] | None = None,
) -> tuple[AliveSet, list[RoundResult]]:
    """The round loop of every pruning phase: while ``propose(alive)`` returns groups, score all their
    candidates against ``alive`` (:func:`score_candidates`), rank them, remove the ``remove`` least
    important of each group, and go on from the alive-set without them.

    Rounds are numbered from ``first_round``. ``done``: rounds already finished (a resumed search),
    ``alive`` being the alive-set after them and ``generator`` in the state it had then; numbering
    continues after them. ``after_round(alive, rounds)`` is called after every round (the search saves
    its state there). ``allowed(alive)``: whether an alive-set may be pruned to (the search's limits: its
    cheapest path within them); a candidate whose removal would leave a disallowed one is passed over for
    the next least important of its group. Returns the final alive-set and all rounds, ``done`` first.
    """
    rounds: list[RoundResult] = list(done)
    r = first_round + len(rounds) - 1
    while groups := propose(alive):
        r += 1
        t0 = time.perf_counter()
        candidates = [c for g in groups for c in g.candidates]
        records, mean = score_candidates(alive, candidates, indicators, repeats, generator, r, progress, delta_decimals)
        importance = np.asarray(ranking.importance(mean), dtype=np.float64)
        result = RoundResult(r, candidates, records, importance)
        start = 0
        for g in groups:
            members = np.arange(start, start + len(g.candidates))
            start += len(g.candidates)
            taken, passed = 0, []
            for j in members[prune_order(importance[members])]:
                if taken == g.remove:
                    break
                after = candidates[j].apply(alive)
                if allowed is not None and not allowed(after):
                    passed.append(j)
                    continue
                alive, taken = after, taken + 1
                result.pruned.append(candidates[j])
            for k, j in enumerate(passed):
                if k < g.remove - taken:  # no other removal keeps every limit: the least important goes anyway
                    log.warning("round %d: removed %s although a limit of search.limits is then out of reach (no choice here keeps them all)",
                                r, candidates[j].label())
                    alive = candidates[j].apply(alive)
                    result.pruned.append(candidates[j])
                else:
                    log.info("round %d: kept %s: without it a limit of search.limits would be out of reach", r, candidates[j].label())
        result.seconds = time.perf_counter() - t0
        _annotate(result, mean, ranking)
        rounds.append(result)
        log.info("round %d: removed %s (%.1fs)", r, ", ".join(c.label() for c in result.pruned), result.seconds)
        if after_round:
            after_round(alive, rounds)
    return alive, rounds


def starting_alive_set(space, prune_none_first: bool) -> AliveSet:
    """The supernet a pruning search starts from: every op on every edge, less ``none`` with ``prune_none_first``."""
    alive = space.full_alive_set()
    if prune_none_first and "none" in alive.op_names:
        alive = alive.without_op_everywhere("none")
    return alive


def prune_ops(alive: AliveSet, indicators, ranking: Ranking, repeats: int, generator: torch.Generator, ops_per_edge: int = 1, **loop):
    """Prune ops round by round until every edge holds one op: each round, every alive op of every edge
    that still has a choice is a candidate, and ``ops_per_edge`` of each edge leave (never its last).
    ``loop``: the keywords of :func:`run_rounds`."""

    def propose(current: AliveSet) -> list[Group]:
        return [
            Group([Candidate(c, e, op) for op in current.alive_ops(c, e)], min(ops_per_edge, current.num_alive(c, e) - 1))
            for c, m in current.masks.items()
            for e in range(m.shape[0])
            if current.num_alive(c, e) > 1
        ]

    return run_rounds(alive, propose, indicators, ranking, repeats, generator, **loop)


def decide_edges(alive: AliveSet, groups, indicators, ranking: Ranking, repeats: int, generator: torch.Generator, **loop):
    """DARTS's edge decision: ``groups`` are ``(cell_type, edges, keep)`` (the incoming edges of one node
    and how many it keeps, from ``space.edge_groups``); in group order, live edges leave one per round,
    each round's candidates being the group's live edges removed whole (``Candidate(cell_type, edge,
    None)``), until ``keep`` remain. ``loop``: the keywords of :func:`run_rounds`; the removals already
    made are visible in ``alive``, so a resumed search goes on where it stopped."""

    def propose(current: AliveSet) -> list[Group]:
        for cell_type, edges, keep in groups:
            live = [e for e in edges if current.num_alive(cell_type, e) > 0]
            if len(live) > keep:
                return [Group([Candidate(cell_type, e, None) for e in live], 1)]
        return []

    return run_rounds(alive, propose, indicators, ranking, repeats, generator, **loop)


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
