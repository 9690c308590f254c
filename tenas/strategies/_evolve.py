"""``strategy=evolve``: aging evolution (Real et al. 2019) on training-free scores; FreeREA's form with
``parents=2, crossover=true``.

A population of ``population_size`` random architectures; each generation a tournament of
``sample_size`` members drawn from the population, its best ``parents`` (by merit over the current
population) are mutated (and crossed), the new children scored and added, as many of the oldest members
removed; until ``budget`` distinct architectures are scored (the initial population included). The
best-merit architecture ever scored wins. The generations come from one generator seeded by ``seed``, so
the evolution of a smaller ``budget`` is the start of a longer one; a rerun in the same folder replays its
steps with the scores its ``checkpoint.jsonl`` holds."""
from __future__ import annotations

import logging
from collections import deque

import numpy as np
import pandas as pd
import torch

from search_spaces.base import AliveSet
from tenas.errors import TenasError
from tenas.schema import Setting
from tenas.strategies._registry import StrategyResult, StrategyRun, register_strategy
from tenas.pareto import nsga_order
from tenas.strategies._common import CHUNK_SIZE, architecture_fields, choose, draw_distinct, merits, stored_scores

log = logging.getLogger("tenas.strategies")

SETTINGS = (
    Setting("population_size", "int", 1, default=64, hint="architectures alive at once"),
    Setting("sample_size", "int", 1, default=10, hint="tournament size (at most population_size counts)"),
    Setting("budget", "int", 1, default=1000, hint="distinct architectures scored, the initial population included", identity=False),
    Setting("parents", "int", 1, 2, default=1, hint="the best 1 (Real et al.) or 2 (FreeREA) of the tournament mutated"),
    Setting("crossover", "bool", default=False, hint="the two parents' crossover joins their mutations; needs parents=2"),
    CHUNK_SIZE,
)


def check(settings: dict) -> None:
    tournament = min(settings["sample_size"], settings["population_size"])
    if settings["parents"] > tournament:
        raise TenasError(f"strategy.parents: {settings['parents']}; allowed: at most the tournament's {tournament} (strategy.sample_size)")
    if settings["crossover"] and settings["parents"] != 2:
        raise TenasError("strategy.crossover: true needs two parents; allowed: strategy.parents=2, or crossover false")


