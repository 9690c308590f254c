"""The one scorer of whole architectures: what ``strategy=sample`` and ``strategy=evolve`` score live, and what a
study (``python -m tenas.evaluate``) writes into a score table.

An architecture's score under a proxy is a function of the architecture, the proxy's protocol
(:class:`tenas.scoring.ScoringRecipe`), the run's seed and the repeat, whatever else the run scores and in
whatever order or process: the architecture's standalone network (:meth:`search_spaces.base.SearchSpace.scoring_network`,
the scoring supernet's layout with only its ops) is initialised, per repeat, from :func:`weight_seed` of the
seed, the architecture's number in its space (:meth:`search_spaces.base.SearchSpace.arch_key`; NAS-Bench-201's
own index) and the repeat; its inputs are the run's, drawn once per repeat for every architecture
(:func:`build_plan`). So a search on a score table made with the search's seed finds what the live search
finds, and a table's row is what a live search scores for that architecture.

Proxies are scored in groups that share work (:func:`protocol_groups`): one network per architecture and
``network`` section, one initialisation per repeat and ``init``, one draw of inputs per ``inputs`` section, whose
proxies are scored together sharing their passes (:func:`tenas.proxies.score`). A score is the mean over the
repeats of its finite values (NaN, the worst on every ranking, when none is finite).

:class:`ArchitectureScorer` scores in this process or streams architectures through a
:class:`tenas.parallel.WorkerPool` (``compute.workers``); the scores are the same.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from tenas.errors import TenasError
from tenas.init import initialise
from tenas.protocols import check_recipe_on
from tenas.proxies import score
from tenas.scoring import ScoringRecipe, to_device


def _key(value) -> str:
    return json.dumps(value, sort_keys=True)


def protocol_groups(recipes) -> list[tuple[str, list[tuple[str, list[tuple[str, list[ScoringRecipe]]]]]]]:
    """``recipes`` grouped as they are scored: by network (built once per architecture), then by
    initialisation (drawn once per repeat), then by inputs (drawn once per repeat; the proxies of one
    draw are scored together, sharing their passes: :func:`tenas.proxies.score`). Keys are the
    settings as JSON; groups keep the order in which the recipes first name them."""
    nets: dict = {}
    for recipe in recipes:
        inits = nets.setdefault(_key(recipe.settings["network"]), {})
        draws = inits.setdefault(recipe.settings["init"], {})
        draws.setdefault(_key(recipe.settings["inputs"]), []).append(recipe)
    return [(net, [(init, list(draws.items())) for init, draws in inits.items()]) for net, inits in nets.items()]


def weight_seed(seed: int, key: int, repeat: int) -> int:
    """The seed of the weights of the architecture numbered ``key`` in ``repeat`` (independent streams per triple)."""
    return int(np.random.SeedSequence([int(seed), int(key), int(repeat)]).generate_state(1, dtype=np.uint64)[0] >> 1)


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a (possibly separate) process needs to score architectures; picklable."""

    seed: int
    recipes: tuple[ScoringRecipe, ...]
    repeats: int
    num_classes: int
    inputs: dict  # (network key, inputs key) -> [(inputs, targets) per repeat], on the CPU
    device: str
    space: object  # search_spaces.base.SearchSpace

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.recipes)

    def network(self, recipe: ScoringRecipe, arch: str | None = None) -> torch.nn.Module:
        """The standalone network of ``arch`` (every op when ``None``) that ``recipe`` scores."""
        return self.space.scoring_network(arch, self.num_classes, **recipe.network_options())


def build_plan(seed: int, repeats: int, recipes: Sequence[ScoringRecipe], space, dataset, device) -> ScoringPlan:
    """The plan of a run: each recipe checked on its network (every op) and ``dataset`` (one line,
    :class:`TenasError`), and the shared inputs of every repeat of every draw group (:func:`protocol_groups`;
    one generator seeded by ``seed``, the groups in order), with targets when one of the group's proxies needs them."""
    if int(repeats) < 1:
        raise TenasError(f"repeats: {repeats} is not a positive integer")
    generator = torch.Generator().manual_seed(int(seed))
    plan = ScoringPlan(int(seed), tuple(recipes), int(repeats), dataset.num_classes, {}, str(device), space)
    for net_key, inits in protocol_groups(recipes):
        first = inits[0][1][0][1][0]  # the network's first recipe
        try:
            net = plan.network(first)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TenasError(f"proxy.{first.name}.network: {' '.join(str(err).split())[:200]}") from None
        for _, draws in inits:
            for inputs_key, group in draws:
                for recipe in group:
                    check_recipe_on(recipe, net, dataset)
                if (net_key, inputs_key) in plan.inputs:
                    continue
                drawer = next((r for r in group if r.proxy.needs_targets), group[0])
                plan.inputs[(net_key, inputs_key)] = [drawer.draw(net, dataset, generator) for _ in range(plan.repeats)]
    return plan


def finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN (the worst on any ranking) where none is finite."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    count = finite.sum(0)
    total = np.where(finite, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def score_architecture(plan: ScoringPlan, arch: str) -> dict:
    """One architecture's row: ``arch``, the score of every proxy (see the module docstring), the seconds each group of proxies sharing a network took
    (``seconds_<proxy>+<proxy>...``: building, initialising and scoring it), the seconds in all and the device."""
    t0 = time.perf_counter()
    key = plan.space.arch_key(arch)
    row = {"arch": arch}
    for net_key, inits in protocol_groups(plan.recipes):
        start = time.perf_counter()
        members = [r for _, draws in inits for _, recipes in draws for r in recipes]
        net = plan.network(members[0], arch).to(plan.device)
        values: dict[str, list[float]] = {r.name: [] for r in members}
        for init, draws in inits:
            for r in range(plan.repeats):
                initialise(net, init, torch.Generator().manual_seed(weight_seed(plan.seed, key, r)))
                for inputs_key, recipes in draws:
                    inputs, targets = plan.inputs[(net_key, inputs_key)][r]
                    scores = score(net, to_device(inputs, plan.device), [rc.name for rc in recipes], to_device(targets, plan.device),
                                   {rc.name: rc.settings["options"] for rc in recipes})
                    for name, value in scores.items():
                        values[name].append(value)
        for name, v in values.items():
            row[name] = float(finite_mean(v))
        row["seconds_" + "+".join(values)] = round(time.perf_counter() - start, 4)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    row["device"] = plan.device
    return row


class ArchitectureWorker:
    """A worker's handler (:class:`tenas.parallel.WorkerPool`): answers an architecture's text with its row.
    The plan's proxies are registered in the worker as they are in the main process (a proxy registered by
    the user's own code, outside tenas, included)."""

    def __init__(self, plan: ScoringPlan):
        from tenas.proxies import PROXIES

        for recipe in plan.recipes:
            PROXIES.setdefault(recipe.name, recipe.proxy)
        self.plan, self.where = plan, "no architecture yet"

    def __call__(self, arch: str) -> dict:
        self.where = f"architecture {self.plan.space.arch_key(arch)} ({arch})"
        return score_architecture(self.plan, arch)


class ArchitectureScorer:
    """Scores architectures by :func:`score_architecture` of ``plan``, in this process (``workers=1``) or in
    ``workers`` spawned processes of ``threads`` torch threads each. ``seconds``: the scoring seconds of each
    group of proxies sharing a network, summed over the architectures. Close it (or use it as a context
    manager) to stop its workers."""

    durable = True  # rows are worth forcing to disk: each cost a network's scoring

    def __init__(self, plan: ScoringPlan, workers: int = 1, threads: int | None = None):
        from tenas.parallel import WorkerPool

        self.plan, self.count, self.seconds = plan, 0, {}
        self.pool = WorkerPool(workers, ArchitectureWorker, (plan,), threads) if workers > 1 else None

    @property
    def names(self) -> list[str]:
        return list(self.plan.proxies)

    @property
    def repeats(self) -> int:
        return self.plan.repeats

    def stream(self, archs: Iterable[str]) -> Iterator[dict]:
        """The rows of ``archs``, as they finish (in order in one process)."""
        rows = (score_architecture(self.plan, a) for a in archs) if self.pool is None else self.pool.imap_unordered(archs)
        for row in rows:
            self.count += 1
            for column, value in row.items():
                if column.startswith("seconds_"):
                    self.seconds[column[len("seconds_"):]] = self.seconds.get(column[len("seconds_"):], 0.0) + value
            yield row

    def __call__(self, alive_sets) -> list[dict[str, float]]:
        """The scores of each single-path alive-set (``{proxy: score}``), in order."""
        texts = [self.plan.space.arch_text(alive) for alive in alive_sets]
        rows = {row["arch"]: row for row in self.stream(dict.fromkeys(texts))}
        return [{p: rows[t][p] for p in self.names} for t in texts]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()

    def __enter__(self) -> "ArchitectureScorer":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False
