"""``strategy=prune`` (the default): TE-NAS's pruning of the supernet (:mod:`tenas.pruning`), then on DARTS
each node's edge decisions. Its settings are the search's own (``search.repeats``,
``search.prune_none_first``, ``search_space.ops_per_edge``, ``protocol.delta_decimals``); it saves the
search state after each round (:class:`SearchState`) and a rerun in the same folder continues from it.
``candidates.csv``: one row per repeat and candidate of every round."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import pandas as pd
import torch

from search_spaces.base import AliveSet
from tenas.errors import TenasError
from tenas.pruning import RoundResult, decide_edges, prune_ops, starting_alive_set
from tenas.run_folder import RunFolder
from tenas.strategies._registry import StrategyResult, StrategyRun, register_strategy

log = logging.getLogger("tenas.strategies")


@dataclass
class SearchState:
    """A pruning search after its last finished round: the alive-set, the rounds so far (their records are
    what ``candidates.csv`` is made of), the search generator's state and the seconds spent. Saved in the run
    folder (:meth:`tenas.run_folder.RunFolder.save_state`) after every round and every DARTS edge decision, so a
    kill loses at most the round in progress; a rerun in the folder continues with the generator where it
    was, so the remaining rounds draw the same weights and inputs as an uninterrupted run and end with the
    same ``candidates.csv`` and ``genotype.json``."""

    alive: AliveSet
    generator_state: torch.Tensor
    rounds: list[RoundResult] = field(default_factory=list)
    edge_rounds: list[RoundResult] = field(default_factory=list)
    indicator_seconds: dict = field(default_factory=dict)
    elapsed: float = 0.0

    def save(self, folder: RunFolder) -> None:
        folder.save_state(dict(self.__dict__))

    @classmethod
    def load(cls, folder: RunFolder) -> "SearchState | None":
        saved = folder.load_state()
        if saved is None:
            return None
        try:
            return cls(**saved)
        except TypeError:
            raise TenasError(f"{folder.path}: its state is not a pruning search's; delete that folder to start over") from None


@register_strategy("prune")
def prune(run: StrategyRun, settings: dict) -> StrategyResult:
    """The pruning rounds (then DARTS's edge decisions), continuing from ``run.state`` when a partial
    search was found. Under ``search.limits`` an op is pruned only while the remaining supernet's cheapest
    path stays within them (so the architecture found does); DARTS's edge decisions take no limits."""
    cfg, space, indicators = run.cfg, run.space, run.scorer
    state = SearchState.load(run.folder)
    generator = torch.Generator().manual_seed(int(run.seed))
    before = 0.0
    if state is None:
        state = SearchState(starting_alive_set(space, cfg.search.prune_none_first), generator.get_state())
    else:
        generator.set_state(state.generator_state)
        for ind in indicators:
            ind.seconds = state.indicator_seconds.get(ind.name, 0.0)
        before = state.elapsed
        log.info("resuming %s after %d finished round(s)", run.folder.path, len(state.rounds) + len(state.edge_rounds))
    t0 = time.perf_counter()

    def saver(phase: str):
        def save(alive, rounds):
            state.alive = alive
            setattr(state, phase, list(rounds))
            state.generator_state = generator.get_state()
            state.indicator_seconds = {ind.name: ind.seconds for ind in indicators}
            state.elapsed = before + time.perf_counter() - t0
            state.save(run.folder)

        return save

    decimals = cfg.protocol.get("delta_decimals")
    alive, rounds = prune_ops(state.alive, indicators, run.ranking, run.repeats, generator, cfg.search_space.get("ops_per_edge", 1),
                              progress=run.progress, done=state.rounds, after_round=saver("rounds"), delta_decimals=decimals,
                              allowed=run.limits.path_feasible if run.limits else None)
    edge_rounds = []
    if space.edge_groups(alive):  # DARTS: each node keeps its best incoming edges
        alive, edge_rounds = decide_edges(alive, space.edge_groups(alive), indicators, run.ranking, run.repeats, generator, first_round=len(rounds) + 1,
                                          progress=run.progress, done=state.edge_rounds, after_round=saver("edge_rounds"), delta_decimals=decimals)
    fields = {"rounds": [{"round": r.index, "candidates": len(r.candidates), "pruned": [c.label() for c in r.pruned], "seconds": round(r.seconds, 3)}
                         for r in rounds]}
    if edge_rounds:
        fields["edge_decisions"] = [{"round": r.index, "candidates": [c.label() for c in r.candidates], "removed": r.pruned[0].label(),
                                     "seconds": round(r.seconds, 3)} for r in edge_rounds]
    records = [row for r in rounds + edge_rounds for row in r.records]
    return StrategyResult(alive, pd.DataFrame.from_records(records), fields, before)
