"""``python -m tenas.search``: the TE-NAS pruning search, configured with Hydra (see ``conf/search.yaml``)."""
from __future__ import annotations

import inspect
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from search_spaces import list_spaces, space_class, space_from_config
from tenas import CONF_DIR
from tenas.benchmark import check_benchmark
from tenas.costs import check_costs, search_limits
from tenas.data import BENCHMARK_DATASETS, search_dataset, search_target
from tenas.cli import main_or_exit, resolve_device, run_or_exit
from tenas.errors import TenasError
from tenas.export import architecture_from_json
from tenas.io import atomic_write_json
from tenas.data.settings import check_dataset
from tenas.arch_scorer import ScoringPlan, build_plan
from tenas.protocols import check_protocol, check_recipe_on, load_recipes
from tenas.ranking import AGGREGATIONS, Ranking, ranking_from_config
from tenas.schema import ABSENT, COMMON, Setting, check_device, check_known_keys, check_names, check_strategy, check_table, lookup
from tenas.pruning import starting_alive_set
from tenas.run_folder import RunFolder
from tenas.scoring import ProxyIndicator, ScoringRecipe
from tenas.strategies import STRATEGIES, Strategy, run_strategy, strategy_settings
from tenas.table import ScoreTable, TableScorer

log = logging.getLogger("tenas.search")


def search_recipes(cfg: DictConfig, names) -> list[ScoringRecipe]:
    """Each proxy's protocol: ``conf/proxy/<name>.yaml``, then the ranking's ``ranking.proxy.<name>``, the search
    protocol's ``protocol.proxy.<name>``, the space's ``search_space.proxy.<name>`` and the run's ``proxy.<name>``,
    each changing the one before; checked by the protocol tables (:func:`tenas.protocols.load_recipes`)."""
    return load_recipes(list(names), "ranking.proxies", {
        "ranking.proxy": lookup(cfg, "ranking.proxy"), "protocol.proxy": lookup(cfg, "protocol.proxy"),
        "search_space.proxy": lookup(cfg, "search_space.proxy"), "proxy": lookup(cfg, "proxy"),
    })


class Progress:
    """One status line on a terminal (a tqdm bar with the elapsed time); a log line per repeat otherwise."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.bar = tqdm(total=0, bar_format="[{elapsed}] {desc}", file=sys.stderr, dynamic_ncols=True) if sys.stderr.isatty() else None
        self.last = None

    def __call__(self, message: str) -> None:
        if self.bar is not None:
            self.bar.set_description_str(message)
            return
        head = message.split(" candidate")[0]
        if head != self.last:
            log.info("[%7.1fs] %s", time.perf_counter() - self.t0, message)
            self.last = head

    def close(self):
        if self.bar is not None:
            self.bar.close()


SEARCH = COMMON + (
    Setting("search.repeats", "int", 1),
    Setting("search.prune_none_first", "bool"),
    Setting("compute.threads", "int", 1, null=True, hint="torch threads per process; null = torch's default"),
    Setting("compute.workers", "int", 1, null=True, hint="processes scoring candidates in parallel; null = the usable cores // compute.threads"),
    Setting("compute.candidate_batch", "int", 1, hint="alive-sets scored per batched computation; 1 = one at a time"),
    Setting("benchmark.path", "path", null=True),
    Setting("benchmark.dataset", "str", choices=tuple(BENCHMARK_DATASETS), null=True, required=False, hint="null = the dataset's own"),
    Setting("search_space.name", "str"),
    Setting("dataset.name", "str"),
    Setting("ranking.name", "str"),
    Setting("ranking.proxies", "names", hint="registered proxies"),
    Setting("ranking.aggregation", "str", choices=AGGREGATIONS, required=False),
)

def space_table(space_class) -> tuple[Setting, ...]:
    """The ``search_space`` section of a search on ``space_class`` besides ``name`` and ``proxy`` (checked
    with the other protocol changes): the settings the space is built from (its ``settings``), then the search's."""
    ops = sum(op != "none" for op in space_class.op_names)
    return tuple(Setting(key, **spec) for key, spec in space_class.settings.items()) + (
        Setting("ops_per_edge", "int", 1, ops, required=False, hint=f"ops pruned per edge per round; {ops} ops besides none"),
        Setting("reference_ntk_batch_size", "int", 1, required=False, hint="the NTK batch of protocol=reference"),
    )


