"""Search strategies other than TE-NAS pruning: ``strategy=sample`` and ``strategy=evolve``.

``strategy=prune`` (the default) is the pruning loop of :mod:`tenas.pruning`, run by
:func:`tenas.search.run_search` itself. The two strategies here search over whole
architectures instead, scored without training:

- ``sample`` (NASWOT / AZ-NAS protocol): draw ``num_samples`` distinct random
  architectures, score them all, return the one of highest merit.
- ``evolve`` (aging evolution, Real et al. 2019, on training-free scores; FreeREA's form with
  ``parents=2, crossover=true``): a population of ``population_size`` random architectures;
  each generation a tournament of ``sample_size`` members drawn from the population, its best
  ``parents`` (by merit over the current population) are mutated (and crossed), the new children
  scored and added, as many of the oldest members removed; until ``budget`` distinct
  architectures are scored (the initial population included). The best-merit architecture
  ever scored wins.

Both take optional cost limits, ``max_params`` and ``max_flops`` (millions of parameters and
of multiply-adds of the architecture's benchmark network for the search's dataset, classes and
resolution; :func:`cost_limits`): an architecture over a limit is never scored, drawn or kept.

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
from tenas.table import TableIndicator

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


# ----------------------------------------------------------------------------- resumable state
def _open_checkpoint(out_dir: Path, identity: dict | None, durable: bool = True):
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
    return Checkpoint(out_dir / CHECKPOINT, sync=durable)


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
    feasible: Callable[[AliveSet], bool] = lambda alive: True  # cost limits (see cost_limits)
    durable: bool = True  # checkpoint rows forced to disk (False for scores that cost nothing to redo: a table's)

    def start(self, settings: dict) -> tuple[ArchScorer, Checkpoint, int]:
        """The scorer, the run folder's checkpoint (its identity checked) and ``settings["chunk_size"]``."""
        chunk = _positive(settings, "chunk_size", 50)
        return ArchScorer(self.indicators, self.repeats, self.seed), _open_checkpoint(self.out_dir, self.identity, self.durable), chunk


# ----------------------------------------------------------------------------- sample
def sample(run: StrategyRun, settings: dict) -> tuple[AliveSet, pd.DataFrame]:
    """Score ``settings["num_samples"]`` distinct random architectures (``chunk_size`` at a time, each
    appended to the checkpoint) and return the highest-merit one (the first drawn on ties) and the table
    of all (``index`` in draw order, ``arch``, each proxy's score, ``merit``, ``chosen``)."""
    n = _positive(settings, "num_samples", 1000)
    scorer, checkpoint, chunk = run.start(settings)
    archs = draw_distinct(run.space, n, torch.Generator().manual_seed(int(run.seed)), run.feasible)
    scores: list[dict | None] = [_stored(checkpoint, i, text, scorer.names) for i, (text, _) in enumerate(archs)]
    todo = [i for i, s in enumerate(scores) if s is None]
    log.info("sample: %d architectures (%d already scored), %d repeat(s)", len(archs), len(archs) - len(todo), scorer.repeats)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        for i, s in zip(part, scorer([archs[i][1] for i in part])):
            scores[i] = s
        checkpoint.extend([{"index": i, "arch": archs[i][0], **scores[i]} for i in part])
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
    """Aging evolution until ``settings["budget"]`` distinct architectures are scored (see the module
    docstring); returns the best-merit architecture ever scored (the first scored on ties) and one row per
    architecture in the order scored (``index``, ``step``: the generation that made it, 0 for the initial
    population, ``kind``: random / mutation / crossover, ``parent`` and ``parent2``: the indices of the
    architectures it came from, -1 where none, ``arch``, each proxy's score, ``merit`` over all of them,
    ``in_population`` at the end, ``chosen``).

    Each generation draws a tournament of ``sample_size`` members of the population, ranks them by the
    ranking's merit over the current population, and takes the best ``parents`` (1: Real et al.; 2:
    FreeREA). Each parent is mutated, and with ``crossover`` the two parents are crossed as well. A child
    repeated within its generation or infeasible (``run.feasible``) is dropped; the others join the population
    and as many of the oldest members die (aging), but only the new ones are scored and count against the
    budget (a child scored before keeps its scores: it is born again, as in aging evolution). After
    ``100 + budget`` generations in a row without a new architecture the search stops with a warning.
    """
    size = _positive(settings, "population_size", 64)
    tournament = min(_positive(settings, "sample_size", 10), size)
    budget = _positive(settings, "budget", 1000)
    parents = _positive(settings, "parents", 1)
    crossover = settings.get("crossover", False)
    if parents > 2 or parents > tournament:
        raise TenasError(f"strategy.parents: {parents}; allowed: 1 or 2, at most strategy.sample_size ({tournament})")
    if not isinstance(crossover, bool) or (crossover and parents != 2):
        raise TenasError(f"strategy.crossover: {crossover!r}; allowed: true (with strategy.parents=2) or false")
    scorer, checkpoint, chunk = run.start(settings)
    generator = torch.Generator().manual_seed(int(run.seed))
    rows: list[dict] = []  # one per distinct architecture, in the order scored
    index_of: dict[str, int] = {}
    made: list[AliveSet] = []
    columns = {p: np.full(budget, np.nan) for p in run.ranking.proxies}  # the ranking's scores by row, for the tournaments

    def take(batch: list[tuple[int, str, int, int, str, AliveSet]]) -> None:
        """Score (or recall from the checkpoint) the new architectures [(step, kind, parent, parent2, text, alive)]."""
        first = len(rows)
        stored = [_stored(checkpoint, first + k, text, scorer.names) for k, (*_, text, _) in enumerate(batch)]
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
        members = list(population)
        merit_of = dict(zip(members, run.ranking.combined_score({p: column[members] for p, column in columns.items()}).tolist()))
        contenders = [members[i] for i in torch.randperm(len(members), generator=generator)[:tournament].tolist()]
        chosen = sorted(contenders, key=lambda i: -merit_of[i])[:parents]  # stable: the first drawn on ties
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
    best = int(np.argmax(frame["merit"].to_numpy()))
    frame["chosen"] = frame.index == best
    return made[best], frame


