"""Scoring the sampled architectures of a study: the plan (protocols and shared inputs), one
architecture's row, and the loop over them in one or several processes."""
from __future__ import annotations

import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from itertools import islice
from multiprocessing import get_context

import numpy as np
import torch
from omegaconf import DictConfig

from search_spaces.nasbench201 import NASBench201Space, NB201Network, parse_arch
from tenas.errors import TenasError
from tenas.init import initialise
from tenas.scoring import ScoringRecipe, to_device
from tenas.study.checkpoint import Checkpoint


@dataclass(frozen=True)
class ScoringPlan:
    """Everything a (possibly separate) process needs to score architectures; picklable."""

    seed: int
    recipes: tuple[ScoringRecipe, ...]
    repeats: int
    num_classes: int
    inputs: dict  # proxy -> [(inputs, targets) per repeat], on the CPU
    device: str

    @property
    def proxies(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.recipes)


def weight_seed(seed: int, index: int, repeat: int) -> int:
    """The seed of the weights of architecture ``index`` in ``repeat`` (independent streams per triple)."""
    return int(np.random.SeedSequence([seed, index, repeat]).generate_state(1, dtype=np.uint64)[0] >> 1)


def study_network(recipe: ScoringRecipe, num_classes: int, arch: str | None = None) -> NB201Network:
    """The standalone NAS-Bench-201 network of ``arch`` (the supernet when ``None``) that ``recipe`` scores:
    its ``network`` section, ``None`` entries taken from the space's scoring defaults."""
    space = NASBench201Space()
    options = {"C": space.C, "N": space.N, "stem": True, **recipe.network_options()}
    ops = None if arch is None else [[op] for op in parse_arch(arch)]
    return NB201Network(options["C"], options["N"], num_classes, candidate_ops=ops, stem=options["stem"])


def score_architecture(plan: ScoringPlan, index: int, arch: str) -> dict:
    """One checkpoint row: the mean score of every proxy over the repeats, the seconds each proxy took
    (``seconds_<proxy>``: building, initialising and scoring its network) and the seconds in all."""
    t0 = time.perf_counter()
    row = {"index": int(index), "arch": arch}
    for recipe in plan.recipes:
        start = time.perf_counter()
        net = study_network(recipe, plan.num_classes, arch).to(plan.device)
        values = []
        for r, (inputs, targets) in enumerate(plan.inputs[recipe.name]):
            initialise(net, recipe.settings["init"], torch.Generator().manual_seed(weight_seed(plan.seed, index, r)))
            values.append(recipe.score(net, to_device(inputs, plan.device), to_device(targets, plan.device)))
        row[recipe.name] = float(np.mean(values))
        row[f"seconds_{recipe.name}"] = round(time.perf_counter() - start, 4)
    row["seconds"] = round(time.perf_counter() - t0, 4)
    row["device"] = plan.device
    return row


def build_plan(cfg: DictConfig, recipes, dataset, device: torch.device) -> ScoringPlan:
    """Draw the shared inputs of every repeat of every proxy (one generator seeded by ``cfg.seed``)."""
    generator = torch.Generator().manual_seed(int(cfg.seed))
    inputs = {}
    for recipe in recipes:
        net = study_network(recipe, dataset.num_classes)
        try:
            recipe.check(net, dataset)
        except ValueError as err:
            raise TenasError(str(err)) from None
        inputs[recipe.name] = [recipe.draw(net, dataset, generator) for _ in range(int(cfg.study.repeats))]
    return ScoringPlan(int(cfg.seed), tuple(recipes), int(cfg.study.repeats), dataset.num_classes, inputs, str(device))


_WORKER_PLAN: ScoringPlan | None = None


def _init_worker(plan: ScoringPlan, threads: int) -> None:
    global _WORKER_PLAN
    torch.set_num_threads(threads)
    _WORKER_PLAN = plan


def _score_in_worker(index: int, arch: str) -> dict:
    return score_architecture(_WORKER_PLAN, index, arch)


def score_all(plan: ScoringPlan, todo, checkpoint: Checkpoint, workers: int, threads: int, total: int) -> None:
    """Score the ``(index, arch)`` pairs of ``todo`` in ``workers`` processes of ``threads`` torch threads each
    (``compute.workers``, ``compute.threads``; one: in this process), appending each finished row to ``checkpoint``."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=total - len(todo), unit="arch", desc="scoring", dynamic_ncols=True, file=sys.stderr)
    try:
        if workers <= 1:
            for index, arch in todo:
                checkpoint.append(score_architecture(plan, index, arch))
                bar.update()
            return
        context = get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(plan, threads)) as pool:
            pending = iter(todo)
            running = {pool.submit(_score_in_worker, i, a) for i, a in islice(pending, 2 * workers)}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        checkpoint.append(future.result())
                        bar.update()
                    running |= {pool.submit(_score_in_worker, i, a) for i, a in islice(pending, len(done))}
            except BaseException:
                for future in running:
                    future.cancel()
                raise
    finally:
        bar.close()