def scorer_name(cfg) -> str:
    """``scorer.name`` (``compute`` when the config has no scorer group)."""
    value = lookup(cfg, "scorer.name")
    return "compute" if value is ABSENT else value

def check_scorer(cfg, space, ranking_proxies) -> ScoreTable | None:
    """The ``scorer`` group; for ``table``: a sample/evolve strategy, and a table holding the ranking's proxies
    for every architecture of the space. Returns the table the search reads (``None``: it computes scores)."""
    name = scorer_name(cfg)
    known = sorted(p.stem for p in (CONF_DIR / "scorer").glob("*.yaml"))
    check_names("scorer.name", name, known, "scorer")
    keys = sorted(OmegaConf.load(CONF_DIR / "scorer" / f"{name}.yaml"))
    for key in lookup(cfg, "scorer"):
        if key not in keys:
            raise TenasError(f"scorer.{key}: unknown setting of scorer={name}; known: {keys}")
    if name != "table":
        return None
    strategy = lookup(cfg, "strategy.name")
    if not STRATEGIES[strategy].table:
        served = [name for name, entry in STRATEGIES.items() if entry.table]
        raise TenasError(f"scorer.name: a score table serves the strategies that score whole architectures ({', '.join(served)}), not {strategy!r} "
                         "(pruning scores supernets, which no table holds); allowed: compute")
    Setting("scorer.path", "path").check(lookup(cfg, "scorer.path"))
    Setting("scorer.dataset", "str", null=True, required=False).check(lookup(cfg, "scorer.dataset"))
    try:
        archs = space.all_archs()
    except NotImplementedError as err:
        raise TenasError(f"scorer.name: {err}") from None
    table = ScoreTable.load(lookup(cfg, "scorer.path"), lookup(cfg, "scorer.dataset") or None)
    made_for, target = table.benchmark_dataset(lookup(cfg, "scorer.dataset")), search_target(cfg, space)
    if made_for is not None and made_for != target:
        raise TenasError(f"scorer.path: {table.path} holds scores of {made_for} networks; this search is for {target} "
                         f"(benchmark.dataset); allowed: a table of {target}, or benchmark.dataset={made_for}")
    table.check(ranking_proxies, archs)
    return table

@dataclass
class PreparedSearch:
    """A search's objects, built from its config by :func:`prepare_search` (building them is checking them)."""

    space: Any
    ranking: Ranking
    recipes: list[ScoringRecipe]
    strategy: Strategy
    indicators: list  # a strategy of supernets (prune): a ProxyIndicator per proxy
    plan: ScoringPlan | None  # a strategy of whole architectures scoring live (tenas.arch_scorer)
    table: ScoreTable | None  # ... or on a score table (scorer=table)
    dataset: Any  # the search's inputs (None for scorer=table)
    target: str | None  # the benchmark dataset searched for (None: a space without a benchmark)
    bench: Any  # the ground truth (benchmark.path), None without one
    device: torch.device
    costs: Any  # tenas.costs.CostModel
    limits: Any  # tenas.costs.Limits
    start: Any  # the alive-set a strategy of supernets starts from (None for whole architectures)


