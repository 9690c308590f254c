"""The correlation study: its maths on hand-checked cases, determinism, and resume after an interruption or a kill."""
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces.nasbench201 import OP_NAMES, format_arch
from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.evaluate import run_study, sample_architectures
from tenas.run_folder import CHECKPOINT, Checkpoint
from tenas.study.correlation import rank_correlations
from tenas.proxies import PROXIES, Proxy
from tests.conftest import REPO


# ----------------------------------------------------------------------------- maths
def test_kendall_and_spearman_on_a_hand_checked_case():
    # pairs of (1,2,3,4) vs (1,3,2,4): 5 concordant, 1 discordant -> τ = 4/6;
    # rank differences (0,1,-1,0): ρ = 1 - 6·2 / (4·15) = 0.8
    c = rank_correlations([1, 2, 3, 4], [1, 3, 2, 4])
    assert c["kendall_tau"] == pytest.approx(2 / 3)
    assert c["spearman_rho"] == pytest.approx(0.8)
    assert c["n"] == 4
    # reversing one variable flips the signs
    c = rank_correlations([4, 3, 2, 1], [1, 3, 2, 4])
    assert c["kendall_tau"] == pytest.approx(-2 / 3) and c["spearman_rho"] == pytest.approx(-0.8)


def test_ties_use_tau_b_and_average_ranks():
    # x = (1,1,2), y = (1,2,3): 2 concordant, 0 discordant, one pair tied in x only:
    # τ_b = 2 / sqrt((3-1)·3); ρ = Pearson of ranks (1.5,1.5,3) and (1,2,3) = 1.5 / sqrt(1.5·2)
    c = rank_correlations([1, 1, 2], [1, 2, 3])
    assert c["kendall_tau"] == pytest.approx(2 / math.sqrt(6))
    assert c["spearman_rho"] == pytest.approx(1.5 / math.sqrt(3))


def test_non_finite_pairs_are_left_out_and_degenerate_input_is_nan():
    c = rank_correlations([1, 2, float("nan"), 3, 4, float("inf")], [1, 3, 9, 2, 4, 0])
    assert c["n"] == 4 and c["kendall_tau"] == pytest.approx(2 / 3)
    assert math.isnan(rank_correlations([1, 1, 1], [1, 2, 3])["kendall_tau"])
    assert math.isnan(rank_correlations([1, 2], [1, 2])["spearman_rho"])


def test_sample_is_seeded_distinct_and_capped():
    archs = [f"a{i}" for i in range(50)]
    a = sample_architectures(archs, 20, seed=3)
    assert a == sample_architectures(archs, 20, seed=3)
    assert a != sample_architectures(archs, 20, seed=4)
    assert len({i for i, _ in a}) == 20 and all(archs[i] == arch for i, arch in a)
    assert sorted(i for i, _ in sample_architectures(archs, 10_000, seed=0)) == list(range(50))
    with pytest.raises(TenasError, match="at least 1"):
        sample_architectures(archs, 0, seed=0)


# ----------------------------------------------------------------------------- studies on a fake benchmark
def write_fake_table(path, rows: int = 24, seed: int = 0):
    """A ground-truth CSV of ``rows`` random architectures (the benchmark table's columns)."""
    rng = np.random.default_rng(seed)
    archs = sorted({format_arch(rng.choice(OP_NAMES, 6)) for _ in range(4 * rows)})[:rows]
    acc = rng.uniform(10, 94, size=(len(archs), 3)).round(2)
    table = pd.DataFrame({"index": range(len(archs)), "arch_str": archs, "cifar10_test": acc[:, 0], "cifar100_test": acc[:, 1], "imagenet16_120_test": acc[:, 2]})
    table.to_csv(path, index=False)
    return table


def untimed(frame: pd.DataFrame) -> pd.DataFrame:
    """A scores table without its timing columns (``seconds`` and ``seconds_<proxy>``)."""
    return frame.drop(columns=[c for c in frame.columns if c.startswith("seconds")])


TINY = ["dataset=synthetic", "dataset.image_size=8", "dataset.num_samples=64", "device=cpu"]


def compose_study(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="evaluate", overrides=overrides)


