"""Every setting of ``tenas.search``, ``tenas.evaluate`` and ``tenas.train``, checked before any work and any output file.

The rules are tables of :class:`Setting` (key path, type, range or choices, whether
``null`` is allowed), one table per config section and per option of a group
(``dataset``, ``trainer`` recipes, proxy protocols; a search space's from the settings its
class declares, :func:`space_table`). One function per entry point, called first thing by it:

- :func:`check_search_config` (``tenas.search``),
- :func:`check_study_config` (``tenas.evaluate``),
- :func:`check_train_config` (``tenas.train``),

checks the tables, then what must exist: the names (search space, dataset, ranking,
proxies, strategy, device, recipe), the files (dataset, benchmark, genotype: each opened
and parsed), and each proxy's protocol against the network it will score and the dataset
(:meth:`tenas.scoring.ScoringRecipe.check`). The first problem raises
``TenasError("<setting>: <what is wrong and what is allowed>")``, which the entry
points print as ``error: ...`` (one line, exit code 1).
"""
from __future__ import annotations

import inspect
import re
from typing import Any, Iterable

from omegaconf import DictConfig, OmegaConf

from tenas import CONF_DIR
from tenas.data import BENCHMARK_DATASETS
from tenas.errors import TenasError
from tenas.ranking import AGGREGATIONS
from tenas.schema import ABSENT, Setting, check_table, lookup


def check_known_keys(cfg, section: str, config_name: str) -> None:
    """``section``'s keys must be those of ``conf/<config_name>.yaml`` (a ``+section.typo=...`` is an error)."""
    value = lookup(cfg, section)
    if value is ABSENT:
        raise TenasError(f"{section}: missing section (see conf/{config_name}.yaml)")
    if not isinstance(value, dict):
        raise TenasError(f"{section}: must be a mapping of settings (see conf/{config_name}.yaml)")
    known = OmegaConf.load(CONF_DIR / f"{config_name}.yaml").get(section) or {}
    for key in value:
        if key not in known:
            raise TenasError(f"{section}.{key}: unknown setting; known: {sorted(known)}")


COMMON = (
    Setting("seed", "int", 0),
    Setting("device", "str", hint="auto, cpu, cuda or cuda:N"),
)

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


DATASETS = {
    "cifar10": (Setting("root", "path"), Setting("download", "bool", required=False), Setting("augment", "bool", required=False)),
    "cifar100": (Setting("root", "path"), Setting("download", "bool", required=False), Setting("augment", "bool", required=False)),
    "npz": (
        Setting("path", "path", hint="an .npz with x uint8 N x H x W x C and y integer labels"),
        Setting("test_path", "path", null=True, required=False),
        Setting("num_classes", "int", 1, null=True, required=False, hint="null = max label + 1"),
        Setting("augment", "bool", required=False),
    ),
    "synthetic": (
        Setting("num_samples", "int", 1),
        Setting("image_size", "int", 1, 1024),
        Setting("channels", "int", choices=(1, 3)),
        Setting("num_classes", "int", 1),
        Setting("seed", "int", 0, required=False),
        Setting("augment", "bool", required=False),
    ),
    "imagenet": (
        Setting("root", "path"),
        Setting("image_size", "int", 1, 1024),
        Setting("workers", "int", 1, hint="threads decoding the images of one batch"),
        Setting("augment", "bool", required=False),
    ),
    "imagenet16_120": (
        Setting("root", "path"),
        Setting("num_classes", "int", 1, 1000),
        Setting("augment", "bool", required=False),
    ),
}
#: The setting that names a dataset's files (what a load error is reported against).
DATASET_FILES = {"npz": "path", "cifar10": "root", "cifar100": "root", "imagenet": "root", "imagenet16_120": "root"}

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

#: A proxy protocol's network (checked before the network is built); its ``init``, ``inputs`` and ``options``
#: are checked against the network and the dataset by :meth:`tenas.scoring.ScoringRecipe.check`.
PROTOCOL = (
    Setting("network.C", "int", 1, null=True, hint="null = the search space's width"),
    Setting("network.N", "int", 1, null=True, hint="null = the search space's cells per stage"),
    Setting("network.stem", "bool"),
)
#: Keyword options of proxies whose function takes ``**options`` (so no signature tells what is allowed).
PROXY_OPTIONS = {
    "ntk": (
        Setting("chunk_size", "int", 1, null=True, required=False, hint="cotangents per batched backward; null = all at once"),
        Setting("fallback", "number", required=False),
        Setting("train", "bool", required=False),
    ),
}