def cost_limits(space: SearchSpace, settings: dict, num_classes: int, image_shape) -> Callable[[AliveSet], bool] | None:
    """``alive -> bool``: whether the architecture's benchmark network (``space.network``, built for
    ``num_classes`` classes) stays within ``settings["max_params"]`` million parameters and
    ``settings["max_flops"]`` million multiply-adds of one ``image_shape`` input (either ``None``: no limit);
    ``None`` when neither limit is set. FreeREA prunes infeasible children the same way."""
    from tenas.complexity import count_flops, count_parameters

    limits = {key: settings.get(key) for key in ("max_params", "max_flops")}
    for key, value in limits.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
            raise TenasError(f"strategy.{key}: {value!r}; allowed: a number > 0 (millions) or null")
    if all(v is None for v in limits.values()):
        return None
    cache: dict[str, bool] = {}

    def feasible(alive: AliveSet) -> bool:
        text = space.arch_text(alive)
        if text not in cache:
            net = space.network(space.genotype(alive), num_classes)
            ok = limits["max_params"] is None or count_parameters(net) <= limits["max_params"] * 1e6
            cache[text] = ok and (limits["max_flops"] is None or count_flops(net, tuple(image_shape)) <= limits["max_flops"] * 1e6)
        return cache[text]

    return feasible


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
        "scorer": OmegaConf.to_container(cfg.scorer, resolve=True) if "scorer" in cfg else {"name": "compute"},
        "benchmark_dataset": cfg.benchmark.get("dataset"),
        "strategy": {k: v for k, v in strategy.items() if k not in ("num_samples", "budget", "chunk_size")},
    }


def run_strategy(cfg, space: SearchSpace, indicators, ranking: Ranking, out_dir: Path, num_classes: int, image_shape,
                 progress: Progress | None = None) -> tuple[AliveSet, dict]:
    """Run ``cfg.strategy`` (sample or evolve) for :func:`tenas.search.run_search`: writes ``population.csv``
    (with NAS-Bench-201 test accuracies when ``benchmark.path`` is set) and returns the chosen alive-set and
    the fields it adds to ``genotype.json``."""
    from omegaconf import OmegaConf

    name = str(cfg.strategy.name)
    if name not in STRATEGIES:
        raise TenasError(f"strategy={name}: unknown search strategy; known: {list(STRATEGY_NAMES)}")
    settings = {k: v for k, v in OmegaConf.to_container(cfg.strategy, resolve=True).items() if k != "name"}
    run = StrategyRun(space, indicators, ranking, int(cfg.search.repeats), int(cfg.seed), out_dir, progress, strategy_identity(cfg, space, indicators, ranking))
    feasible = cost_limits(space, settings, num_classes, image_shape)
    if feasible is not None:
        run.feasible = feasible
    run.durable = not all(isinstance(ind, TableIndicator) for ind in indicators)
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