class WeightSum:
    """A fake proxy: sum of |first conv weight| (depends on the weights drawn) plus the batch size; counts calls."""

    def __init__(self, interrupt_at: int | None = None):
        self.calls, self.interrupt_at = 0, interrupt_at

    def __call__(self, model, inputs):
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        first = next(p for n, p in model.named_parameters() if n.endswith("weight") and p.dim() == 4)
        return float(first.detach().abs().sum()) + inputs.shape[0]


def parameter_count(model, inputs):
    """A second fake proxy (lower is better): the number of parameters."""
    return float(sum(p.numel() for p in model.parameters()))


def fake_study_cfg(table_path, monkeypatch, fn, num_archs=10, repeats=2):
    monkeypatch.setitem(PROXIES, "fake", Proxy("fake", fn, higher_is_better=True))
    monkeypatch.setitem(PROXIES, "size", Proxy("size", parameter_count, higher_is_better=False))
    return compose_study(TINY + [
        f"benchmark.path={table_path}", f"study.num_archs={num_archs}", f"study.repeats={repeats}", "study.proxies=[fake,size]",
        "+proxy.fake.network.C=2", "+proxy.fake.network.N=1", "+proxy.fake.inputs.batch_size=4",
        "+proxy.size.network.C=3", "+proxy.size.network.N=1", "+proxy.size.inputs.batch_size=1",
        "+ranking.name=pair", "+ranking.proxies=[fake,size]", "+ranking.aggregation=rank_sum",
    ])


def test_interrupted_study_resumes_without_recomputing_or_losing_rows(tmp_path, monkeypatch):
    table_path = tmp_path / "bench.csv"
    table = write_fake_table(table_path)
    full = run_study(fake_study_cfg(table_path, monkeypatch, WeightSum()), tmp_path / "full")

    out = tmp_path / "interrupted"
    # 2 repeats per architecture: the 9th call is the first repeat of the 5th architecture
    with pytest.raises(KeyboardInterrupt):
        run_study(fake_study_cfg(table_path, monkeypatch, WeightSum(interrupt_at=9)), out)
    before = (out / CHECKPOINT).read_text().splitlines()
    assert len(before) == 4 and not (out / "scores.csv").exists()

    resumed = WeightSum()
    result = run_study(fake_study_cfg(table_path, monkeypatch, resumed), out)
    assert resumed.calls == 2 * (10 - 4)  # only the 6 missing architectures were scored
    assert (out / CHECKPOINT).read_text().splitlines()[:4] == before
    scores, reference = pd.read_csv(out / "scores.csv"), pd.read_csv(tmp_path / "full" / "scores.csv")
    assert len(scores) == 10 and scores["index"].is_unique
    pd.testing.assert_frame_equal(untimed(scores), untimed(reference))
    assert result["correlations"] == full["correlations"]

    # ground truth columns are the table's, scores combined by the ranking (higher = better)
    by_arch = table.set_index("arch_str")
    assert scores["cifar100"].tolist() == by_arch.loc[scores["arch"], "cifar100_test"].tolist()
    assert set(result["correlations"]) == {"fake", "size", "ranking"}
    assert (scores[["fake", "size"]] > 0).all().all()
    from scipy.stats import rankdata

    expected = -(rankdata(-scores["fake"], method="dense") + rankdata(scores["size"], method="dense"))
    np.testing.assert_array_equal(scores["ranking"], expected)
    for name in ("fake", "size", "ranking"):
        assert (out / f"scatter_{name}.png").stat().st_size > 1000
    corr = pd.read_csv(out / "correlations.csv")
    assert len(corr) == 9 and corr["n"].eq(10).all()


def test_a_study_grows_and_shrinks_in_its_folder(tmp_path, monkeypatch):
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path)
    run_study(fake_study_cfg(table_path, monkeypatch, WeightSum(), num_archs=3), tmp_path / "run")
    small = pd.read_csv(tmp_path / "run" / "scores.csv")
    grow = WeightSum()
    run_study(fake_study_cfg(table_path, monkeypatch, grow, num_archs=5), tmp_path / "run")
    assert grow.calls == 2 * 2  # two new architectures, two repeats each
    large = pd.read_csv(tmp_path / "run" / "scores.csv")
    pd.testing.assert_frame_equal(untimed(large.head(3)).drop(columns="ranking"), untimed(small).drop(columns="ranking"))
    shrink = WeightSum()
    result = run_study(fake_study_cfg(table_path, monkeypatch, shrink, num_archs=2), tmp_path / "run")
    assert shrink.calls == 0 and result["num_archs"] == 2 and len(pd.read_csv(tmp_path / "run" / "scores.csv")) == 2