TRAIN = COMMON + (
    Setting("genotype", "path", hint="genotype=PATH is required: a search's genotype.json (or a file holding a DARTS Genotype(...) or NB201 string)"),
    Setting("recipe", "str"),
    Setting("resume", "bool"),
    Setting("dataset.name", "str"),
    Setting("trainer.epochs", "int", 1, null=True),
    Setting("trainer.batch_size", "int", 1, null=True),
    Setting("trainer.lr", "number", 0, open_low=True, null=True),
    Setting("trainer.weight_decay", "number", 0, null=True),
    Setting("trainer.cutout", "int", 0, null=True),
    Setting("trainer.drop_path", "number", 0, 1, open_high=True, null=True),
    Setting("trainer.auxiliary_weight", "number", 0, null=True),
    Setting("trainer.max_steps", "int", 1, null=True),
    Setting("trainer.checkpoint_every", "int", 1),
    Setting("trainer.eval_batch_size", "int", 1),
    Setting("trainer.progress", "bool"),
)
RECIPE = (
    Setting("epochs", "int", 1),
    Setting("batch_size", "int", 1),
    Setting("lr", "number", 0, open_low=True),
    Setting("momentum", "number", 0, 1, open_high=True),
    Setting("nesterov", "bool"),
    Setting("weight_decay", "number", 0),
    Setting("grad_clip", "number", 0, open_low=True, null=True),
    Setting("cutout", "int", 0),
    Setting("drop_path", "number", 0, 1, open_high=True),
    Setting("auxiliary_weight", "number", 0),
    Setting("label_smoothing", "number", 0, 1, open_high=True),
    Setting("network.C", "int", 1),
    Setting("network.N", "int", 1, required=False),
    Setting("network.layers", "int", 1, required=False),
    Setting("network.imagenet", "bool", required=False),
)


# ----------------------------------------------------------------------------- names that must exist
_CUDA = re.compile(r"cuda(:(\d+))?")


def check_device(cfg) -> None:
    import torch

    name = lookup(cfg, "device")
    allowed = "auto, cpu, cuda or cuda:N"
    if name in ("auto", "cpu"):
        return
    match = _CUDA.fullmatch(name)
    if not match:
        raise TenasError(f"device: {name!r} is not a device; allowed: {allowed}")
    if not torch.cuda.is_available():
        raise TenasError(f"device: {name} requested but CUDA is not available; allowed here: auto or cpu")
    if match.group(2) is not None and int(match.group(2)) >= torch.cuda.device_count():
        raise TenasError(f"device: {name}: this machine has {torch.cuda.device_count()} CUDA device(s); allowed: cuda:0 to cuda:{torch.cuda.device_count() - 1}")


def check_strategy(cfg) -> None:
    """``strategy`` (a group some configs have): a registered strategy (:mod:`tenas.strategies`) and its settings."""
    if "strategy" not in cfg or cfg.get("strategy") is None:
        return
    from tenas.strategies import STRATEGIES

    value = lookup(cfg, "strategy")
    name = value.get("name") if isinstance(value, dict) else value
    key = "strategy.name" if isinstance(value, dict) else "strategy"
    if not isinstance(name, str) or name not in STRATEGIES:
        raise TenasError(f"{key}: {name!r} is not a strategy; known: {sorted(STRATEGIES)}")
    if not isinstance(value, dict):
        raise TenasError("strategy: must be a mapping of settings; allowed: strategy=<name> with strategy.<setting>=<value>")
    STRATEGIES[name].validate(value)


