"""``python -m tenas.search``: the TE-NAS pruning search, configured with Hydra (see ``conf/search.yaml``)."""
from __future__ import annotations

import inspect
import logging
import sys
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from search_spaces import list_spaces, space_class, space_from_config
from tenas import CONF_DIR
from tenas.benchmark import check_benchmark
from tenas.costs import check_costs, search_limits
from tenas.data import BENCHMARK_DATASETS, benchmark_dataset_name, build_dataset, search_dataset
from tenas.cli import main_or_exit, resolve_device, run_or_exit
from tenas.errors import TenasError
from tenas.export import architecture_from_json
from tenas.io import atomic_write_json, atomic_write_text
from tenas.data.settings import check_search_dataset
from tenas.protocols import check_protocol, check_recipe_on, load_recipes
from tenas.ranking import AGGREGATIONS, ranking_from_config
from tenas.schema import ABSENT, COMMON, Setting, check_device, check_known_keys, check_names, check_strategy, check_table, lookup
from tenas.pruning import starting_alive_set
from tenas.resume import search_identity
from tenas.scoring import ProxyIndicator, ScoringRecipe
from tenas.strategies import STRATEGIES, run_strategy, strategy_settings
from tenas.table import ScoreTable, TableIndicator

log = logging.getLogger("tenas.search")


def scoring_recipes(cfg: DictConfig, names) -> list[ScoringRecipe]:
    """Each proxy's protocol: ``conf/proxy/<name>.yaml``, then the ranking's ``ranking.proxy.<name>``,
    the search protocol's ``protocol.proxy.<name>``, the space's ``search_space.proxy.<name>`` and the
    run's ``proxy.<name>``, each changing the one before."""
    sections = [cfg.ranking.get("proxy"), cfg.protocol.get("proxy"), cfg.search_space.get("proxy"), cfg.get("proxy")]
    layers = [OmegaConf.to_container(section, resolve=True) if section else {} for section in sections]
    return [ScoringRecipe.load(name, *(layer.get(name) for layer in layers)) for name in names]


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

def check_scorer(cfg, space, ranking_proxies) -> bool:
    """The ``scorer`` group; for ``table``: a sample/evolve strategy, and a table holding the ranking's proxies
    for every architecture of the space. Returns whether the search reads a table."""
    name = scorer_name(cfg)
    known = sorted(p.stem for p in (CONF_DIR / "scorer").glob("*.yaml"))
    check_names("scorer.name", name, known, "scorer")
    keys = sorted(OmegaConf.load(CONF_DIR / "scorer" / f"{name}.yaml"))
    for key in lookup(cfg, "scorer"):
        if key not in keys:
            raise TenasError(f"scorer.{key}: unknown setting of scorer={name}; known: {keys}")
    if name != "table":
        return False
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
    made_for, target = table.benchmark_dataset(lookup(cfg, "scorer.dataset")), benchmark_dataset_name(lookup(cfg, "benchmark.dataset"), lookup(cfg, "dataset.name"))
    if made_for is not None and made_for != target:
        raise TenasError(f"scorer.path: {table.path} holds scores of {made_for} networks; this search is for {target} "
                         f"(benchmark.dataset); allowed: a table of {target}, or benchmark.dataset={made_for}")
    table.check(ranking_proxies, archs)
    return True

def check_search_config(cfg: DictConfig) -> None:
    """Everything ``tenas.search`` reads, checked before it builds or writes anything: the tables, then the names
    (space, ranking, proxies, strategy, device), the files (dataset, benchmark, score table: each opened and
    parsed) and each proxy's protocol against the network it will score and the dataset."""
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
    recipes = load_recipes(names, "ranking.proxies", {  # the layers of tenas.search.scoring_recipes, in its order
        "ranking.proxy": lookup(cfg, "ranking.proxy"), "protocol.proxy": lookup(cfg, "protocol.proxy"),
        "search_space.proxy": lookup(cfg, "search_space.proxy"), "proxy": lookup(cfg, "proxy"),
    })
    supernet_settings = inspect.signature(space_cls.build_supernet).parameters
    for recipe in recipes:
        for key in recipe.network_options():
            if key not in supernet_settings:
                raise TenasError(f"proxy.{recipe.name}.network.{key}: the {space_name} space's supernet has no {key}; allowed: null")
    bench_path = lookup(cfg, "benchmark.path")
    if bench_path:
        if not space_cls.has_benchmark:
            covered = [name for name in list_spaces() if space_class(name).has_benchmark]
            raise TenasError(f"benchmark.path: NAS-Bench-201 ground truth applies to search_space={'|'.join(covered)} only, not {space_name}; allowed: null")
        check_benchmark(bench_path)
    space = space_from_config(lookup(cfg, "search_space"))
    if check_scorer(cfg, space, names):
        target = lookup(cfg, "benchmark.dataset")
        if target not in (None, ABSENT) and not space_cls.has_benchmark:
            raise TenasError(f"benchmark.dataset: {space_name} has no benchmark to search for; allowed: null")
        return  # a table search builds no network and reads no image
    dataset = check_search_dataset(cfg, space)
    for recipe in recipes:
        try:
            net = space.build_supernet(num_classes=dataset.num_classes, **recipe.network_options())
        except (TypeError, ValueError, RuntimeError) as err:
            raise TenasError(f"proxy.{recipe.name}.network: {' '.join(str(err).split())[:200]}") from None
        check_recipe_on(recipe, net, dataset)


