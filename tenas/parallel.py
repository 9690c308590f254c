"""Scoring in parallel processes on the CPU: ``compute.workers`` (see ``conf/search.yaml``, ``conf/evaluate.yaml``).

One executor, :class:`WorkerPool`, serves the search and the study: spawned processes, each set up once
with a handler, ignoring SIGINT, their failures raised in the main process as one :class:`ScoringWorkerError`
with the worker's traceback. A study streams its architectures through it
(:meth:`WorkerPool.imap_unordered`, :class:`tenas.study.scoring.StudyScorer`); a search splits each
scoring call over the main process and known workers that hold the supernets and the last weights.

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
import os
import pickle
import signal
import time
import traceback
import multiprocessing
from multiprocessing import get_context
from itertools import islice
from multiprocessing.connection import wait
from typing import Callable, Iterable, Iterator, Sequence

import torch

log = logging.getLogger(__name__)

_PICKLE = pickle.HIGHEST_PROTOCOL


class ScoringWorkerError(RuntimeError):
    """A scoring worker failed (its exception and traceback are in the message) or exited."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def max_alive_sets(alive) -> int:
    """Alive-sets of the first pruning round's largest ``score`` call: the origin plus one candidate
    per alive op on each edge that still has a choice (later rounds have fewer)."""
    count = sum(alive.num_alive(c, e) for c, m in alive.masks.items() for e in range(m.shape[0]) if alive.num_alive(c, e) > 1)
    return count + 1


def resolve_workers(setting, device, cap: int | None = None, threads: int = 1) -> int:
    """The processes to score with: ``setting`` (``None``: :func:`usable_cores` // ``threads``, the torch
    threads of each, so that the processes do not oversubscribe the cores), at most ``cap`` (the
    alive-sets of one ``score`` call); 1 on a non-CPU device (the pool is CPU-only), and 1 in a process
    that is itself a worker of a pool whose processes cannot spawn ours (a joblib/loky sweep job: such a
    sweep already runs searches side by side; ``null`` there means 1 without a warning)."""
    if torch.device(device).type != "cpu":
        if setting is not None and int(setting) > 1:
            log.warning("compute.workers=%s: candidate-parallel scoring runs on the CPU only; scoring on %s in one process", setting, device)
        return 1
    if multiprocessing.get_start_method(allow_none=True) not in (None, "fork", "spawn", "forkserver"):
        if setting is not None and int(setting) > 1:
            log.warning("compute.workers=%s: this process's multiprocessing start method (%s) cannot start scoring workers; scoring in one process",
                        setting, multiprocessing.get_start_method())
        return 1
    workers = usable_cores() // max(1, int(threads)) if setting is None else int(setting)
    if cap is not None:
        workers = min(workers, int(cap))
    return max(1, workers)


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


