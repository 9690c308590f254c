"""The settings of a correlation study (``python -m tenas.evaluate``), checked before it scores or writes anything."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from search_spaces import get_space
from tenas.benchmark import BENCHMARK_SPACE, check_benchmark
from tenas.data import BENCHMARK_DATASETS, search_dataset
from tenas.data.settings import check_dataset
from tenas.errors import TenasError
from tenas.ranking import AGGREGATIONS, Ranking, ranking_from_config
from tenas.protocols import load_recipes
from tenas.schema import ABSENT, COMMON, Setting, check_device, check_known_keys, check_strategy, check_table, lookup
from tenas.arch_scorer import ScoringPlan, build_plan
from tenas.cli import resolve_device

log = logging.getLogger("tenas.evaluate")


#: A study's ranking, when it names one (``ranking=...``).
RANKING = (
    Setting("ranking.name", "str"),
    Setting("ranking.proxies", "names", hint="registered proxies"),
    Setting("ranking.aggregation", "str", choices=AGGREGATIONS, required=False),
)
STUDY = COMMON + (
    Setting("study.num_archs", "int", 1, hint="architectures sampled; 15625 = all of NAS-Bench-201"),
    Setting("study.proxies", "names", hint="registered proxies"),
    Setting("study.repeats", "int", 1),
    Setting("study.num_shards", "int", 1, required=False),
    Setting("study.shard", "int", 0, required=False, hint="0 <= shard < study.num_shards"),
    Setting("study.merge", "bool", required=False),
    Setting("compute.workers", "int", 1, hint="processes scoring in parallel"),
    Setting("compute.threads", "int", 1, null=True, hint="torch threads per process; null = torch's threads // compute.workers"),
    Setting("benchmark.path", "path", hint="required: a study needs ground truth, a NAS-Bench-201 .pth file or CSV table"),
    Setting("benchmark.dataset", "str", choices=tuple(BENCHMARK_DATASETS), null=True, required=False, hint="null = the dataset's own"),
    Setting("dataset.name", "str"),
)


def study_recipes(cfg: DictConfig) -> tuple:
    """The protocol of each proxy of the study (``study.proxies``, then the ranking's that it does not name):
    ``conf/proxy/<name>.yaml``, then the ranking's ``ranking.proxy.<name>`` (with ``ranking=NAME``), then the
    run's ``proxy.<name>``; checked by the protocol tables (:func:`tenas.protocols.load_recipes`)."""
    ranking = lookup(cfg, "ranking")
    names = list(lookup(cfg, "study.proxies"))
    if ranking not in (None, ABSENT):
        check_table(cfg, RANKING)
        names += [p for p in lookup(cfg, "ranking.proxies") if p not in names]
    key = "study.proxies" if ranking in (None, ABSENT) else "study.proxies/ranking.proxies"
    return tuple(load_recipes(list(dict.fromkeys(names)), key, {
        "ranking.proxy": lookup(cfg, "ranking.proxy") if isinstance(ranking, dict) else ABSENT, "proxy": lookup(cfg, "proxy"),
    }))


@dataclass
class PreparedStudy:
    """A study's objects, built from its config by :func:`prepare_study` (building them is checking them)."""

    recipes: tuple
    ranking: Ranking | None  # ranking=NAME, scored beside the proxies
    bench: Any  # the ground truth (benchmark.path)
    dataset: Any  # the inputs, for the benchmark dataset ``target``
    target: str
    plan: ScoringPlan  # the recipes checked on their networks, the inputs drawn


def prepare_study(cfg: DictConfig) -> PreparedStudy:
    """Everything ``tenas.evaluate`` reads, checked by building what the study runs with (the recipes, the
    ranking, the benchmark, the dataset, each proxy's network), before it scores or writes anything."""
    check_table(cfg, STUDY)
    for section in ("study", "compute", "benchmark"):
        check_known_keys(cfg, section, "evaluate")
    shards = lookup(cfg, "study.num_shards")
    if isinstance(shards, int) and lookup(cfg, "study.shard") not in (ABSENT,) and lookup(cfg, "study.shard") >= shards:
        raise TenasError(f"study.shard: got {lookup(cfg, 'study.shard')}; allowed: 0 to {shards - 1} (study.num_shards={shards})")
    check_device(cfg)
    check_strategy(cfg)
    recipes = study_recipes(cfg)
    ranking = None
    if lookup(cfg, "ranking") not in (None, ABSENT):
        try:
            ranking = ranking_from_config(cfg.ranking)
        except ValueError as err:
            raise TenasError(f"ranking: {err}") from None
    bench = check_benchmark(lookup(cfg, "benchmark.path"))
    dataset, target, note = search_dataset(cfg, get_space(BENCHMARK_SPACE), check_dataset(cfg))
    if note:
        log.warning("%s", note)
    plan = build_plan(int(cfg.seed), int(cfg.study.repeats), recipes, get_space(BENCHMARK_SPACE), dataset, resolve_device(str(cfg.device)))
    return PreparedStudy(recipes, ranking, bench, dataset, target, plan)