def check_costs(cfg) -> None:
    """``search.limits``, ``search.latency``, ``search.objectives`` and ``search.front_pick`` (:mod:`tenas.costs`)."""
    from tenas.costs import SETTINGS

    for section in ("limits", "latency"):
        value = lookup(cfg, f"search.{section}")
        if not isinstance(value, dict):
            raise TenasError(f"search.{section}: must be a mapping of settings (see conf/search.yaml)")
        known = sorted(s.key.split(".", 1)[1] for s in SETTINGS if s.key.startswith(section + "."))
        for key in value:
            if key not in known:
                raise TenasError(f"search.{section}.{key}: unknown setting; known: {known}")
    check_table(cfg, SETTINGS, prefix="search.")
    objectives = lookup(cfg, "search.objectives")
    if objectives[0] != "merit" or len(set(objectives)) != len(objectives):
        raise TenasError(f"search.objectives: got {objectives}; allowed: merit first, then distinct costs, e.g. [merit,flops]")
    from tenas.strategies import STRATEGIES

    strategy = lookup(cfg, "strategy.name")
    if len(objectives) > 1 and not STRATEGIES[strategy].table:
        whole = "|".join(sorted(n for n, e in STRATEGIES.items() if e.table))
        raise TenasError(f"search.objectives: {objectives} needs a strategy that scores whole architectures; allowed: [merit] with "
                         f"strategy={strategy}, or strategy={whole}")


def check_names(key: str, value: str, known: Iterable[str], what: str) -> None:
    known = sorted(known)
    if value not in known:
        raise TenasError(f"{key}: unknown {what} {value!r}; known: {known}")


def check_schedule(where: str, value) -> None:
    """A proxy's draw ``schedule`` (``tenas.pruning.score_candidates``): ``weights`` and ``inputs`` of the known kinds."""
    from tenas.pruning import INPUT_SCHEDULES, WEIGHT_SCHEDULES

    allowed = {"weights": WEIGHT_SCHEDULES, "inputs": INPUT_SCHEDULES}
    if not isinstance(value, dict):
        raise TenasError(f"{where}: must be a mapping with keys {sorted(allowed)}")
    for key, choice in value.items():
        if key not in allowed:
            raise TenasError(f"{where}.{key}: unknown setting; known: {sorted(allowed)}")
        if choice not in allowed[key]:
            raise TenasError(f"{where}.{key}: got {choice!r}; allowed: {list(allowed[key])}")


def check_protocol(cfg) -> None:
    """The search protocol's own settings (``conf/protocol/``): Δ rounding, rank digits and tie rule."""
    from tenas.ranking import TIE_RULES

    decimals, digits, ties = (lookup(cfg, f"protocol.{k}") for k in ("delta_decimals", "rank_significant_digits", "rank_ties"))
    if decimals not in (None, ABSENT) and (isinstance(decimals, bool) or not isinstance(decimals, int) or decimals < 0):
        raise TenasError(f"protocol.delta_decimals: got {decimals!r}; allowed: null or an integer >= 0")
    if digits is not ABSENT and (isinstance(digits, bool) or not isinstance(digits, int) or digits < 1):
        raise TenasError(f"protocol.rank_significant_digits: got {digits!r}; allowed: an integer >= 1")
    if ties is not ABSENT and ties not in TIE_RULES:
        raise TenasError(f"protocol.rank_ties: got {ties!r}; allowed: {list(TIE_RULES)}")


def check_proxy_layers(layers: dict[str, Any]) -> None:
    """Each protocol change (``proxy.<name>``, ``ranking.proxy.<name>``, ...) names a registered proxy and known keys."""
    from tenas.proxies import BASE_SETTINGS, PROXIES, list_proxies

    for where, layer in layers.items():
        if layer in (None, ABSENT):
            continue
        if not isinstance(layer, dict):
            raise TenasError(f"{where}: must be a mapping proxy name -> protocol changes")
        for name, change in layer.items():
            if name not in PROXIES:
                raise TenasError(f"{where}.{name}: unknown proxy {name!r}; known: {list_proxies()}")
            if change is None:
                continue
            if not isinstance(change, dict):
                raise TenasError(f"{where}.{name}: must be a mapping of protocol settings ({sorted(BASE_SETTINGS)})")
            for section, value in change.items():
                if section == "schedule":
                    check_schedule(f"{where}.{name}.schedule", value)
                    continue
                if section not in BASE_SETTINGS:
                    raise TenasError(f"{where}.{name}.{section}: unknown protocol setting; known: {sorted([*BASE_SETTINGS, 'schedule'])}")
                base = BASE_SETTINGS[section]
                if isinstance(base, dict) and section != "options":
                    if not isinstance(value, dict):
                        raise TenasError(f"{where}.{name}.{section}: must be a mapping with keys {sorted(base)}")
                    for key in value:
                        if key not in base:
                            raise TenasError(f"{where}.{name}.{section}.{key}: unknown setting; known: {sorted(base)}")