# ----------------------------------------------------------------------------- the executor
def _worker_main(conn, setup: Callable, args: tuple, threads: int) -> None:
    """Set up the handler once (``setup(*args)``), then answer requests with ``handler(request)`` until ``None``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and closes the pool
    torch.set_num_threads(threads)
    try:
        handler = setup(*args)
    except BaseException as err:  # noqa: BLE001 - reported to the main process
        conn.send_bytes(pickle.dumps(("error", "its setup", f"{type(err).__name__}: {err}", traceback.format_exc()), _PICKLE))
        conn.close()
        return
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):  # the main process is gone
            return
        request = pickle.loads(message)
        if request is None:
            conn.close()
            return
        try:
            reply = ("ok", handler(request))
        except Exception as err:  # noqa: BLE001 - reported to the main process
            reply = ("error", getattr(handler, "where", "a request"), f"{type(err).__name__}: {err}", traceback.format_exc())
        conn.send_bytes(pickle.dumps(reply, _PICKLE))


class WorkerPool:
    """The one executor of tenas: ``processes`` spawned worker processes, each set up once by ``setup(*args)``
    (a picklable module-level callable returning the handler that answers requests; a handler may keep a
    ``where`` attribute naming what it is working on, for error messages) with ``threads`` torch threads.

    :meth:`send` / :meth:`receive` talk to one worker (a search's candidates, split over known workers that
    hold state: :class:`ParallelIndicator`); :meth:`imap_unordered` keeps every worker busy with a stream of
    requests (a study's architectures). A failure in a worker is raised here as one :class:`ScoringWorkerError`
    carrying the worker's traceback; the workers ignore SIGINT and are stopped by :meth:`close` (use the pool
    as a context manager or close it in a ``finally``)."""

    def __init__(self, processes: int, setup: Callable, args: tuple = (), threads: int | None = None):
        if processes < 1:
            raise ValueError(f"a worker pool needs at least 1 process, got {processes}")
        self.threads = int(threads or torch.get_num_threads())
        self.processes, self.connections = [], []
        self.broken: str | None = None
        context = get_context("spawn")
        try:
            for k in range(processes):
                parent, child = context.Pipe()
                process = context.Process(target=_worker_main, args=(child, setup, tuple(args), self.threads), name=f"tenas-scoring-{k + 1}", daemon=True)
                process.start()
                child.close()
                self.processes.append(process)
                self.connections.append(parent)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False

    def close(self) -> None:
        """Stop every worker (asked first, then terminated); safe to call more than once."""
        for conn in self.connections:
            try:
                conn.send_bytes(pickle.dumps(None, _PICKLE))
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + 2.0
        for process in self.processes:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.terminate()
                process.join(timeout=5.0)
        for conn in self.connections:
            conn.close()
        self.processes, self.connections = [], []
        self.broken = self.broken or "closed"

    def _fail(self, what: str) -> ScoringWorkerError:
        self.broken = what
        return ScoringWorkerError(what)

    def _failed(self, k: int, reply: tuple) -> ScoringWorkerError:
        """The error of worker ``k``'s ``("error", where, error, traceback)`` reply."""
        _, where, error, trace = reply
        return self._fail(f"scoring worker {k + 1} failed on {where}: {error}\n--- worker traceback ---\n{trace.rstrip()}")

    def send(self, k: int, request) -> None:
        """Send ``request`` to worker ``k`` (0-based)."""
        try:
            self.connections[k].send_bytes(pickle.dumps(request, _PICKLE))
        except (OSError, ValueError):
            raise self._receive_error(k) from None

    def receive(self, k: int):
        """Worker ``k``'s reply to its oldest unanswered request (a :class:`ScoringWorkerError` when it failed)."""
        try:
            reply = pickle.loads(self.connections[k].recv_bytes())
        except (EOFError, OSError):
            raise self._receive_error(k) from None
        if reply[0] == "ok":
            return reply[1]
        raise self._failed(k, reply)

    def imap_unordered(self, requests: Iterable, in_flight: int = 2) -> Iterator:
        """The replies to ``requests`` as they finish, ``in_flight`` requests queued at each worker."""
        pending, busy = iter(requests), [0] * len(self.connections)

        def feed(k: int) -> None:
            for request in islice(pending, 1):
                self.send(k, request)
                busy[k] += 1

        for k in range(len(self.connections)):
            for _ in range(in_flight):
                feed(k)
        while any(busy):
            for conn in wait([c for c, b in zip(self.connections, busy) if b]):
                k = self.connections.index(conn)
                reply = self.receive(k)
                busy[k] -= 1
                feed(k)
                yield reply

    def _receive_error(self, k: int) -> ScoringWorkerError:
        """The error of a worker whose pipe broke: its last message when it left one, else its exit code."""
        conn, process = self.connections[k], self.processes[k]
        try:
            if conn.poll(0.5):
                reply = pickle.loads(conn.recv_bytes())
                if reply[0] == "error":
                    return self._failed(k, reply)
        except (EOFError, OSError):
            pass
        process.join(timeout=1.0)
        return self._fail(f"scoring worker {k + 1} exited unexpectedly (exit code {process.exitcode})")


# ----------------------------------------------------------------------------- a search's candidates
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
