"""What an architecture costs to deploy, and searches under limits on it (``search.limits``).

A cost is a registered, lower-is-cheaper measure of the network that would be deployed, the space's
``network(genotype, num_classes)`` (NAS-Bench-201's C=16, N=5 benchmark network; DARTS's retraining
network), for the dataset searched for (its classes and input resolution):

- ``params``: millions of trainable parameters;
- ``flops``: millions of multiply-adds of one input (:func:`tenas.complexity.count_flops`);
- ``latency_ms``: the median wall milliseconds of ``search.latency.repeats`` forwards of a batch of
  ``search.latency.batch`` inputs, after ``search.latency.warmup`` untimed ones, in eval mode without
  gradients, on the run's device and torch threads (CUDA synchronised around each forward).

:class:`CostModel` measures each cost of an architecture once (a second request of the same
architecture builds and times nothing). :class:`Limits` says whether an architecture is within every
set limit; a limit the space's cheapest architecture (``space.cheapest_path``) exceeds is refused before
any work, and for ``strategy=prune`` so is one that the supernet's cheapest path exceeds (a space that cannot name
its cheapest path, DARTS, takes limits with ``sample`` and ``evolve`` only, and a limit none of 200 random
architectures meets is refused).
"""
from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from search_spaces.base import AliveSet, SearchSpace
from tenas.errors import TenasError
from tenas.schema import Setting, check_table, lookup


@dataclass(frozen=True)
class Cost:
    """A registered cost: ``measure(net, image_shape, device, latency) -> float`` in ``unit``."""

    name: str
    unit: str
    measure: Callable[..., float]


#: name -> :class:`Cost`, filled by :func:`register_cost`.
COSTS: dict[str, Cost] = {}


def register_cost(name: str, unit: str):
    def decorate(measure):
        if name in COSTS:
            raise ValueError(f"cost {name!r} is registered already")
        COSTS[name] = Cost(name, unit, measure)
        return measure

    return decorate


@register_cost("params", "M")
def params(net: nn.Module, image_shape, device, latency: dict) -> float:
    from tenas.complexity import count_parameters

    return count_parameters(net) / 1e6


@register_cost("flops", "M")
def flops(net: nn.Module, image_shape, device, latency: dict) -> float:
    from tenas.complexity import count_flops

    return count_flops(net, tuple(image_shape), device) / 1e6


@register_cost("latency_ms", "ms")
@torch.no_grad()
def latency_ms(net: nn.Module, image_shape, device, latency: dict) -> float:
    device = torch.device(device)
    x = torch.randn(int(latency["batch"]), *image_shape, generator=torch.Generator().manual_seed(0)).to(device)  # not the global RNG
    net.eval()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(int(latency["warmup"])):
        net(x)
    times = []
    for _ in range(int(latency["repeats"])):
        sync()
        t0 = time.perf_counter()
        net(x)
        sync()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


#: ``search.limits.*``, ``search.latency.*``, ``search.objectives`` and ``search.front_pick``.
SETTINGS = (
    Setting("limits.params", "number", 0, open_low=True, null=True, hint="millions of parameters; null = no limit"),
    Setting("limits.flops", "number", 0, open_low=True, null=True, hint="millions of multiply-adds of one input; null = no limit"),
    Setting("limits.latency_ms", "number", 0, open_low=True, null=True, hint="median ms of a forward on this device; null = no limit"),
    Setting("latency.batch", "int", 1, hint="inputs per timed forward"),
    Setting("latency.repeats", "int", 1, hint="timed forwards, the median reported"),
    Setting("latency.warmup", "int", 0, hint="untimed forwards first"),
    Setting("objectives", "names", choices=("merit", *COSTS), hint="merit first, then costs: a Pareto front (sample, evolve)"),
    Setting("front_pick", "str", choices=("knee", "merit", "cheapest"), hint="the front's point returned"),
)