@register_strategy("evolve", settings=SETTINGS, check=check, table=True)
def evolve(run: StrategyRun, settings: dict) -> StrategyResult:
    """Aging evolution until ``settings["budget"]`` distinct architectures are scored (see the module
    docstring); returns the best-merit architecture ever scored (the first scored on ties) and one row per
    architecture in the order scored (``index``, ``step``: the generation that made it, 0 for the initial
    population, ``kind``: random / mutation / crossover, ``parent`` and ``parent2``: the indices of the
    architectures it came from, -1 where none, ``arch``, each proxy's score, ``merit`` over all of them,
    ``in_population`` at the end, ``chosen``).

    Each generation draws a tournament of ``sample_size`` members of the population, ranks them by the
    ranking's merit over the current population, and takes the best ``parents`` (1: Real et al.; 2:
    FreeREA); with cost objectives (``search.objectives``) the best by NSGA-II's order over the population
    (front rank of merit and costs, then crowding distance), and the front of all scored is returned. Each parent is mutated, and with ``crossover`` the two parents are crossed as well. A child
    repeated within its generation or infeasible (``run.feasible``) is dropped; the others join the population
    and as many of the oldest members die (aging), but only the new ones are scored and count against the
    budget (a child scored before keeps its scores: it is born again, as in aging evolution). After
    ``100 + budget`` generations in a row without a new architecture the search stops with a warning.
    """
    size, budget, parents, crossover = (settings[k] for k in ("population_size", "budget", "parents", "crossover"))
    tournament = min(settings["sample_size"], size)
    scorer, checkpoint, chunk = run.start(settings)
    generator = torch.Generator().manual_seed(int(run.seed))
    rows: list[dict] = []  # one per distinct architecture, in the order scored
    index_of: dict[str, int] = {}
    made: list[AliveSet] = []
    columns = {p: np.full(budget, np.nan) for p in run.ranking.proxies}  # the ranking's scores by row, for the tournaments
    costs = [o for o in run.objectives if o != "merit"]
    cost_columns = np.full((budget, len(costs)), np.nan)  # with cost objectives: each row's costs, for NSGA-II's selection

    def take(batch: list[tuple[int, str, int, int, str, AliveSet]]) -> None:
        """Score (or recall from the checkpoint) the new architectures [(step, kind, parent, parent2, text, alive)]."""
        if not batch:
            return
        first = len(rows)
        stored = [stored_scores(checkpoint, first + k, text, scorer.names) for k, (*_, text, _) in enumerate(batch)]
        fresh = [k for k, s in enumerate(stored) if s is None]
        for k, s in zip(fresh, scorer([batch[k][5] for k in fresh])):
            stored[k] = s
        checkpoint.extend([{"index": first + k, "arch": batch[k][4], **stored[k]} for k in fresh])
        for k, ((step, kind, parent, parent2, text, alive), s) in enumerate(zip(batch, stored)):
            index_of[text] = first + k
            made.append(alive)
            rows.append({"index": first + k, "step": step, "kind": kind, "parent": parent, "parent2": parent2, "arch": text, **s})
            for p, column in columns.items():
                column[first + k] = s[p]
            if costs:
                cost_columns[first + k] = list(run.costs(alive, costs).values())

    initial = draw_distinct(run.space, min(size, budget), generator, run.feasible)
    log.info("evolve: population %d, tournament %d, %d parent(s)%s, budget %d (%d stored), %d repeat(s)",
             size, tournament, parents, " and crossover" if crossover else "", budget, len(checkpoint.rows), scorer.repeats)
    for start in range(0, len(initial), chunk):
        take([(0, "random", -1, -1, text, alive) for text, alive in initial[start : start + chunk]])
        if run.progress:
            run.progress(f"evolve: {len(rows)}/{budget} architectures scored (initial population)")
    population: deque[int] = deque(range(len(rows)))
    step, idle = 0, 0
    while len(rows) < budget and idle < 100 + budget:
        step += 1
        members = np.fromiter(population, dtype=np.int64, count=len(population))
        scores = {p: column[members] for p, column in columns.items()}
        contenders = torch.randperm(len(members), generator=generator)[:tournament].numpy()
        if costs:  # NSGA-II: by front rank, then crowding distance, over the population
            position = np.empty(len(members), dtype=np.int64)
            position[nsga_order(np.column_stack([-run.ranking.combined_score(scores), cost_columns[members]]))] = np.arange(len(members))
            chosen = members[contenders[np.argsort(position[contenders], kind="stable")[:parents]]].tolist()
        else:  # the contenders' merits over the population; the first drawn on ties
            chosen = members[contenders[np.argsort(-run.ranking.combined_score(scores, of=contenders), kind="stable")[:parents]]].tolist()
        children = [("mutation", p, -1, run.space.mutate(made[p], generator)) for p in chosen]
        if crossover:
            child = run.space.crossover(made[chosen[0]], made[chosen[1]], generator)
            if child is not None:
                children.append(("crossover", chosen[0], chosen[1], child))
        batch, born, seen = [], [], set()
        for kind, parent, parent2, alive in children:
            text = run.space.arch_text(alive)
            if text in seen or not run.feasible(alive):
                continue
            seen.add(text)
            if text in index_of:
                born.append(index_of[text])  # scored before: born again, not scored again
            elif len(rows) + len(batch) < budget:
                batch.append((step, kind, parent, parent2, text, alive))
                born.append(len(rows) + len(batch) - 1)
        idle = 0 if batch else idle + 1
        take(batch)
        for i in born:
            population.append(i)
            population.popleft()  # aging: the oldest member dies, whatever its merit
        if run.progress and batch:
            run.progress(f"evolve: {len(rows)}/{budget} architectures scored (generation {step})")
    if len(rows) < budget:
        log.warning("evolve: stopped at %d of %d architectures: %d generations in a row made no new feasible child", len(rows), budget, idle)
    frame = pd.DataFrame.from_records(rows)
    frame["merit"] = merits(run.ranking, rows)
    frame["in_population"] = frame["index"].isin(set(population))
    best = choose(run, frame, made)
    return StrategyResult(made[best], frame, architecture_fields("evolve", settings, frame, run.ranking))
