"""Search strategies, each a plugin: ``@register_strategy("name", settings=...)`` on a function
``(run: StrategyRun, settings: dict) -> StrategyResult``.

A registration is all a strategy needs: its settings (:class:`tenas.schema.Setting`, each with its
default) are the ``strategy`` config group's option ``strategy=<name>`` (stored in Hydra's ConfigStore,
so ``strategy=<name> strategy.<key>=<value>`` works for a strategy registered anywhere, a test file
included), they are checked with the rest of the run's settings before any work, and
:func:`run_strategy` runs it for ``python -m tenas.search``. Every strategy writes one table,
``candidates.csv`` in the run folder (what it scored, one row per candidate; the columns are the
strategy's), and returns the chosen alive-set and the fields it adds to ``genotype.json``.

The built-in strategies:

- ``prune`` (the default; :mod:`tenas.strategies._prune`): TE-NAS's pruning of the supernet,
  :mod:`tenas.pruning`; one row per repeat and candidate of every round.
- ``sample`` (:mod:`tenas.strategies._sample`): NASWOT / AZ-NAS's random sampling.
- ``evolve`` (:mod:`tenas.strategies._evolve`): aging evolution (Real et al.; FreeREA's form with
  ``parents=2, crossover=true``).

The last two search over whole architectures (single-path alive-sets of the space,
``space.random_single_path``, ``space.mutate``), scored by :mod:`tenas.arch_scorer` (each
architecture's standalone network, as a study scores it), so a score table can serve them (``table=True``)
and they return a Pareto front with ``search.objectives=[merit, <cost>...]`` (``pareto.csv``,
``pareto.png``). Every strategy keeps to ``search.limits`` (:mod:`tenas.costs`). Their drawing,
resume and choice are :mod:`tenas.strategies._common`'s.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from search_spaces.base import SearchSpace
from tenas.errors import TenasError
from tenas.io import atomic_write_csv
from tenas.ranking import Ranking
from tenas.run_folder import RunFolder
from tenas.strategies import _evolve, _prune, _sample  # noqa: F401  the built-in strategies register themselves
from tenas.strategies._common import draw_distinct, merits
from tenas.strategies._registry import STRATEGIES, Progress, Strategy, StrategyResult, StrategyRun, register_strategy

log = logging.getLogger("tenas.strategies")

CANDIDATES = "candidates.csv"

__all__ = ["CANDIDATES", "STRATEGIES", "Strategy", "StrategyResult", "StrategyRun",
           "draw_distinct", "merits", "register_strategy", "run_strategy"]


def strategy_settings(cfg) -> tuple[Strategy, dict]:
    """The run's strategy and its settings (besides ``name``)."""
    from omegaconf import OmegaConf

    settings = OmegaConf.to_container(cfg.strategy, resolve=True)
    return STRATEGIES[settings.pop("name")], settings


def run_strategy(cfg, space: SearchSpace, scorer, ranking: Ranking, folder: RunFolder, costs, limits, bench=None,
                 progress: Progress | None = None) -> StrategyResult:
    """Run ``cfg.strategy`` for :func:`tenas.search.run_search` in ``folder`` (claimed by the search; ``scorer``:
    :attr:`StrategyRun.scorer`; ``costs``,
    ``limits``: the run's :func:`tenas.costs.search_limits`): writes
    ``candidates.csv`` (with the test accuracies of each architecture in ``bench``, the ground truth, when
    given and the rows are architectures), and for a front ``pareto.csv`` and ``pareto.png``, and
    returns the strategy's result."""
    entry, settings = strategy_settings(cfg)
    run = StrategyRun(space, scorer, ranking, int(cfg.search.repeats), int(cfg.seed), folder, progress, costs=costs, limits=limits,
                      objectives=tuple(cfg.search.objectives), front_pick=str(cfg.search.front_pick), cfg=cfg)
    try:
        result = entry(run, settings)
    except NotImplementedError as err:
        raise TenasError(str(err)) from None
    frame = result.candidates
    if bench is not None and "arch" in frame.columns:
        accuracy = {arch: bench.test_accuracy(arch) for arch in dict.fromkeys(frame["arch"])}
        table = pd.DataFrame.from_records([accuracy[a] for a in frame["arch"]]).add_suffix("_test")
        at = list(frame.columns).index("arch") + 1
        frame = pd.concat([frame.iloc[:, :at], table, frame.iloc[:, at:]], axis=1)
    atomic_write_csv(folder.path / CANDIDATES, frame)
    if "on_front" in frame.columns:
        write_front(frame, [o for o in run.objectives if o != "merit"], folder.path)
    return result._replace(candidates=frame)


def write_front(frame: pd.DataFrame, costs: list[str], out_dir: Path) -> None:
    """``pareto.csv`` (the front's architectures by the first cost: ``arch``, ``merit``, each cost, the
    benchmark's accuracies when known, ``chosen``) and ``pareto.png`` (merit, and with a benchmark each
    accuracy, against the first cost; every scored architecture grey, the front joined, the choice marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = [c for c in frame.columns if c.endswith("_test")]
    front = frame[frame["on_front"]].drop_duplicates("arch").sort_values([costs[0], "merit"], ascending=[True, False])
    atomic_write_csv(out_dir / "pareto.csv", front[["arch", "merit", *costs, *tests, "chosen"]])
    panels = ["merit", *tests]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, column in zip(axes[0], panels):
        ax.scatter(frame[costs[0]], frame[column], s=6, c="0.75", label="scored")
        ax.plot(front[costs[0]], front[column], "o-", ms=4, label="front (by merit)")
        chosen = front[front["chosen"]]
        ax.scatter(chosen[costs[0]], chosen[column], marker="*", s=160, c="red", zorder=3, label="returned")
        ax.set_xlabel(costs[0])
        ax.set_ylabel(column)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out_dir / "pareto.png", dpi=110)
    plt.close(fig)
