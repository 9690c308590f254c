"""What the architecture strategies share: drawing distinct architectures, merits over what was scored, their rows
in the run folder's checkpoint, and the choice (on a Pareto front with cost objectives). They score with the run's
architecture scorer (:attr:`tenas.strategies.StrategyRun.scorer`)."""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from search_spaces.base import AliveSet, SearchSpace
from tenas.errors import TenasError
from tenas.ranking import Ranking
from tenas.schema import Setting

log = logging.getLogger("tenas.strategies")

#: Architectures scored per weight/input draw (a kill loses at most one chunk; no effect on scores).
CHUNK_SIZE = Setting("chunk_size", "int", 1, default=50, hint="architectures scored per draw; no effect on scores", identity=False)


def draw_distinct(space: SearchSpace, n: int, generator: torch.Generator, feasible=None) -> list[tuple[str, AliveSet]]:
    """``n`` distinct random architectures ``(text, alive-set)`` in draw order, each ``feasible`` (when given;
    see :func:`cost_limits`); fewer, with a warning, when the space runs out: repeats and infeasible ones are
    redrawn, up to ``20 n + 1000`` draws in all."""
    out, seen = [], set()
    for _ in range(20 * n + 1000):
        if len(out) == n:
            break
        alive = space.random_single_path(generator)
        text = space.arch_text(alive)
        if text not in seen:
            seen.add(text)
            if feasible is None or feasible(alive):
                out.append((text, alive))
    if len(out) < n:
        log.warning("only %d distinct architectures found in %d draws (asked for %d)", len(out), 20 * n + 1000, n)
    return out


def merits(ranking: Ranking, scores: Sequence[dict]) -> np.ndarray:
    """The ranking's merit of each of ``scores`` (one dict of proxy scores per architecture), over all of them."""
    if not scores:
        return np.zeros(0)
    return np.asarray(ranking.combined_score({p: np.array([s[p] for s in scores], dtype=np.float64) for p in ranking.proxies}), dtype=np.float64)


def stored_scores(checkpoint, index: int, text: str, proxies: Sequence[str]) -> dict | None:
    """The stored scores of step/draw ``index`` (None when not stored); refuses a row of another architecture."""
    row = checkpoint.rows.get(index)
    if row is None:
        return None
    if row["arch"] != text or any(p not in row for p in proxies):
        raise TenasError(
            f"{checkpoint.path}: entry {index} holds {row['arch']} with {sorted(k for k in row if k not in ('index', 'arch'))}, "
            f"but this run makes {text} scored on {list(proxies)}; choose another hydra.run.dir or delete that folder"
        )
    return {p: float(row[p]) for p in proxies}


def choose(run, frame, alives: Sequence[AliveSet]) -> int:
    """Mark ``frame["chosen"]`` (one row per architecture, ``merit`` filled; ``alives`` its alive-sets) and
    return the chosen row: the highest merit (the first on ties), or with costs among ``run.objectives``
    the ``run.front_pick`` point of the Pareto front of merit against them (each cost a column of
    ``frame``, ``on_front`` marking the front; :mod:`tenas.pareto`)."""
    from tenas.pareto import knee, non_dominated

    costs = [o for o in run.objectives if o != "merit"]
    if not costs:
        best = int(np.argmax(frame["merit"].to_numpy()))
    else:
        values = [run.costs(alive, costs) for alive in alives]
        for c in costs:
            frame[c] = [v[c] for v in values]
        points = np.column_stack([-frame["merit"].to_numpy(), *(frame[c].to_numpy() for c in costs)])
        front = np.flatnonzero(non_dominated(points))
        frame["on_front"] = np.isin(np.arange(len(frame)), front)
        if run.front_pick == "merit":
            best = int(front[np.argmin(points[front, 0])])  # the first of the highest merit
        elif run.front_pick == "cheapest":
            best = int(front[np.lexsort((points[front, 0], points[front, 1]))[0]])
        else:
            best = int(front[knee(points[front])])
    frame["chosen"] = frame.index == best
    return best


def architecture_fields(name: str, settings: dict, frame, ranking: Ranking) -> dict:
    """The fields a whole-architecture strategy adds to ``genotype.json``: its settings, the number of
    architectures scored, the chosen one's merit and scores."""
    chosen = frame[frame["chosen"]].iloc[0]
    fields = {name: settings, "num_scored": int(frame["arch"].nunique()), "merit": float(chosen["merit"]),
              "scores": {p: float(chosen[p]) for p in ranking.proxies}}
    log.info("%s: %d architectures scored; chosen %s (merit %.4g)", name, fields["num_scored"], chosen["arch"], fields["merit"])
    return fields