def prepare_search(cfg: DictConfig) -> PreparedSearch:
    """Every setting, name and file ``tenas.search`` reads, checked by building what the search runs with: the
    tables, the names (space, ranking, proxies, strategy, device), the benchmark and score table (each file
    opened and parsed), the dataset, each proxy's supernet and protocol against it, the cost limits. The first
    bad value is refused with one line (:class:`TenasError`) before anything is written."""
    check_table(cfg, SEARCH)
    for section in ("search", "compute", "benchmark"):
        check_known_keys(cfg, section, "search")
    check_device(cfg)
    check_strategy(cfg)
    check_costs(cfg)
    if lookup(cfg, "compute.candidate_batch") > 1 and (lookup(cfg, "compute.workers") or 1) > 1:
        raise TenasError("compute.candidate_batch: batched candidates are scored in one process; "
                         "set compute.workers=1 (or null) with it")
    space_name = lookup(cfg, "search_space.name")
    check_names("search_space.name", space_name, list_spaces(), "search space")
    space_cls = space_class(space_name)
    table = space_table(space_cls)
    known = sorted(["name", "proxy", *(setting.key for setting in table)])
    for key in lookup(cfg, "search_space"):
        if key not in known:
            raise TenasError(f"search_space.{key}: unknown setting of a {space_name} search; known: {known}")
    check_table(cfg, table, prefix="search_space.")
    names = list(dict.fromkeys(lookup(cfg, "ranking.proxies")))
    check_protocol(cfg)
    recipes = search_recipes(cfg, names)
    try:
        ranking = ranking_from_config(cfg.ranking, cfg.protocol)
    except ValueError as err:
        raise TenasError(f"ranking: {err}") from None
    supernet_settings = inspect.signature(space_cls.build_supernet).parameters
    for recipe in recipes:
        for key in recipe.network_options():
            if key not in supernet_settings:
                raise TenasError(f"proxy.{recipe.name}.network.{key}: the {space_name} space's supernet has no {key}; allowed: null")
    bench_path, bench = lookup(cfg, "benchmark.path"), None
    if bench_path:
        if not space_cls.has_benchmark:
            covered = [name for name in list_spaces() if space_class(name).has_benchmark]
            raise TenasError(f"benchmark.path: NAS-Bench-201 ground truth applies to search_space={'|'.join(covered)} only, not {space_name}; allowed: null")
        bench = check_benchmark(bench_path)
    space = space_from_config(OmegaConf.to_container(cfg.search_space, resolve=True))
    if cfg.compute.get("threads"):
        torch.set_num_threads(int(cfg.compute.threads))
    device = resolve_device(str(cfg.device))
    score_table = check_scorer(cfg, space, names)
    strategy, _ = strategy_settings(cfg)
    indicators, plan = [], None
    if score_table is not None:  # scores looked up (tenas/table.py): no images, no networks
        dataset, target = None, search_target(cfg, space)
        spec = BENCHMARK_DATASETS[target]
        num_classes, image_shape = spec["classes"], (3, spec["size"], spec["size"])
    else:
        dataset, target, note = search_dataset(cfg, space, check_dataset(cfg))
        if note:
            log.warning("%s", note)
        num_classes, image_shape = dataset.num_classes, dataset.image_shape
        if strategy.table:  # whole architectures, each its standalone network (tenas/arch_scorer.py)
            plan = build_plan(int(cfg.seed), int(cfg.search.repeats), recipes, space, dataset, device)
        for recipe in recipes if plan is None else ():
            try:
                net = space.build_supernet(num_classes=dataset.num_classes, **recipe.network_options())
            except (TypeError, ValueError, RuntimeError) as err:
                raise TenasError(f"proxy.{recipe.name}.network: {' '.join(str(err).split())[:200]}") from None
            check_recipe_on(recipe, net, dataset)
            indicators.append(ProxyIndicator(recipe, space, dataset, device, int(cfg.compute.candidate_batch), net=net))
    start = None if strategy.table else starting_alive_set(space, cfg.search.prune_none_first)  # the supernet a strategy of supernets prunes
    costs, limits = search_limits(cfg, space, num_classes, image_shape, device, start)  # an unreachable limit refused here
    return PreparedSearch(space, ranking, recipes, strategy, indicators, plan, score_table, dataset, target, bench, device, costs, limits, start)