def start_pool(cfg: DictConfig, space, recipes, dataset, device):
    """A :class:`tenas.parallel.ScoringPool` of ``compute.workers`` processes (``null``: the usable cores divided
    by the torch threads, at most the alive-sets of the first round's scoring call), or ``None`` when that is
    one process (or the device is not the CPU). Its workers use the main process's torch threads (``compute.threads``)."""
    from tenas.parallel import ScoringPool, max_alive_sets, resolve_workers

    alive = starting_alive_set(space, cfg.search.prune_none_first)
    if cfg.compute.candidate_batch > 1:  # batched candidates run in one process (check_search_config)
        return None
    workers = resolve_workers(cfg.compute.get("workers"), device, max_alive_sets(alive), torch.get_num_threads())
    if workers < 2:
        return None
    return ScoringPool(recipes, space, dataset.num_classes, workers, torch.get_num_threads())


def run_search(cfg: DictConfig, out_dir: Path) -> dict:
    """Run one search and write its outputs into ``out_dir``; returns the contents of genotype.json."""
    check_search_config(cfg)  # every setting, file and name, before any work or output
    out_dir = Path(out_dir)
    if cfg.compute.get("threads"):
        torch.set_num_threads(int(cfg.compute.threads))
    device = resolve_device(str(cfg.device))
    try:
        ranking = ranking_from_config(cfg.ranking, cfg.protocol)
        recipes = scoring_recipes(cfg, ranking.proxies)
    except ValueError as err:
        raise TenasError(f"ranking: {err}") from None
    space = space_from_config(OmegaConf.to_container(cfg.search_space, resolve=True))
    if scorer_name(cfg) == "table":  # scores looked up (tenas/table.py): no images, no networks
        dataset, target = None, benchmark_dataset_name(cfg.benchmark.get("dataset"), cfg.dataset.name)
        spec = BENCHMARK_DATASETS[target]
        num_classes, image_shape = spec["classes"], (3, spec["size"], spec["size"])
        table = ScoreTable.load(cfg.scorer.path, cfg.scorer.get("dataset"))
        indicators = [TableIndicator(table, name, space) for name in ranking.proxies]
    else:
        dataset, target, note = search_dataset(cfg, space, build_dataset(cfg.dataset))
        if note:
            log.warning("%s", note)
        num_classes, image_shape = dataset.num_classes, dataset.image_shape
        try:
            indicators = [ProxyIndicator(recipe, space, dataset, device, int(cfg.compute.candidate_batch)) for recipe in recipes]
        except (TypeError, ValueError) as err:
            raise TenasError(f"proxy: {err}") from None
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["proxy"] = {recipe.name: recipe.settings for recipe in recipes}
    identity = search_identity(resolved)
    entry, _ = strategy_settings(cfg)
    start = None if entry.table else starting_alive_set(space, cfg.search.prune_none_first)  # the supernet a strategy of supernets prunes
    costs, limits = search_limits(cfg, space, num_classes, image_shape, device, start)  # an unreachable limit refused here
    state = entry.resume(out_dir, identity) if entry.resume else None  # e.g. a partial search of other settings, refused before anything is written
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "config.yaml", OmegaConf.to_yaml(OmegaConf.create(resolved)))
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    log.info("search: %s on %s, ranking=%s, strategy=%s, seed=%d, device=%s", space.name,
             f"{dataset.name} ({len(dataset)} images)" if dataset is not None else f"the score table {cfg.scorer.path}", ranking.name, entry.name, cfg.seed, device)

    pool = start_pool(cfg, space, recipes, dataset, device) if dataset is not None else None
    if pool is not None:
        indicators = [pool.wrap(ind) for ind in indicators]
    progress = Progress()
    try:
        found = run_strategy(cfg, space, indicators, ranking, out_dir, costs, limits, progress, state)  # writes candidates.csv
    finally:
        progress.close()
        if pool is not None:
            pool.close()
    alive = found.alive
    genotype = space.genotype(alive)
    wall = time.perf_counter() - t0 + found.elapsed_before

    result = {
        "search_space": space.name,
        **space.genotype_to_json(genotype),
        "seed": int(cfg.seed),
        "dataset": cfg.dataset.name,
        **({"benchmark_dataset": target} if target else {}),
        "ranking": ranking.name,
        "strategy": entry.name,
        **found.fields,
        "costs": costs(alive, list(dict.fromkeys(["params", "flops", *limits.limits, *(o for o in cfg.search.objectives if o != "merit")]))),
        "wall_time_s": round(wall, 2),
        "indicator_seconds": {ind.name: round(ind.seconds, 2) for ind in indicators},
        "device": str(device),
        **({"scorer": {"table": str(cfg.scorer.path), "protocol": table.protocol}} if dataset is None else {}),
    }
    if cfg.benchmark.get("path"):
        from tenas.benchmark import load_benchmark

        accuracies = load_benchmark(cfg.benchmark.path).test_accuracy(space.genotype_text(genotype))
        result["test_accuracy"] = accuracies[BENCHMARK_DATASETS[target]["benchmark"]]  # the dataset searched for
        result["test_accuracies"] = accuracies
        log.info("%s test accuracy %.2f (%s)", target, result["test_accuracy"], ", ".join(f"{k} {v:.2f}" for k, v in accuracies.items()))
    atomic_write_json(out_dir / "genotype.json", result)
    return result


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
