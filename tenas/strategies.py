"""Search strategies other than TE-NAS pruning: ``strategy=sample`` and ``strategy=evolve``.

``strategy=prune`` (the default) is the pruning loop of :mod:`tenas.pruning`, run by
:func:`tenas.search.run_search` itself. The two strategies here search over whole
architectures instead, scored without training:

- ``sample`` (NASWOT / AZ-NAS protocol): draw ``num_samples`` distinct random
  architectures, score them all, return the one of highest merit.
- ``evolve`` (aging evolution, Real et al. 2019, on training-free scores as in FreeREA):
  a population of ``population_size`` random architectures; each step a tournament of
  ``sample_size`` members drawn from the population, the winner (highest merit) is
  mutated, the child scored and added, the oldest member removed; ``budget`` steps in
  all (the initial population included). The best-merit architecture ever scored wins.

Scoring. An architecture is a single-path alive-set of the space
(``space.random_single_path``, ``space.mutate``); its score on a proxy is the proxy on
the same supernet the pruning loop scores (:class:`tenas.scoring.ProxyIndicator`) with
that alive-set, i.e. its standalone network at the scoring width. For repeat ``r`` every
indicator re-draws its weights and inputs from a generator seeded by
:func:`repeat_seed` ``(seed, r)`` before each batch of architectures, so every
architecture sees identical weights and inputs in repeat ``r`` whatever the batch, the
generation or an interruption; a score is the mean over ``search.repeats`` repeats
(non-finite repeats left out). Merit is the ranking's :meth:`~tenas.ranking.Ranking.combined_score`,
rank-based, so it is recomputed over every architecture scored so far whenever one is chosen.

The architectures themselves come from one generator seeded by ``seed`` (a separate
stream from the scoring): the sample of a smaller ``num_samples`` is the start of the
sample of a larger one, and the evolution of a smaller ``budget`` the start of a longer one.

Outputs in the run folder (besides ``genotype.json`` and ``config.yaml``, written by
``tenas.search``): ``checkpoint.jsonl`` (one scored architecture per line, appended as
scoring goes; a rerun in the same folder resumes from it: ``sample`` scores only what is
missing, ``evolve`` replays its steps with the stored scores), ``strategy.json`` (the
settings the scores depend on; a rerun with other settings is refused) and
``population.csv`` (every architecture scored, in order, its proxy scores and final
merit, and with ``benchmark.path`` on NAS-Bench-201 its test accuracies).
"""
from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from search_spaces.base import AliveSet, SearchSpace
from tenas.errors import TenasError
from tenas.io import atomic_write_csv, atomic_write_json
from tenas.ranking import Ranking
from tenas.study.checkpoint import CHECKPOINT, Checkpoint

log = logging.getLogger("tenas.strategies")

IDENTITY = "strategy.json"
POPULATION = "population.csv"
STRATEGY_NAMES = ("prune", "sample", "evolve")

Progress = Callable[[str], None]


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat``'s weights and inputs (the same for every architecture and indicator)."""
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1, dtype=np.uint64)[0] >> 1)