def search_identity(cfg: DictConfig, run: PreparedSearch) -> tuple[dict, dict]:
    """The resolved config (each proxy's protocol as resolved) and the search's identity (what its run folder
    holds, :mod:`tenas.run_folder`): the resolved config less the device, the compute settings, the benchmark's
    file (read only after the search) and the strategy's settings a rerun may change (``Setting.identity``)."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["proxy"] = {recipe.name: recipe.settings for recipe in run.recipes}
    identity = {k: v for k, v in resolved.items() if k not in ("device", "hydra", "compute")}
    identity["benchmark"] = {k: v for k, v in resolved["benchmark"].items() if k != "path"}
    settings = dict(resolved["strategy"])
    identity["strategy"] = {"name": settings.pop("name"), **run.strategy.identity(settings)}
    return resolved, identity


def start_scorer(cfg: DictConfig, run: PreparedSearch):
    """What the strategy scores with (:attr:`tenas.strategies.StrategyRun.scorer`) and its ``close``. Live scoring
    runs in ``compute.workers`` processes (``null``: the usable cores divided by the torch threads; a strategy of
    supernets: at most the alive-sets of the first round's scoring call), one when that is one (or the device is
    not the CPU); workers use the main process's torch threads (``compute.threads``). Candidates batched
    (``compute.candidate_batch``) are scored in one process; a table needs none."""
    from tenas.arch_scorer import ArchitectureScorer
    from tenas.parallel import max_alive_sets, resolve_workers

    threads = torch.get_num_threads()
    if run.table is not None:
        scorer = TableScorer(run.table, run.ranking.proxies, run.space)
        return scorer, scorer.close
    if run.plan is not None:
        scorer = ArchitectureScorer(run.plan, resolve_workers(cfg.compute.get("workers"), run.device, None, threads), threads)
        return scorer, scorer.close
    workers = 1 if cfg.compute.candidate_batch > 1 else resolve_workers(cfg.compute.get("workers"), run.device, max_alive_sets(run.start), threads)
    if workers < 2:
        return run.indicators, lambda: None
    from tenas.supernet_pool import ParallelIndicator, scoring_pool

    pool = scoring_pool(run.recipes, run.space, run.dataset.num_classes, workers, threads)
    return [ParallelIndicator(ind, pool) for ind in run.indicators], pool.close


def run_search(cfg: DictConfig, out_dir: Path) -> dict:
    """Run one search and write its outputs into ``out_dir``; returns the contents of genotype.json."""
    run = prepare_search(cfg)  # every setting, file and name, before any work or output
    space, ranking, dataset, device = run.space, run.ranking, run.dataset, run.device
    resolved, identity = search_identity(cfg, run)
    folder = RunFolder(out_dir, "search")
    folder.claim(identity, OmegaConf.to_yaml(OmegaConf.create(resolved)))  # a folder of other settings refused
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    log.info("search: %s on %s, ranking=%s, strategy=%s, seed=%d, device=%s", space.name,
             f"{dataset.name} ({len(dataset)} images)" if dataset is not None else f"the score table {cfg.scorer.path}",
             ranking.name, run.strategy.name, cfg.seed, device)

    scorer, close = start_scorer(cfg, run)
    progress = Progress()
    try:
        found = run_strategy(cfg, space, scorer, ranking, folder, run.costs, run.limits, run.bench, progress)  # writes candidates.csv
    finally:
        progress.close()
        close()
    alive = found.alive
    genotype = space.genotype(alive)
    wall = time.perf_counter() - t0 + found.elapsed_before

    target = run.target
    result = {
        "search_space": space.name,
        **space.genotype_to_json(genotype),
        "seed": int(cfg.seed),
        "dataset": cfg.dataset.name,
        **({"benchmark_dataset": target} if target else {}),
        "ranking": ranking.name,
        "strategy": run.strategy.name,
        **found.fields,
        "costs": run.costs(alive, list(dict.fromkeys(["params", "flops", *run.limits.limits, *(o for o in cfg.search.objectives if o != "merit")]))),
        "wall_time_s": round(wall, 2),
        "indicator_seconds": {name: round(t, 2) for name, t in scoring_seconds(scorer).items()},
        "device": str(device),
        **({"scorer": {"table": str(cfg.scorer.path), "protocol": run.table.protocol}} if run.table is not None else {}),
    }
    if run.bench is not None:
        accuracies = run.bench.test_accuracy(space.genotype_text(genotype))
        result["test_accuracy"] = accuracies[BENCHMARK_DATASETS[target]["benchmark"]]  # the dataset searched for
        result["test_accuracies"] = accuracies
        log.info("%s test accuracy %.2f (%s)", target, result["test_accuracy"], ", ".join(f"{k} {v:.2f}" for k, v in accuracies.items()))
    atomic_write_json(folder.path / "genotype.json", result)
    return result


def scoring_seconds(scorer) -> dict[str, float]:
    """The seconds spent scoring: per indicator (a strategy of supernets) or per group of proxies sharing a network
    (whole architectures; a table's lookups: none)."""
    return dict(scorer.seconds) if hasattr(scorer, "seconds") else {ind.name: ind.seconds for ind in scorer}


def report(result: dict) -> str:
    lines = [f"architecture: {architecture_from_json(result).text()}"]
    if "benchmark_dataset" in result and "test_accuracy" in result:
        lines.append(f"  searched for {result['benchmark_dataset']}: test accuracy {result['test_accuracy']:.2f}%")
    for ds, acc in result.get("test_accuracies", {}).items():
        lines.append(f"  {ds} test accuracy: {acc:.2f}%")
    lines.append(f"  search time: {result['wall_time_s']:.1f}s")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="conf", config_name="search")
def main(cfg: DictConfig) -> float | None:
    result, out_dir = run_or_exit(run_search, cfg)
    print(report(result))
    print(f"outputs: {out_dir}")
    return result.get("test_accuracy")


if __name__ == "__main__":
    main_or_exit(main, "search")