def load_recipes(names: list[str], key: str, layers: dict[str, Any]) -> list:
    """The :class:`ScoringRecipe` of each proxy of ``names`` (reported against ``key``), its protocol checked by the tables."""
    from tenas.proxies import PROXIES, list_proxies
    from tenas.scoring import ScoringRecipe

    check_proxy_layers(layers)
    recipes = []
    for name in names:
        if name not in PROXIES:
            raise TenasError(f"{key}: unknown proxy {name!r}; known: {list_proxies()}")
        try:
            recipe = ScoringRecipe.load(name, *((layer or {}).get(name) for layer in layers.values() if layer is not ABSENT))
        except Exception as err:
            raise TenasError(f"proxy.{name}: {' '.join(str(err).split())[:200]}") from None
        for setting in PROTOCOL:
            setting.check(lookup(recipe.settings, setting.key), f"proxy.{name}.{setting.key}")
        options = recipe.settings["options"]
        if not isinstance(options, dict):
            raise TenasError(f"proxy.{name}.options: must be a mapping of keyword options")
        signature = inspect.signature(recipe.proxy.fn)
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        if not takes_any:  # options follow (pass_) for a shared-pass proxy, (model, inputs) for the others
            given = list(signature.parameters.items())[1 if recipe.proxy.needs else 2:]
            accepted = sorted(p for p, v in given if v.kind in (v.KEYWORD_ONLY, v.POSITIONAL_OR_KEYWORD) and p != "targets")
            for option in options:
                if option not in accepted:
                    raise TenasError(f"proxy.{name}.options.{option}: unknown option of {name}; known: {accepted}")
        for setting in PROXY_OPTIONS.get(name, ()):
            setting.check(options.get(setting.key, ABSENT), f"proxy.{name}.options.{setting.key}")
        recipes.append(recipe)
    return recipes


def check_recipe_on(recipe, net, dataset) -> None:
    try:
        recipe.check(net, dataset)
    except ValueError as err:
        message = str(err)
        raise TenasError(message if message.startswith("proxy.") else f"proxy.{recipe.name}: {message}") from None


# ----------------------------------------------------------------------------- files that must exist and parse
def check_dataset(cfg, split: str = "train"):
    """The dataset section's table, then the dataset built (files opened and their contents checked)."""
    from tenas.data import build_dataset

    name = lookup(cfg, "dataset.name")
    check_names("dataset.name", name, DATASETS, "dataset")
    check_table(cfg, DATASETS[name], prefix="dataset.")
    key = "dataset." + ("test_path" if split == "test" else DATASET_FILES.get(name, "name"))
    if name == "synthetic":
        key = "dataset"
    try:
        return build_dataset(cfg.dataset, split=split)
    except TenasError as err:
        raise TenasError(f"{key}: {err}") from None


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
    from tenas.strategies import STRATEGIES

    strategy = lookup(cfg, "strategy.name")
    if not STRATEGIES[strategy].table:
        served = [name for name, entry in STRATEGIES.items() if entry.table]
        raise TenasError(f"scorer.name: a score table serves the strategies that score whole architectures ({', '.join(served)}), not {strategy!r} "
                         "(pruning scores supernets, which no table holds); allowed: compute")
    Setting("scorer.path", "path").check(lookup(cfg, "scorer.path"))
    Setting("scorer.dataset", "str", null=True, required=False).check(lookup(cfg, "scorer.dataset"))
    from tenas.table import ScoreTable

    try:
        archs = space.all_archs()
    except NotImplementedError as err:
        raise TenasError(f"scorer.name: {err}") from None
    from tenas.data import benchmark_dataset_name

    table = ScoreTable.load(lookup(cfg, "scorer.path"), lookup(cfg, "scorer.dataset") or None)
    made_for, target = table.benchmark_dataset(lookup(cfg, "scorer.dataset")), benchmark_dataset_name(lookup(cfg, "benchmark.dataset"), lookup(cfg, "dataset.name"))
    if made_for is not None and made_for != target:
        raise TenasError(f"scorer.path: {table.path} holds scores of {made_for} networks; this search is for {target} "
                         f"(benchmark.dataset); allowed: a table of {target}, or benchmark.dataset={made_for}")
    table.check(ranking_proxies, archs)
    return True