def test_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / CHECKPOINT
    ck = Checkpoint(path)
    ck.append({"index": 3, "arch": "a", "ntk": 1.5})
    ck.append({"index": 7, "arch": "b", "ntk": 2.5})
    with open(path, "ab") as fh:
        fh.write(b'{"index": 9, "arch": "c", "nt')
    again = Checkpoint(path)
    assert sorted(again.rows) == [3, 7] and again.rows[7]["ntk"] == 2.5
    assert path.read_bytes().endswith(b"2.5}\n")
    path.write_text('{"index": 1}\nnot json\n')
    with pytest.raises(TenasError, match="line 2 is not JSON"):
        Checkpoint(path)


def test_other_settings_in_the_same_folder_are_refused(tmp_path, monkeypatch):
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path)
    run_study(fake_study_cfg(table_path, monkeypatch, WeightSum(), num_archs=3, repeats=1), tmp_path / "run")
    with pytest.raises(TenasError, match="other settings .*study"):
        run_study(fake_study_cfg(table_path, monkeypatch, WeightSum(), num_archs=3, repeats=2), tmp_path / "run")
    with pytest.raises(TenasError, match="benchmark.path"):
        run_study(compose_study(TINY), tmp_path / "x")
    with pytest.raises(TenasError, match="unknown proxy 'nonexistent'"):
        run_study(compose_study(TINY + [f"benchmark.path={table_path}", "study.proxies=[nonexistent]"]), tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_workers_give_the_same_scores_as_one_process(tmp_path):
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path)
    base = TINY + [f"benchmark.path={table_path}", "study.num_archs=4", "+proxy.ntk.network.C=2", "+proxy.ntk.inputs.batch_size=4"]
    run_study(compose_study(base), tmp_path / "one")
    run_study(compose_study(base + ["compute.workers=2", "compute.threads=1"]), tmp_path / "two")
    one, two = pd.read_csv(tmp_path / "one" / "scores.csv"), pd.read_csv(tmp_path / "two" / "scores.csv")
    assert one["index"].tolist() == two["index"].tolist()
    np.testing.assert_allclose(one["ntk"], two["ntk"], rtol=1e-4)


@pytest.mark.slow
def test_killed_cli_study_resumes(tmp_path):
    """SIGKILL a running ``python -m tenas.evaluate``; the same command finishes the study and keeps every earlier row."""
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path, rows=16)
    out = tmp_path / "study"
    args = [sys.executable, "-m", "tenas.evaluate", *TINY, f"benchmark.path={table_path}", "study.num_archs=16",
            "+proxy.ntk.network.C=2", "+proxy.ntk.inputs.batch_size=4", f"hydra.run.dir={out}"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / CHECKPOINT
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and checkpoint.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the study finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [json.loads(line) for line in checkpoint.read_text().splitlines() if line.endswith("}")]
    assert 3 <= len(before) < 16

    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{len(before)} done" in done.stderr + (out / "evaluate.log").read_text()
    rows = [json.loads(line) for line in checkpoint.read_text().splitlines()]
    assert rows[: len(before)] == before
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 16 and scores["index"].is_unique and len(rows) == 16
    assert "ntk  cifar10: τ=" in done.stdout


def test_real_ground_truth_and_images(cifar10_npz, nb201_csv, tmp_path):
    out = tmp_path / "real"
    cfg = compose_study(["dataset=npz", f"dataset.path={cifar10_npz}", f"benchmark.path={nb201_csv}", "study.num_archs=4",
                         "+proxy.ntk.network.C=2", "+proxy.ntk.inputs.batch_size=8", "device=auto"])
    result = run_study(cfg, out)
    scores = pd.read_csv(out / "scores.csv")
    table = pd.read_csv(nb201_csv).set_index("arch_str")
    assert scores["ImageNet16-120"].tolist() == table.loc[scores["arch"], "imagenet16_120_test"].tolist()
    assert scores["index"].tolist() == table.loc[scores["arch"], "index"].tolist()
    assert result["num_archs"] == 4 and result["dataset"]["path"] == str(cifar10_npz)
    assert result["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    config = (out / "config.yaml").read_text()
    assert "${" not in config and "num_archs: 4" in config
