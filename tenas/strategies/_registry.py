"""The strategy registry: :func:`register_strategy`, the :class:`Strategy` it records, what a strategy is
given (:class:`StrategyRun`) and what it returns (:class:`StrategyResult`); see :mod:`tenas.strategies`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import pandas as pd
from hydra.core.config_store import ConfigStore

from search_spaces.base import AliveSet, SearchSpace
from tenas.errors import TenasError
from tenas.ranking import Ranking
from tenas.schema import ABSENT, Setting
from tenas.run_folder import Checkpoint, RunFolder

Progress = Callable[[str], None]


class StrategyResult(NamedTuple):
    """What a strategy returns: the chosen alive-set, its ``candidates.csv`` table, the fields it adds to
    ``genotype.json``, and the search seconds spent before an interruption it resumed from."""

    alive: AliveSet
    candidates: pd.DataFrame
    fields: dict
    elapsed_before: float = 0.0


@dataclass
class StrategyRun:
    """What a strategy searches with besides its own settings: the space, the scorer and the ranking,
    ``repeats`` per score, the seed, the run folder (:class:`tenas.run_folder.RunFolder`, its
    identity already claimed: what it holds is this run's to resume from), a progress callback, the cost
    model and the limits (:mod:`tenas.costs`), the objectives (``merit`` and costs: a Pareto front) and
    which point of the front is returned, and the whole composed config (``cfg``, for a strategy configured
    outside ``strategy.``, as pruning is by ``search.*``)."""

    space: SearchSpace
    #: A strategy of whole architectures (``table=True``): its scorer, :class:`tenas.arch_scorer.ArchitectureScorer`
    #: or a score table's :class:`tenas.table.TableScorer` (``names``, ``repeats``, ``durable``, and
    #: ``scorer(alive_sets) -> [{proxy: score}]``); a strategy of supernets (prune): the indicators of :mod:`tenas.pruning`.
    scorer: Any
    ranking: Ranking
    repeats: int
    seed: int
    folder: RunFolder
    progress: Progress | None = None
    costs: Any = None  # tenas.costs.CostModel
    limits: Any = None  # tenas.costs.Limits (falsy: none set)
    objectives: tuple[str, ...] = ("merit",)
    front_pick: str = "knee"
    cfg: Any = None

    def feasible(self, alive: AliveSet) -> bool:
        """Whether ``alive`` is within every limit (always, without limits)."""
        return not self.limits or self.limits.feasible(alive)

    def start(self, settings: dict) -> tuple[Any, Checkpoint, int]:
        """The scorer, the run folder's checkpoint (rows forced to disk unless the scorer's cost nothing to redo,
        ``durable=False``: a table's) and ``settings["chunk_size"]``."""
        return self.scorer, self.folder.checkpoint(getattr(self.scorer, "durable", True)), settings["chunk_size"]


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its function, its settings (defaults included), a check across them
    (``check(settings)`` raising :class:`TenasError`), and whether it scores whole architectures (so a
    score table can serve it)."""

    name: str
    function: Callable[[StrategyRun, dict], StrategyResult]
    settings: tuple[Setting, ...] = ()
    check: Callable[[dict], None] | None = None
    table: bool = False

    def defaults(self) -> dict:
        return {s.key: s.default for s in self.settings}

    def identity(self, settings: dict) -> dict:
        """``settings`` less those a rerun in the run's folder may change (``Setting.identity=False``)."""
        free = {s.key for s in self.settings if not s.identity}
        return {k: v for k, v in settings.items() if k not in free}

    def validate(self, settings: dict) -> None:
        """Each setting against its rule, then the cross-setting check; an unknown key is an error."""
        known = sorted(["name", *(s.key for s in self.settings)])
        for key in settings:
            if key not in known:
                raise TenasError(f"strategy.{key}: unknown setting of strategy={self.name}; known: {known}")
        for setting in self.settings:
            setting.check(settings.get(setting.key, ABSENT), f"strategy.{setting.key}")
        if self.check is not None:
            self.check(settings)

    def __call__(self, run: StrategyRun, settings: dict) -> StrategyResult:
        """Run on ``settings`` (the defaults filling what is not given), checked first."""
        settings = {**self.defaults(), **settings}
        self.validate(settings)
        return self.function(run, settings)


#: name -> :class:`Strategy`, filled by :func:`register_strategy`.
STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str, *, settings: Sequence[Setting] = (), check=None, table: bool = False):
    """Register the decorated ``function(run, settings) -> StrategyResult`` as ``strategy=name``."""

    def decorate(function):
        if name in STRATEGIES:
            raise ValueError(f"strategy {name!r} is registered already")
        entry = Strategy(name, function, tuple(settings), check, table)
        STRATEGIES[name] = entry
        ConfigStore.instance().store(group="strategy", name=name, node={"name": name, **entry.defaults()}, provider="tenas")
        return function

    return decorate