class CostModel:
    """Costs of the architectures of ``space`` for ``num_classes`` classes and ``image_shape`` inputs on
    ``device``, each measured once per architecture; ``measured[name]``: how many times each was."""

    def __init__(self, space: SearchSpace, num_classes: int, image_shape, device="cpu", latency: dict | None = None):
        self.space, self.num_classes, self.image_shape, self.device = space, int(num_classes), tuple(image_shape), device
        self.latency = latency or {"batch": 1, "repeats": 30, "warmup": 5}
        self.cache: dict[tuple[str, str], float] = {}
        self.measured: Counter = Counter()

    def __call__(self, alive: AliveSet, names) -> dict[str, float]:
        text = self.space.arch_text(alive)
        missing = [n for n in names if (text, n) not in self.cache]
        if missing:
            net = self.space.network(self.space.genotype(alive), self.num_classes).to(self.device)
            for name in missing:
                self.cache[text, name] = float(COSTS[name].measure(net, self.image_shape, self.device, self.latency))
                self.measured[name] += 1
        return {n: self.cache[text, n] for n in names}


class Limits:
    """``limits`` (cost name -> its largest allowed value, ``None`` entries dropped) measured by ``model``."""

    def __init__(self, model: CostModel, limits: dict):
        self.model = model
        self.limits = {k: float(v) for k, v in limits.items() if v is not None}

    def __bool__(self) -> bool:
        return bool(self.limits)

    def over(self, alive: AliveSet) -> dict[str, float]:
        """The costs of ``alive`` that exceed their limit."""
        costs = self.model(alive, list(self.limits))
        return {k: v for k, v in costs.items() if v > self.limits[k]}

    def feasible(self, alive: AliveSet) -> bool:
        return not self.over(alive)

    def cheapest(self, alive: AliveSet, name: str) -> tuple[AliveSet, float]:
        """The single path of ``alive`` cheapest by cost ``name`` (``space.cheapest_path``) and that cost."""
        path = self.model.space.cheapest_path(alive, lambda a: self.model(a, [name])[name])
        return path, self.model(path, [name])[name]

    def path_feasible(self, alive: AliveSet) -> bool:
        """Whether, for each limit, the single path of ``alive`` cheapest by that cost is within it (pruning keeps this true)."""
        return all(self.cheapest(alive, name)[1] <= limit for name, limit in self.limits.items())

    def refuse_unreachable(self, alive: AliveSet, what: str) -> None:
        """A one-line error when a limit is below the cost of ``alive``'s path cheapest by it (``what`` that is)."""
        for name, limit in self.limits.items():
            path, value = self.cheapest(alive, name)  # NotImplementedError: the space cannot name it
            if value > limit:
                unit = COSTS[name].unit
                raise TenasError(f"search.limits.{name}: {limit:g} {unit}, but {what} ({self.model.space.arch_text(path)}) "
                                 f"needs {value:.4g} {unit}; allowed: at least {value:.4g}, or null")


def search_limits(cfg, space: SearchSpace, num_classes: int, image_shape, device, start: AliveSet | None) -> tuple[CostModel, Limits]:
    """The run's cost model and limits from ``cfg.search``, refused before any work when the space's
    cheapest architecture (``start``, the supernet a pruning strategy starts from: its cheapest path) exceeds one."""
    from omegaconf import OmegaConf

    search = OmegaConf.to_container(cfg.search, resolve=True)
    model = CostModel(space, num_classes, image_shape, device, search["latency"])
    limits = Limits(model, search["limits"])
    if not limits:
        return model, limits
    try:
        if start is None:
            limits.refuse_unreachable(space.full_alive_set(), f"the cheapest architecture of {space.name}")
        else:
            limits.refuse_unreachable(start, "the supernet's cheapest path")
    except NotImplementedError as err:
        if start is not None:
            raise TenasError(f"search.limits: {err} (strategy=prune)") from None
        refuse_unsampled(space, limits)
    return model, limits


def refuse_unsampled(space: SearchSpace, limits: Limits, draws: int = 200) -> None:
    """For a space that cannot name its cheapest architecture: refuse when none of ``draws`` random ones
    (seeded, not the search's draws) is within every limit."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(draws):
        if limits.feasible(space.random_single_path(generator)):
            return
    raise TenasError(f"search.limits: none of {draws} random architectures of {space.name} is within {limits.limits}; allowed: larger limits, or null")


def check_costs(cfg) -> None:
    """``search.limits``, ``search.latency``, ``search.objectives`` and ``search.front_pick`` (:mod:`tenas.costs`)."""
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
