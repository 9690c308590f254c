"""Scoring the sampled architectures of a study: the plan (protocols grouped as they share networks,
weights and inputs, and the shared inputs), one architecture's row, and the loop over them in one or
several processes."""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig

from search_spaces import get_space
from tenas.benchmark import BENCHMARK_SPACE
from tenas.errors import TenasError
from tenas.init import initialise
from tenas.proxies import score
from tenas.scoring import ScoringRecipe, to_device
from tenas.run_folder import Checkpoint


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


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a (possibly separate) process needs to score architectures; picklable."""

    seed: int
    recipes: tuple[ScoringRecipe, ...]
    repeats: int
    num_classes: int
    inputs: dict  # (network key, inputs key) -> [(inputs, targets) per repeat], on the CPU
    device: str

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.recipes)


def weight_seed(seed: int, index: int, repeat: int) -> int:
    """The seed of the weights of architecture ``index`` in ``repeat`` (independent streams per triple)."""
    return int(np.random.SeedSequence([seed, index, repeat]).generate_state(1, dtype=np.uint64)[0] >> 1)


def study_network(recipe: ScoringRecipe, num_classes: int, arch: str | None = None) -> torch.nn.Module:
    """The standalone network of ``arch`` (every op when ``None``) that ``recipe`` scores, built by the benchmark's
    space from the registry (:meth:`search_spaces.base.SearchSpace.scoring_network`) with the recipe's ``network``
    section."""
    return get_space(BENCHMARK_SPACE).scoring_network(arch, num_classes, **recipe.network_options())


def score_architecture(plan: ScoringPlan, index: int, arch: str) -> dict:
    """One checkpoint row: the mean score of every proxy over the repeats, the seconds each group of proxies
    sharing a network took (``seconds_<proxy>+<proxy>...``: building, initialising and scoring it) and the
    seconds in all. Every repeat initialises the network from :func:`weight_seed`, the same weights for
    every proxy of one network and initialisation; the proxies of one draw are scored together."""
    t0 = time.perf_counter()
    row = {"index": int(index), "arch": arch}
    for net_key, inits in protocol_groups(plan.recipes):
        start = time.perf_counter()
        members = [r for _, draws in inits for _, recipes in draws for r in recipes]
        net = study_network(members[0], plan.num_classes, arch).to(plan.device)
        values: dict[str, list[float]] = {r.name: [] for r in members}
        for init, draws in inits:
            for r in range(plan.repeats):
                initialise(net, init, torch.Generator().manual_seed(weight_seed(plan.seed, index, r)))
                for inputs_key, recipes in draws:
                    inputs, targets = plan.inputs[(net_key, inputs_key)][r]
                    scores = score(net, to_device(inputs, plan.device), [rc.name for rc in recipes], to_device(targets, plan.device),
                                   {rc.name: rc.settings["options"] for rc in recipes})
                    for name, value in scores.items():
                        values[name].append(value)
        for name, v in values.items():
            row[name] = float(np.mean(v))
        row["seconds_" + "+".join(values)] = round(time.perf_counter() - start, 4)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    row["device"] = plan.device
    return row


def build_plan(cfg: DictConfig, recipes, dataset, device: torch.device) -> ScoringPlan:
    """Draw the shared inputs of every repeat of every draw group (:func:`protocol_groups`; one generator
    seeded by ``cfg.seed``, the groups in order), with targets when one of the group's proxies needs them."""
    generator = torch.Generator().manual_seed(int(cfg.seed))
    inputs = {}
    for net_key, inits in protocol_groups(recipes):
        net = study_network(inits[0][1][0][1][0], dataset.num_classes)  # the network's first recipe
        for _, draws in inits:
            for inputs_key, group in draws:
                for recipe in group:
                    try:
                        recipe.check(net, dataset)
                    except ValueError as err:
                        raise TenasError(str(err)) from None
                if (net_key, inputs_key) in inputs:
                    continue
                drawer = next((r for r in group if r.proxy.needs_targets), group[0])
                inputs[(net_key, inputs_key)] = [drawer.draw(net, dataset, generator) for _ in range(int(cfg.study.repeats))]
    return ScoringPlan(int(cfg.seed), tuple(recipes), int(cfg.study.repeats), dataset.num_classes, inputs, str(device))


class StudyScorer:
    """A study worker's handler (:class:`tenas.parallel.WorkerPool`): answers ``(index, arch)`` with its row.
    The plan's proxies are registered in the worker as they are in the main process (a proxy registered by
    the user's own code, outside tenas, included)."""

    def __init__(self, plan: ScoringPlan):
        from tenas.proxies import PROXIES

        for recipe in plan.recipes:
            PROXIES.setdefault(recipe.name, recipe.proxy)
        self.plan, self.where = plan, "no architecture yet"

    def __call__(self, request: tuple[int, str]) -> dict:
        index, arch = request
        self.where = f"architecture {index} ({arch})"
        return score_architecture(self.plan, index, arch)


def score_all(plan: ScoringPlan, todo, checkpoint: Checkpoint, workers: int, threads: int, total: int) -> None:
    """Score the ``(index, arch)`` pairs of ``todo`` in ``workers`` processes of ``threads`` torch threads each
    (``compute.workers``, ``compute.threads``; one: in this process), appending each finished row to ``checkpoint``."""
    from tqdm import tqdm

    from tenas.parallel import WorkerPool

    bar = tqdm(total=total, initial=total - len(todo), unit="arch", desc="scoring", dynamic_ncols=True, file=sys.stderr)
    try:
        if workers <= 1:
            for index, arch in todo:
                checkpoint.append(score_architecture(plan, index, arch))
                bar.update()
            return
        with WorkerPool(workers, StudyScorer, (plan,), threads) as pool:
            for row in pool.imap_unordered(todo):
                checkpoint.append(row)
                bar.update()
    finally:
        bar.close()