class ArchScorer:
    """Mean score over ``repeats`` of each indicator on single-path alive-sets (see the module docstring)."""

    def __init__(self, indicators: Sequence, repeats: int, seed: int):
        if int(repeats) < 1:
            raise TenasError(f"search.repeats must be at least 1, got {repeats}")
        self.indicators, self.repeats, self.seed = list(indicators), int(repeats), int(seed)
        self.count = 0

    @property
    def names(self) -> list[str]:
        return [ind.name for ind in self.indicators]

    def __call__(self, alive_sets: Sequence[AliveSet]) -> list[dict[str, float]]:
        if not alive_sets:
            return []
        values = {ind.name: np.full((self.repeats, len(alive_sets)), np.nan) for ind in self.indicators}
        for r in range(self.repeats):
            for ind in self.indicators:
                ind.new_repeat(torch.Generator().manual_seed(repeat_seed(self.seed, r)))
                values[ind.name][r] = np.asarray(ind.score(list(alive_sets)), dtype=np.float64)
        self.count += len(alive_sets)
        means = {name: _finite_mean(v) for name, v in values.items()}
        return [{name: float(m[j]) for name, m in means.items()} for j in range(len(alive_sets))]


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN (the worst on any ranking) where none is finite."""
    finite = np.isfinite(values)
    count = finite.sum(0)
    total = np.where(finite, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def draw_distinct(space: SearchSpace, n: int, generator: torch.Generator) -> list[tuple[str, AliveSet]]:
    """``n`` distinct random architectures ``(text, alive-set)`` in draw order (fewer, with a warning, when
    the space runs out: repeats are redrawn, up to ``20 n + 1000`` draws in all)."""
    out, seen = [], set()
    for _ in range(20 * n + 1000):
        if len(out) == n:
            break
        alive = space.random_single_path(generator)
        text = space.arch_text(alive)
        if text not in seen:
            seen.add(text)
            out.append((text, alive))
    if len(out) < n:
        log.warning("only %d distinct architectures found in %d draws (asked for %d)", len(out), 20 * n + 1000, n)
    return out


def merits(ranking: Ranking, scores: Sequence[dict]) -> np.ndarray:
    """The ranking's merit of each of ``scores`` (one dict of proxy scores per architecture), over all of them."""
    if not scores:
        return np.zeros(0)
    return np.asarray(ranking.combined_score({p: np.array([s[p] for s in scores], dtype=np.float64) for p in ranking.proxies}), dtype=np.float64)


# ----------------------------------------------------------------------------- resumable state
def _open_checkpoint(out_dir: Path, identity: dict | None):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if identity is not None:
        path = out_dir / IDENTITY
        identity = json.loads(json.dumps(identity))
        if path.exists():
            stored = json.loads(path.read_text())
            if stored != identity:
                differing = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
                raise TenasError(
                    f"{out_dir} holds a search with other settings ({', '.join(differing)} differ); "
                    "choose another hydra.run.dir or delete that folder to start over"
                )
        else:
            atomic_write_json(path, identity)
    return Checkpoint(out_dir / CHECKPOINT)


def _stored(checkpoint, index: int, text: str, proxies: Sequence[str]) -> dict | None:
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


def _positive(settings: dict, key: str, default: int) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise TenasError(f"strategy.{key}: {value!r} is not a positive integer")
    return value


@dataclass
class StrategyRun:
    """What a strategy searches with besides its own settings: the space, the indicators and the
    ranking, ``repeats`` per score, the seed, the run folder, a progress callback, and the settings
    the folder must hold (``identity``, stored as ``strategy.json``; ``None``: none checked)."""

    space: SearchSpace
    indicators: Sequence
    ranking: Ranking
    repeats: int
    seed: int
    out_dir: Path
    progress: Progress | None = None
    identity: dict | None = None

    def start(self, settings: dict) -> tuple[ArchScorer, Checkpoint, int]:
        """The scorer, the run folder's checkpoint (its identity checked) and ``settings["chunk_size"]``."""
        chunk = _positive(settings, "chunk_size", 50)
        return ArchScorer(self.indicators, self.repeats, self.seed), _open_checkpoint(self.out_dir, self.identity), chunk


# ----------------------------------------------------------------------------- sample
def sample(run: StrategyRun, settings: dict) -> tuple[AliveSet, pd.DataFrame]:
    """Score ``settings["num_samples"]`` distinct random architectures (``chunk_size`` at a time, each
    appended to the checkpoint) and return the highest-merit one (the first drawn on ties) and the table
    of all (``index`` in draw order, ``arch``, each proxy's score, ``merit``, ``chosen``)."""
    n = _positive(settings, "num_samples", 1000)
    scorer, checkpoint, chunk = run.start(settings)
    archs = draw_distinct(run.space, n, torch.Generator().manual_seed(int(run.seed)))
    scores: list[dict | None] = [_stored(checkpoint, i, text, scorer.names) for i, (text, _) in enumerate(archs)]
    todo = [i for i, s in enumerate(scores) if s is None]
    log.info("sample: %d architectures (%d already scored), %d repeat(s)", len(archs), len(archs) - len(todo), scorer.repeats)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        for i, s in zip(part, scorer([archs[i][1] for i in part])):
            checkpoint.append({"index": i, "arch": archs[i][0], **s})
            scores[i] = s
        if run.progress:
            run.progress(f"sample: {len(archs) - len(todo) + start + len(part)}/{len(archs)} architectures scored")
    merit = merits(run.ranking, scores)
    best = int(np.argmax(merit))
    frame = pd.DataFrame.from_records([{"index": i, "arch": text, **scores[i]} for i, (text, _) in enumerate(archs)])
    frame["merit"] = merit
    frame["chosen"] = frame.index == best
    return archs[best][1], frame


