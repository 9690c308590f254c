"""``compute.workers``: candidate-parallel scoring (tenas/parallel.py) gives the results of one process."""
import multiprocessing

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.parallel import ScoringWorkerError, WorkerPool, resolve_workers
from tenas.supernet_pool import split
from tenas.proxies import PROXIES, register_proxy
from tenas.search import prepare_search, run_search
from tests.conftest import REPO
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)

SMALL = ["dataset=synthetic", "dataset.num_samples=64", "device=cpu", "search_space.C=2", "search.repeats=1",
         "+proxy.ntk.inputs.batch_size=8"]
TE_NAS = SMALL + ["ranking=te_nas", "+proxy.linear_regions.inputs.batch_size=100"]


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def assert_same_search(a, b, result_a, result_b):
    pd.testing.assert_frame_equal(pd.read_csv(a / "candidates.csv"), pd.read_csv(b / "candidates.csv"), check_exact=True)
    assert result_a["arch"] == result_b["arch"]
    assert [r["pruned"] for r in result_a["rounds"]] == [r["pruned"] for r in result_b["rounds"]]


def test_two_workers_give_the_search_of_one(tmp_path):
    one = run_search(compose_search(TE_NAS + ["compute.workers=1"]), tmp_path / "one")
    two = run_search(compose_search(TE_NAS + ["compute.workers=2"]), tmp_path / "two")
    assert_same_search(tmp_path / "one", tmp_path / "two", one, two)
    assert set(two["indicator_seconds"]) == {"ntk", "linear_regions"} and all(s > 0 for s in two["indicator_seconds"].values())
    assert not multiprocessing.active_children()  # the workers are gone


def test_evolution_scored_by_two_workers_is_the_evolution_of_one(tmp_path):
    """Whole architectures streamed through the pool (finishing in any order) give the scores, the candidates and
    the choice of one process."""
    small = SMALL + ["ranking=te_nas", "+proxy.linear_regions.inputs.batch_size=50", "strategy=evolve", "strategy.budget=8",
                     "strategy.population_size=4", "strategy.sample_size=2", "strategy.parents=2", "strategy.crossover=true"]
    one = run_search(compose_search(small + ["compute.workers=1"]), tmp_path / "one")
    two = run_search(compose_search(small + ["compute.workers=2"]), tmp_path / "two")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "one" / "candidates.csv"), pd.read_csv(tmp_path / "two" / "candidates.csv"), check_exact=True)
    assert one["arch"] == two["arch"] and one["num_scored"] == two["num_scored"] == 8
    assert set(two["indicator_seconds"]) == {"ntk", "linear_regions"} and all(s > 0 for s in two["indicator_seconds"].values())
    assert not multiprocessing.active_children()


def test_pairwise_schedules_split_over_workers_give_the_search_of_one(tmp_path):
    # protocol=reference: a score call per (origin, candidate) pair, weights per round (κ) or per candidate (#LR)
    small = SMALL + ["ranking=te_nas", "protocol=reference", "+proxy.linear_regions.inputs.batch_size=50", "+proxy.linear_regions.inputs.num_batches=1"]
    one = run_search(compose_search(small + ["compute.workers=1"]), tmp_path / "one")
    two = run_search(compose_search(small + ["compute.workers=2"]), tmp_path / "two")
    assert_same_search(tmp_path / "one", tmp_path / "two", one, two)


def fails_in_a_worker(model, inputs):
    """Toy proxy: the output's mean, but a worker process raises."""
    if multiprocessing.current_process().name.startswith("tenas-scoring"):
        raise RuntimeError("boom in a worker")
    with torch.no_grad():
        return float(model(inputs).mean())


@pytest.fixture
def failing_proxy():
    register_proxy("fails_in_a_worker", higher_is_better=True)(fails_in_a_worker)
    yield
    del PROXIES["fails_in_a_worker"]


def test_a_worker_error_surfaces_as_one_exception_and_the_workers_stop(failing_proxy, tmp_path):
    overrides = SMALL + ["ranking.name=toy", "ranking.proxies=[fails_in_a_worker]", "+proxy.fails_in_a_worker.inputs.batch_size=4"]
    run_search(compose_search(overrides + ["compute.workers=1"]), tmp_path / "one")  # fine in one process
    with pytest.raises(ScoringWorkerError, match=r"scoring worker 1 failed on alive-set \d+ of fails_in_a_worker: RuntimeError: boom in a worker"):
        run_search(compose_search(overrides + ["compute.workers=2"]), tmp_path / "two")
    assert not multiprocessing.active_children()


