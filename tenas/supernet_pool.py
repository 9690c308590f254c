"""A pruning search's candidates scored in parallel (``compute.workers``), over :class:`tenas.parallel.WorkerPool`.

A search's pool (:func:`scoring_pool`) runs ``workers - 1`` spawned processes beside the main process. Each
worker builds, once, the supernet of every proxy of the search from the same recipe and space
(pickled to it) and sets its torch threads to the main process's (``compute.threads``). A
:class:`ParallelIndicator` wraps the main process's :class:`tenas.scoring.ProxyIndicator`:

- ``new_repeat`` / ``new_weights`` / ``new_inputs`` run in the main process exactly as before
  (same generator use), so the drawn weights and inputs are those of ``compute.workers=1``;
- ``score(alive_sets)`` splits the alive-sets into contiguous chunks, one per process (at most
  as many chunks as alive-sets; sizes differ by at most one), scores the first (a smallest) chunk in
  the main process (which also draws and sends) and the others in
  the workers, and concatenates the scores in order. A worker receives the supernet's state
  (every parameter and buffer) only when the weights were re-drawn since it last received them,
  and the inputs and targets only when they were re-drawn: with the default shared schedule,
  once per repeat, not per candidate. Pairwise schedules (``protocol=reference``: a call per
  (origin, candidate) pair) are split the same way, the pair across two processes, each sync
  then carrying that pair's new inputs (and weights when they were re-drawn).

The same kernels on the same values with the same thread count give the same floats, so the
scores, ``candidates.csv`` and the genotype are identical to ``compute.workers=1`` (the proxies leave
the network as they found it, so the order in which one process scores its alive-sets does not
matter). A failure in a worker is raised in the main process as one :class:`ScoringWorkerError`
carrying the worker's traceback; the workers ignore SIGINT (a Ctrl-C reaches the main process,
whose ``finally`` closes the pool) and are stopped by :meth:`WorkerPool.close` (also on errors:
use the pool as a context manager or close it in a ``finally``).
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Sequence

import torch

from tenas.parallel import ScoringWorkerError, WorkerPool

log = logging.getLogger("tenas.parallel")


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous ``(start, stop)`` ranges covering ``range(n)``, sizes differing by at most one,
    the smaller ones first (the first is the main process's, which also draws and sends)."""
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for k in range(parts):
        stop = start + base + (1 if k >= parts - extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def _network_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer (non-persistent ones too), detached, on the CPU."""
    state = {f"p:{name}": p.detach().cpu() for name, p in net.named_parameters()}
    state.update({f"b:{name}": b.detach().cpu() for name, b in net.named_buffers()})
    return state


def _load_state(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    params, buffers = dict(net.named_parameters()), dict(net.named_buffers())
    with torch.no_grad():
        for key, value in state.items():
            kind, name = key.split(":", 1)
            (params if kind == "p" else buffers)[name].copy_(value)


class SupernetScorer:
    """A search worker's handler: the supernet of every proxy built once from the same recipe and space;
    answers ``(name, state, inputs, alive_sets, first)`` with the scores of ``alive_sets`` (``state``, the
    supernet's weights, and ``inputs`` only when they changed since the last request)."""

    def __init__(self, space, recipes, num_classes: int):
        self.where = "building the supernets"
        self.held = {recipe.name: {"recipe": recipe, "inputs": None, "targets": None,
                                   "net": space.build_supernet(num_classes=num_classes, **recipe.network_options())} for recipe in recipes}

    def __call__(self, request) -> list[float]:
        name, state, data, alive_sets, first = request
        entry = self.held[name]
        self.where = f"alive-set {first} of {name}"
        if state is not None:
            _load_state(entry["net"], state)
        if data is not None:
            entry["inputs"], entry["targets"] = data
        scores = []
        for index, alive in enumerate(alive_sets, start=first):
            self.where = f"alive-set {index} of {name}"
            with entry["net"].trying(alive):
                scores.append(entry["recipe"].score(entry["net"], entry["inputs"], entry["targets"]))
        return scores


def scoring_pool(recipes: Sequence, space, num_classes: int, workers: int, threads: int | None = None) -> WorkerPool:
    """The pool of a search scoring with ``workers`` processes: the main process and ``workers - 1`` spawned
    :class:`SupernetScorer` workers (their supernets built as :class:`tenas.scoring.ProxyIndicator` builds
    them); wrap each indicator in a :class:`ParallelIndicator` over it."""
    if workers < 2:
        raise ValueError(f"a scoring pool needs at least 2 workers, got {workers}")
    pool = WorkerPool(workers - 1, SupernetScorer, (space, list(recipes), int(num_classes)), threads)
    log.info("scoring with %d processes (%d spawned workers), %d torch thread(s) each", workers, workers - 1, pool.threads)
    return pool


class ParallelIndicator:
    """A :class:`tenas.scoring.ProxyIndicator` whose ``score`` is split over the main process and a :func:`scoring_pool`
    (see the module docstring); everything else is the wrapped indicator's."""

    def __init__(self, indicator, pool: WorkerPool):
        self.local, self.pool = indicator, pool
        self.name = indicator.name
        self.schedule = indicator.schedule
        self.recipe = indicator.recipe
        self.workers = len(pool.processes) + 1  # the main process scores the first chunk
        self._weights, self._inputs = 0, 0  # versions drawn in the main process
        self._sent = [(-1, -1)] * (self.workers - 1)  # versions each spawned worker holds

    def __getattr__(self, attribute):  # net, dataset, device, inputs, targets, ...
        if attribute == "local":
            raise AttributeError(attribute)
        return getattr(self.local, attribute)

    @property
    def seconds(self) -> float:
        return self.local.seconds

    @seconds.setter
    def seconds(self, value: float) -> None:
        self.local.seconds = value

    def new_repeat(self, generator: torch.Generator) -> None:
        self.new_weights(generator)
        self.new_inputs(generator)

    def new_weights(self, generator: torch.Generator) -> None:
        self.local.new_weights(generator)
        self._weights += 1

    def new_inputs(self, generator: torch.Generator) -> None:
        self.local.new_inputs(generator)
        self._inputs += 1

    def score(self, alive_sets: Sequence, progress: Callable[[int], None] | None = None) -> list[float]:
        if self.pool.broken:
            raise ScoringWorkerError(f"the scoring pool is unusable: {self.pool.broken}")
        alive_sets = list(alive_sets)
        parts = min(self.workers, len(alive_sets))
        if parts < 2:
            return self.local.score(alive_sets, progress)
        start, before = time.perf_counter(), self.local.seconds
        chunks = split(len(alive_sets), parts)
        state = data = None
        for k in range(1, parts):
            held_weights, held_inputs = self._sent[k - 1]
            if held_weights != self._weights:
                state = state if state is not None else _network_state(self.local.net)
            if held_inputs != self._inputs:
                data = data if data is not None else (to_cpu(self.local.inputs), to_cpu(self.local.targets))
            first, stop = chunks[k]
            self.pool.send(k - 1, (self.name, state if held_weights != self._weights else None,
                               data if held_inputs != self._inputs else None, alive_sets[first:stop], first))
            self._sent[k - 1] = (self._weights, self._inputs)
        try:
            first, stop = chunks[0]
            scores = list(self.local.score(alive_sets[first:stop], progress))
        except BaseException:
            self.pool.broken = self.pool.broken or "the main process's scoring failed while workers were busy"
            raise
        for k in range(1, parts):
            scores.extend(self.pool.receive(k - 1))
        if progress:
            progress(len(alive_sets) - 1)
        self.local.seconds = before + time.perf_counter() - start  # the call's wall time (local.score counted its chunk only)
        return scores


def to_cpu(value):
    """A tensor, a list of tensors, or ``None``, on the CPU."""
    if value is None:
        return None
    if isinstance(value, list):
        return [v.cpu() for v in value]
    return value.cpu()