# ----------------------------------------------------------------------------- evolve
def evolve(run: StrategyRun, settings: dict) -> tuple[AliveSet, pd.DataFrame]:
    """Aging evolution for ``settings["budget"]`` steps (see the module docstring); returns the best-merit
    architecture ever scored (the first scored on ties) and one row per step (``step``, ``parent``: the
    step of the architecture mutated, −1 for the initial population, ``arch``, each proxy's score,
    ``merit`` over all distinct architectures scored, ``in_population`` at the end, ``chosen``).

    A child equal to an architecture already scored reuses its scores (it still takes a step).
    """
    size = _positive(settings, "population_size", 64)
    tournament = min(_positive(settings, "sample_size", 10), size)
    budget = _positive(settings, "budget", 1000)
    scorer, checkpoint, chunk = run.start(settings)
    generator = torch.Generator().manual_seed(int(run.seed))
    scored: dict[str, dict] = {}  # distinct architectures in the order first scored
    made: dict[str, AliveSet] = {}  # their alive-sets
    steps: list[dict] = []

    def take(batch: list[tuple[int, int, str, AliveSet]]) -> None:
        """Score (or recall) the architectures of ``batch`` = [(step, parent, text, alive)] and record the steps."""
        fresh = {}
        for step, _, text, alive in batch:
            stored = _stored(checkpoint, step, text, scorer.names)
            if stored is not None and text not in scored:
                scored[text] = stored
            elif text not in scored and text not in fresh:
                fresh[text] = alive
        for text, s in zip(fresh, scorer(list(fresh.values()))):
            scored[text] = s
        for step, parent, text, alive in batch:
            made.setdefault(text, alive)
            if step not in checkpoint.rows:
                checkpoint.append({"index": step, "arch": text, **scored[text]})
            steps.append({"step": step, "parent": parent, "arch": text, **scored[text]})

    initial = draw_distinct(run.space, min(size, budget), generator)
    population: deque[tuple[int, str, AliveSet]] = deque((i, text, alive) for i, (text, alive) in enumerate(initial))
    log.info("evolve: population %d, tournament %d, budget %d (%d steps stored), %d repeat(s)",
             size, tournament, budget, len(checkpoint.rows), scorer.repeats)
    for start in range(0, len(initial), chunk):
        take([(i, -1, text, alive) for i, text, alive in list(population)[start : start + chunk]])
        if run.progress:
            run.progress(f"evolve: step {len(steps)}/{budget} (initial population)")
    for step in range(len(initial), budget):
        texts = list(scored)
        merit_of = dict(zip(texts, merits(run.ranking, [scored[t] for t in texts])))
        members = list(population)
        contenders = [members[i] for i in torch.randperm(len(members), generator=generator)[:tournament].tolist()]
        parent, parent_text, parent_alive = max(contenders, key=lambda m: merit_of[m[1]])  # the first drawn on ties
        child = run.space.mutate(parent_alive, generator)
        text = run.space.arch_text(child)
        take([(step, parent, text, child)])
        population.append((step, text, child))
        population.popleft()  # aging: the oldest member dies, whatever its merit
        if run.progress and (step + 1 == budget or (step + 1) % 25 == 0):
            run.progress(f"evolve: step {step + 1}/{budget}")
    texts = list(scored)
    merit = merits(run.ranking, [scored[t] for t in texts])
    best = texts[int(np.argmax(merit))]
    merit_of = dict(zip(texts, merit))
    frame = pd.DataFrame.from_records(steps)
    frame["merit"] = frame["arch"].map(merit_of).astype(np.float64)
    frame["in_population"] = frame["step"].isin({m[0] for m in population})
    frame["chosen"] = frame.index == int((frame["arch"] == best).to_numpy().argmax())
    return made[best], frame


