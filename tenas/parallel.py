"""Scoring in parallel processes on the CPU: ``compute.workers`` (see ``conf/search.yaml``, ``conf/evaluate.yaml``).

One executor, :class:`WorkerPool`, serves the search and the study: spawned processes, each set up once
with a handler, ignoring SIGINT, their failures raised in the main process as one :class:`ScoringWorkerError`
with the worker's traceback. Whole architectures (a study; ``strategy=sample|evolve``) stream through it
(:meth:`WorkerPool.imap_unordered`, :class:`tenas.arch_scorer.ArchitectureScorer`); a pruning search splits
each scoring call over the main process and known workers that hold the supernets and the last weights
(:meth:`WorkerPool.send` / :meth:`WorkerPool.receive`, :mod:`tenas.supernet_pool`).

The workers ignore SIGINT (a Ctrl-C reaches the main process, whose ``finally`` closes the pool) and are
stopped by :meth:`WorkerPool.close` (also on errors: use the pool as a context manager or close it in a
``finally``).
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
from typing import Callable, Iterable, Iterator

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


