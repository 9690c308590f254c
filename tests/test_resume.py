"""Resumable searches: killed after a round, the same command finishes with the same candidates.csv and genotype."""
import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.run_folder import STATE as STATE_FILE
from tenas.strategies._prune import SearchState
from tenas.search import run_search
from tests.conftest import REPO

SMALL = ["dataset=synthetic", "dataset.image_size=16", "dataset.num_samples=256", "search.repeats=2", "+proxy.ntk.inputs.batch_size=16", "seed=3"]


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def assert_same_search(folder, reference):
    pd.testing.assert_frame_equal(pd.read_csv(folder / "candidates.csv"), pd.read_csv(reference / "candidates.csv"))
    ours, theirs = (json.loads((f / "genotype.json").read_text()) for f in (folder, reference))
    assert ours.get("arch", ours.get("genotype_repr")) == theirs.get("arch", theirs.get("genotype_repr"))
    assert [r["pruned"] for r in ours["rounds"]] == [r["pruned"] for r in theirs["rounds"]]
    assert ours.get("edge_decisions", []) == theirs.get("edge_decisions", []) or [
        (e["round"], e["removed"]) for e in ours["edge_decisions"]] == [(e["round"], e["removed"]) for e in theirs["edge_decisions"]]


@pytest.mark.slow
def test_sigkilled_nasbench201_search_resumes_to_the_same_result(tmp_path):
    reference = tmp_path / "uninterrupted"
    run_search(compose_search(SMALL), reference)

    out = tmp_path / "killed"
    args = [sys.executable, "-m", "tenas.search", *SMALL, f"hydra.run.dir={out}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None and not (out / STATE_FILE).exists():
        time.sleep(0.02)
    assert proc.poll() is None, "the search finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "genotype.json").exists()
    import torch

    saved = torch.load(out / STATE_FILE, weights_only=False)
    assert 1 <= len(saved["rounds"]) < 3  # killed after its first round, before the last

    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in (out / "search.log").read_text()
    assert_same_search(out, reference)


class Interrupt(Exception):
    pass


def interrupt_after_saves(monkeypatch, count: int):
    """Make the search stop (as a kill would) right after its ``count``-th state save reached the disk."""
    original, calls = SearchState.save, []

    def save(self, out_dir):
        original(self, out_dir)
        calls.append(1)
        if len(calls) == count:
            raise Interrupt

    monkeypatch.setattr(SearchState, "save", save)


@pytest.mark.slow
def test_interrupted_darts_search_resumes_in_its_edge_decisions(tmp_path, monkeypatch):
    overrides = ["search_space=darts", "dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=32", "search.repeats=1", "+proxy.ntk.inputs.batch_size=2",
                 "search_space.ops_per_edge=6"]
    reference = tmp_path / "uninterrupted"
    run_search(compose_search(overrides), reference)
    out = tmp_path / "interrupted"
    with monkeypatch.context() as patch:
        interrupt_after_saves(patch, 3)  # the op round and two edge decisions are done
        with pytest.raises(Interrupt):
            run_search(compose_search(overrides), out)
    result = run_search(compose_search(overrides), out)
    assert len(result["edge_decisions"]) == 12
    assert_same_search(out, reference)


def test_a_partial_search_refuses_other_settings_and_keeps_its_files(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        interrupt_after_saves(patch, 1)
        with pytest.raises(Interrupt):
            run_search(compose_search(SMALL + ["search_space.C=2"]), out)
    config = (out / "config.yaml").read_text()
    with pytest.raises(TenasError, match=r"holds a search with other settings \(search differ\)"):
        run_search(compose_search(SMALL + ["search_space.C=2", "search.repeats=1"]), out)
    assert (out / "config.yaml").read_text() == config and not (out / "candidates.csv").exists()
    # settings that only change speed may change
    result = run_search(compose_search(SMALL + ["search_space.C=2", "compute.threads=2"]), out)
    assert len(result["rounds"]) == 3