STRATEGIES: dict[str, Callable[..., tuple[AliveSet, pd.DataFrame]]] = {"sample": sample, "evolve": evolve}


# ----------------------------------------------------------------------------- from tenas.search
def strategy_identity(cfg, space: SearchSpace, indicators, ranking: Ranking) -> dict:
    """The settings a strategy's scores and choices depend on (stored as ``strategy.json``): seed, repeats,
    dataset, the space with the settings it is built from, the ranking, each proxy's resolved protocol (the
    space's protocol changes included) and the strategy's settings; not the device, threads, chunking or
    size (``num_samples``, ``budget``: a run can be grown or cut in its folder)."""
    from omegaconf import OmegaConf

    strategy = OmegaConf.to_container(cfg.strategy, resolve=True)
    return {
        "seed": int(cfg.seed),
        "repeats": int(cfg.search.repeats),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
        "search_space": {"name": space.name, **space.config_options(OmegaConf.to_container(cfg.search_space, resolve=True))},
        "ranking": {"proxies": list(ranking.proxies), "aggregation": ranking.aggregation},
        "proxy": {ind.name: getattr(getattr(ind, "recipe", None), "settings", None) for ind in indicators},
        "strategy": {k: v for k, v in strategy.items() if k not in ("num_samples", "budget", "chunk_size")},
    }


def run_strategy(cfg, space: SearchSpace, indicators, ranking: Ranking, out_dir: Path, progress: Progress | None = None) -> tuple[AliveSet, dict]:
    """Run ``cfg.strategy`` (sample or evolve) for :func:`tenas.search.run_search`: writes ``population.csv``
    (with NAS-Bench-201 test accuracies when ``benchmark.path`` is set) and returns the chosen alive-set and
    the fields it adds to ``genotype.json``."""
    from omegaconf import OmegaConf

    name = str(cfg.strategy.name)
    if name not in STRATEGIES:
        raise TenasError(f"strategy={name}: unknown search strategy; known: {list(STRATEGY_NAMES)}")
    settings = {k: v for k, v in OmegaConf.to_container(cfg.strategy, resolve=True).items() if k != "name"}
    run = StrategyRun(space, indicators, ranking, int(cfg.search.repeats), int(cfg.seed), out_dir, progress, strategy_identity(cfg, space, indicators, ranking))
    try:
        alive, frame = STRATEGIES[name](run, settings)
    except NotImplementedError as err:
        raise TenasError(str(err)) from None
    if cfg.benchmark.get("path") and space.has_benchmark:
        from tenas.benchmark import load_benchmark

        bench = load_benchmark(cfg.benchmark.path)
        accuracy = {arch: bench.test_accuracy(arch) for arch in dict.fromkeys(frame["arch"])}
        table = pd.DataFrame.from_records([accuracy[a] for a in frame["arch"]]).add_suffix("_test")
        at = list(frame.columns).index("arch") + 1
        frame = pd.concat([frame.iloc[:, :at], table, frame.iloc[:, at:]], axis=1)
    atomic_write_csv(Path(out_dir) / POPULATION, frame)
    chosen = frame[frame["chosen"]].iloc[0]
    summary = {
        name: settings,
        "num_scored": int(frame["arch"].nunique()),
        "merit": float(chosen["merit"]),
        "scores": {p: float(chosen[p]) for p in ranking.proxies},
    }
    log.info("%s: %d architectures scored; chosen %s (merit %.4g)", name, summary["num_scored"], chosen["arch"], summary["merit"])
    return alive, summary
