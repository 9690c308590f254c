"""Sharded studies: shards score disjoint slices of the sample, their merge is the unsharded study; a
Hydra multirun of the shards on the submitit launcher (local executor), then the merge command."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tenas.errors import TenasError
from tenas.evaluate import run_study
from tenas.run_folder import CHECKPOINT
from tests.conftest import REPO
from tests.test_evaluate import untimed
from tenas.proxies import PROXIES, Proxy
from tests.test_evaluate import TINY, WeightSum, compose_study, parameter_count, write_fake_table


@pytest.fixture(autouse=True)
def quick_plots(request, monkeypatch):
    """Rendering plots is most of a tiny study's time: in-process studies write an empty file instead
    (the subprocess test renders them)."""
    if "submitit" not in request.node.name:
        monkeypatch.setattr("tenas.evaluate.save_scatter", lambda frame, score, correlations, path: path.write_bytes(b""))


def read_scores(folder):
    return untimed(pd.read_csv(folder / "scores.csv"))


def shard_cfg(table_path, monkeypatch, fn, extra, num_archs=7):
    """tests/test_evaluate.py's fake study (fake proxies ``fake`` and ``size``, a ranking of both), with ``extra`` overrides."""
    monkeypatch.setitem(PROXIES, "fake", Proxy("fake", fn, higher_is_better=True))
    monkeypatch.setitem(PROXIES, "size", Proxy("size", parameter_count, higher_is_better=False))
    return compose_study(TINY + [
        f"benchmark.path={table_path}", f"study.num_archs={num_archs}", "study.proxies=[fake,size]",
        "+proxy.fake.network.C=2", "+proxy.fake.network.N=1", "+proxy.fake.inputs.batch_size=4",
        "+proxy.size.network.C=3", "+proxy.size.network.N=1", "+proxy.size.inputs.batch_size=1",
        "+ranking.name=pair", "+ranking.proxies=[fake,size]", "+ranking.aggregation=rank_sum", *extra,
    ])


def test_two_shards_merge_into_the_unsharded_study(tmp_path, monkeypatch):
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path)
    full = run_study(shard_cfg(table_path, monkeypatch, WeightSum(), []), tmp_path / "full")
    sweep = tmp_path / "sweep"
    counts = []
    for shard in (0, 1):
        fn = WeightSum()
        run_study(shard_cfg(table_path, monkeypatch, fn, ["study.num_shards=2", f"study.shard={shard}"]), sweep / f"{shard}-job")
        counts.append(fn.calls)
    assert counts == [4, 3]  # positions 0,2,4,6 and 1,3,5 of the 7 sampled
    reference = read_scores(tmp_path / "full")
    for shard in (0, 1):
        folder = sweep / f"{shard}-job"
        assert json.loads((folder / "study.json").read_text())["shard"] == {"index": shard, "num_shards": 2}
        assert read_scores(folder)["index"].tolist() == reference["index"].tolist()[shard::2]
    # a shard's folder refuses another shard
    with pytest.raises(TenasError, match=r"other settings \(shard differ\)"):
        run_study(shard_cfg(table_path, monkeypatch, WeightSum(), ["study.num_shards=2", "study.shard=1"]), sweep / "0-job")

    merged = tmp_path / "merged"
    merge = shard_cfg(table_path, monkeypatch, WeightSum(), ["study.num_shards=2", "study.merge=true"])
    result = run_study(merge, merged, shards_dir=sweep)
    pd.testing.assert_frame_equal(read_scores(merged), reference)
    pd.testing.assert_frame_equal(pd.read_csv(merged / "correlations.csv"), pd.read_csv(tmp_path / "full" / "correlations.csv"))
    assert result["correlations"] == full["correlations"]
    assert json.loads((merged / "study.json").read_text()) == json.loads((tmp_path / "full" / "study.json").read_text())
    assert {p.name for p in merged.glob("scatter_*.png")} == {"scatter_fake.png", "scatter_size.png", "scatter_ranking.png"}
    # the merged folder is the unsharded study's: running that resumes with nothing left to score
    again = WeightSum()
    run_study(shard_cfg(table_path, monkeypatch, again, []), merged)
    assert again.calls == 0
    # merging again (idempotent) does not duplicate rows
    run_study(merge, merged, shards_dir=sweep)
    assert len((merged / CHECKPOINT).read_text().splitlines()) == 7