def check_search_dataset(cfg, space):
    """The dataset built and turned into the inputs of a search for ``benchmark.dataset`` (a mismatch refused)."""
    from tenas.data import search_dataset

    return search_dataset(cfg, space, check_dataset(cfg))[0]


def check_benchmark(path: str):
    from tenas.benchmark import load_benchmark

    try:
        return load_benchmark(path)
    except TenasError as err:
        raise TenasError(f"benchmark.path: {err}") from None
    except Exception as err:  # a reader's own failure on a file it does not understand
        raise TenasError(f"benchmark.path: {path}: cannot be read as a benchmark ({type(err).__name__}: {' '.join(str(err).split())[:160]})") from None


# ----------------------------------------------------------------------------- entry points
def check_search_config(cfg: DictConfig) -> None:
    """Everything ``tenas.search`` reads, checked before it builds or writes anything (see the module docstring)."""
    from search_spaces import list_spaces, space_class, space_from_config

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


def check_study_config(cfg: DictConfig) -> None:
    """Everything ``tenas.evaluate`` reads, checked before it scores or writes anything."""
    from tenas.study.scoring import study_network

    check_table(cfg, STUDY)
    for section in ("study", "compute", "benchmark"):
        check_known_keys(cfg, section, "evaluate")
    shards = lookup(cfg, "study.num_shards")
    if isinstance(shards, int) and lookup(cfg, "study.shard") not in (ABSENT,) and lookup(cfg, "study.shard") >= shards:
        raise TenasError(f"study.shard: got {lookup(cfg, 'study.shard')}; allowed: 0 to {shards - 1} (study.num_shards={shards})")
    check_device(cfg)
    check_strategy(cfg)
    ranking = lookup(cfg, "ranking")
    names = list(lookup(cfg, "study.proxies"))
    if ranking not in (None, ABSENT):
        check_table(cfg, [s for s in SEARCH if s.key.startswith("ranking.")])
        names += [p for p in lookup(cfg, "ranking.proxies") if p not in names]
    key = "study.proxies" if ranking in (None, ABSENT) else "study.proxies/ranking.proxies"
    recipes = load_recipes(list(dict.fromkeys(names)), key, {
        "ranking.proxy": lookup(cfg, "ranking.proxy") if isinstance(ranking, dict) else ABSENT, "proxy": lookup(cfg, "proxy"),
    })
    check_benchmark(lookup(cfg, "benchmark.path"))
    from search_spaces.nasbench201 import NASBench201Space

    dataset = check_search_dataset(cfg, NASBench201Space())
    for recipe in recipes:
        try:
            net = study_network(recipe, dataset.num_classes)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TenasError(f"proxy.{recipe.name}.network: {' '.join(str(err).split())[:200]}") from None
        check_recipe_on(recipe, net, dataset)


def check_train_config(cfg: DictConfig) -> None:
    """Everything ``tenas.train`` reads, checked before it trains or writes anything."""
    from tenas.export import read_genotype_file, resolve_recipe

    check_table(cfg, TRAIN)
    check_known_keys(cfg, "trainer", "train")
    check_device(cfg)
    check_strategy(cfg)
    recipes = lookup(cfg, "recipes")
    if not isinstance(recipes, dict) or not recipes:
        raise TenasError("recipes: must be a mapping of named training recipes (see conf/train.yaml)")
    for name in recipes:
        check_table(cfg, RECIPE, prefix=f"recipes.{name}.")
    recipe_name = lookup(cfg, "recipe")
    if recipe_name != "auto":
        check_names("recipe", recipe_name, list(recipes) + ["auto"], "recipe")
    try:
        arch = read_genotype_file(lookup(cfg, "genotype"))
    except TenasError as err:
        raise TenasError(f"genotype: {err}") from None
    try:
        resolve_recipe(cfg, arch)
    except TenasError as err:
        raise TenasError(f"recipe: {err}") from None
    check_dataset(cfg, "train")
    if cfg.dataset.name != "npz" or cfg.dataset.get("test_path"):
        check_dataset(cfg, "test")
