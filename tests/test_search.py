import json
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from search_spaces.nasbench201 import parse_arch
from tenas import CONF_DIR
from tenas.search import run_search
from tests.conftest import REPO


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def run_cli(args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "tenas.search", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_full_search_on_the_shared_cifar10_sample(cifar10_npz, nb201_csv, tmp_path):
    out = tmp_path / "run"
    proc = run_cli([f"dataset.path={cifar10_npz}", "dataset=npz", f"benchmark.path={nb201_csv}", f"hydra.run.dir={out}"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((out / "genotype.json").read_text())
    arch = result["arch"]
    parse_arch(arch)
    assert f"architecture: {arch}" in proc.stdout
    for ds in ("cifar10", "cifar100", "ImageNet16-120"):
        assert f"{ds} test accuracy" in proc.stdout
    table = pd.read_csv(nb201_csv).set_index("arch_str")
    assert result["test_accuracies"]["cifar10"] == pytest.approx(table.loc[arch, "cifar10_test"])
    # the κ-only search must find a good cell: well above the benchmark mean (87.06)
    assert result["test_accuracies"]["cifar10"] > 90.0
    assert result["search_space"] == "nasbench201" and result["seed"] == 0 and result["dataset"] == "npz"
    assert [r["candidates"] for r in result["rounds"]] == [24, 18, 12]
    rounds = pd.read_csv(out / "candidates.csv")
    assert len(rounds) == 3 * (24 + 18 + 12)
    assert {"round", "repeat", "edge", "op", "delta_ntk", "mean_delta_ntk", "pruned"} <= set(rounds.columns)
    config = (out / "config.yaml").read_text()
    assert "repeats: 3" in config and str(cifar10_npz) in config and "${" not in config
    assert (out / "search.log").read_text().count("round ") >= 3


def test_same_seed_same_genotype(tmp_path):
    # synthetic images: determinism needs no real data
    overrides = ["dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=16", "search.repeats=1", "+proxy.ntk.inputs.batch_size=8", "search_space.C=2", "seed=7"]
    outputs = []
    for name in ("a", "b"):
        result = run_search(compose_search(overrides), tmp_path / name)
        outputs.append((result["arch"], result["rounds"], pd.read_csv(tmp_path / name / "candidates.csv")))
    (arch_a, rounds_a, csv_a), (arch_b, rounds_b, csv_b) = outputs
    assert arch_a == arch_b
    assert [r["pruned"] for r in rounds_a] == [r["pruned"] for r in rounds_b]
    pd.testing.assert_frame_equal(csv_a, csv_b)


def test_bad_input_is_one_line_and_writes_no_outputs(tmp_path):
    out = tmp_path / "run"
    proc = run_cli(["dataset=npz", f"dataset.path={tmp_path / 'missing.npz'}", f"hydra.run.dir={out}"])
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: dataset.path: dataset file not found")
    assert not (out / "genotype.json").exists() and not (out / "candidates.csv").exists()