def interrupted_in_the_main_process(model, inputs):
    """Toy proxy: a Ctrl-C while the main process scores its share (the worker is busy with its own)."""
    if not multiprocessing.current_process().name.startswith("tenas-scoring"):
        raise KeyboardInterrupt
    with torch.no_grad():
        return float(model(inputs).mean())


@pytest.fixture
def interrupting_proxy():
    register_proxy("interrupted", higher_is_better=True)(interrupted_in_the_main_process)
    yield
    del PROXIES["interrupted"]


def test_a_keyboard_interrupt_stops_the_workers(interrupting_proxy, tmp_path):
    overrides = SMALL + ["ranking.name=toy", "ranking.proxies=[interrupted]", "+proxy.interrupted.inputs.batch_size=4", "compute.workers=2"]
    with pytest.raises(KeyboardInterrupt):
        run_search(compose_search(overrides), tmp_path)
    assert not multiprocessing.active_children()


@pytest.mark.parametrize("value", ["0", "-1", "true", "1.5", "two"])
def test_bad_worker_counts_are_refused_with_one_line(value):
    with pytest.raises(TenasError, match=r"^compute\.workers: got .*; allowed: an integer >= 1 or null") as caught:
        prepare_search(compose_search(SMALL + [f"compute.workers={value}"]))
    assert "\n" not in str(caught.value)


def test_worker_count_resolution():
    assert resolve_workers(3, "cpu") == 3 and resolve_workers(3, "cpu", cap=2) == 2
    assert 1 <= resolve_workers(None, "cpu", cap=4) <= 4
    assert resolve_workers(None, "cpu", threads=1024) == 1  # the cores // threads per worker
    assert resolve_workers(4, "cuda") == 1  # CPU only
    assert split(7, 3) == [(0, 2), (2, 4), (4, 7)] and split(2, 2) == [(0, 1), (1, 2)] and split(25, 2) == [(0, 12), (12, 25)]


class Scaler:
    """A worker handler for the executor's own test: ``x -> factor * x`` with the worker's torch threads; 7 fails."""

    def __init__(self, factor):
        self.factor, self.where = factor, "nothing yet"

    def __call__(self, x):
        self.where = f"item {x}"
        if x == 7:
            raise ValueError("seven")
        return self.factor * x, torch.get_num_threads(), multiprocessing.current_process().name


def test_the_executor_streams_requests_over_its_workers_and_reports_a_failure_with_its_traceback():
    with WorkerPool(2, Scaler, (3,), threads=1) as pool:
        replies = list(pool.imap_unordered([x for x in range(20) if x != 7]))
        assert sorted(r[0] for r in replies) == [3 * x for x in range(20) if x != 7]  # each answered once
        assert {r[1] for r in replies} == {1} and {r[2] for r in replies} == {"tenas-scoring-1", "tenas-scoring-2"}
        with pytest.raises(ScoringWorkerError, match=r"scoring worker \d failed on item 7: ValueError: seven\n--- worker traceback ---\n") as caught:
            list(pool.imap_unordered(range(10)))
        assert 'raise ValueError("seven")' in str(caught.value)
    assert not multiprocessing.active_children()


def test_a_study_worker_error_names_the_architecture(failing_proxy, tmp_path, fake_nb201_csv):
    from tests.test_evaluate import compose_study
    from tenas.evaluate import run_study

    cfg = compose_study(["dataset=synthetic", "dataset.num_samples=32", "dataset.image_size=16", f"benchmark.path={fake_nb201_csv}",
                         "study.num_archs=4", "study.proxies=[fails_in_a_worker]", "+proxy.fails_in_a_worker.inputs.batch_size=4",
                         "compute.workers=2", "compute.threads=1"])
    with pytest.raises(ScoringWorkerError, match=r"scoring worker \d failed on architecture \d+ \(\|.*\|\): RuntimeError: boom in a worker"):
        run_study(cfg, tmp_path / "study")
    assert not multiprocessing.active_children()