def test_bad_shard_settings_and_missing_or_incomplete_shards(tmp_path, monkeypatch):
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path)

    def refused(extra, match, out="x", **kwargs):
        with pytest.raises(TenasError, match=match) as err:
            run_study(shard_cfg(table_path, monkeypatch, WeightSum(), extra), tmp_path / out, **kwargs)
        assert "\n" not in str(err.value)

    refused(["study.num_shards=2", "study.shard=2"], r"^study.shard: got 2; allowed: 0 to 1")
    refused(["study.num_shards=2", "study.shard=-1"], r"^study.shard: got -1")
    refused(["study.num_shards=0"], r"^study.num_shards: got 0")
    refused(["study.merge=true"], r"^study.merge: .*study.num_shards")
    refused(["study.num_shards=8", "study.shard=0"], r"^study.num_shards: got 8; allowed: at most the 7")
    assert not (tmp_path / "x").exists()

    sweep = tmp_path / "sweep"
    run_study(shard_cfg(table_path, monkeypatch, WeightSum(), ["study.num_shards=2", "study.shard=0"]), sweep / "0")
    merge = ["study.num_shards=2", "study.merge=true"]
    refused(merge, r"hydra.sweep.dir=.*nowhere is not a folder", shards_dir=tmp_path / "nowhere")
    refused(merge, r"shard\(s\) 1 of 2 missing under", shards_dir=sweep)
    # shards of other settings are not taken, and named in the error
    run_study(shard_cfg(table_path, monkeypatch, WeightSum(), ["study.num_shards=2", "study.shard=1", "seed=5"]), sweep / "1")
    refused(merge, r"shard\(s\) 1 of 2 missing .*1 shard folder\(s\) there hold other settings \(seed differ\)", shards_dir=sweep)
    # an incomplete shard (killed after one row)
    run_study(shard_cfg(table_path, monkeypatch, WeightSum(), ["study.num_shards=2", "study.shard=1"]), sweep / "2")
    lines = (sweep / "2" / CHECKPOINT).read_text().splitlines()
    (sweep / "2" / CHECKPOINT).write_text(lines[0] + "\n" + lines[1][:10])
    refused(merge, r"shard 1 of 2 \(.*\) is incomplete: 1 of its 3 architectures scored", shards_dir=sweep)
    assert (sweep / "2" / CHECKPOINT).read_text().endswith(lines[1][:10])  # the merge never writes to a shard
    # more archs than the shards scored: incomplete too
    refused(merge + ["study.num_archs=9"], r"shard 0 of 2 .* is incomplete: 4 of its 5", shards_dir=sweep)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_submitit_multirun_of_two_shards_then_merge(tmp_path):
    """``-m hydra/launcher=submitit_local study.shard=0,1``, then ``study.merge=true``: the unsharded study."""
    table_path = tmp_path / "bench.csv"
    write_fake_table(table_path, rows=8)
    study = [*TINY, f"benchmark.path={table_path}", "study.num_archs=6", "study.proxies=[ntk]", "compute.threads=1",
             "+proxy.ntk.network.C=2", "+proxy.ntk.inputs.batch_size=4"]
    sweep, merged = tmp_path / "sweep", tmp_path / "merged"
    proc = subprocess.run(
        [sys.executable, "-m", "tenas.evaluate", "-m", "hydra/launcher=submitit_local", "study.num_shards=2", "study.shard=0,1",
         *study, f"hydra.sweep.dir={sweep}"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (sweep / ".submitit").is_dir()  # the jobs went through submitit
    assert len(list(sweep.glob("*/scores.csv"))) == 2
    proc = subprocess.run(
        [sys.executable, "-m", "tenas.evaluate", "study.num_shards=2", "study.merge=true", *study,
         f"hydra.sweep.dir={sweep}", f"hydra.run.dir={merged}"],
        cwd=REPO, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "6 architectures" in proc.stdout and "ntk  cifar10: τ=" in proc.stdout

    full = run_study(compose_study(study), tmp_path / "full")
    got, want = read_scores(merged), read_scores(tmp_path / "full")
    pd.testing.assert_frame_equal(got.drop(columns="ntk"), want.drop(columns="ntk"))
    np.testing.assert_allclose(got["ntk"], want["ntk"], rtol=1e-6)
    merged_corr = json.loads((merged / "correlations.json").read_text())["correlations"]
    assert merged_corr == full["correlations"]
