"""scripts/summarize.py on fake multirun folders built here (no search is run)."""
import json
import math
import re
import subprocess
import sys

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space, list_spaces
from tenas import CONF_DIR
from tenas.evaluate import study_identity
from tenas.study.settings import study_recipes
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
import summarize  # noqa: E402

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# (ranking, seed) -> CIFAR-10 accuracy; CIFAR-100 = C10 - 20, ImageNet16-120 = C10 - 50
C10 = {("ntk", 0): 93.0, ("ntk", 1): 94.0, ("ntk", 2): 92.0, ("ntk", 3): 93.0, ("te_nas", 0): 94.0, ("te_nas", 1): 94.0}


def write_job(root, name, payload, overrides, filename):
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / filename).write_text(json.dumps(payload))
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def fake_search_multirun(root):
    for num, ((ranking, seed), acc) in enumerate(C10.items()):
        payload = {"search_space": "nasbench201", "arch": ARCH, "seed": seed, "dataset": "npz", "ranking": ranking, "wall_time_s": 100.0 + seed,
                   "benchmark_dataset": "cifar100", "test_accuracy": acc - 20,
                   "test_accuracies": {"cifar10": acc, "cifar100": acc - 20, "ImageNet16-120": acc - 50}}
        overrides = [f"seed={seed}", f"ranking={ranking}", "dataset=npz", "dataset.path=/data/x.npz", "benchmark.path=/b.csv", "search.repeats=3", "device=cuda"]
        write_job(root, f"{num}-seed{seed}", payload, overrides, "genotype.json")
    (root / "multirun.yaml").write_text("hydra: {}\n")
    (root / "stray").mkdir()  # a folder without results is ignored


def test_search_table_has_runs_and_mean_std(tmp_path):
    fake_search_multirun(tmp_path)
    written = summarize.summarize(tmp_path)
    runs = pd.read_csv(written["summary_runs.csv"])
    assert len(runs) == 6 and runs["arch"].eq(ARCH).all()
    assert runs[runs.ranking == "ntk"]["seed"].tolist() == [0, 1, 2, 3]
    assert runs["setting"].eq("search.repeats=3").all()  # seed, ranking, dataset, paths and device are not a setting

    agg = pd.read_csv(written["summary.csv"]).set_index("ranking")
    # ntk: 93, 94, 92, 93 -> mean 93, sample std sqrt(2/3)
    assert agg.loc["ntk", "runs"] == 4 and agg.loc["ntk", "seeds"] == "0,1,2,3"
    assert agg.loc["ntk", "cifar10_mean"] == pytest.approx(93.0)
    assert agg.loc["ntk", "cifar10_std"] == pytest.approx(math.sqrt(2 / 3))
    assert agg.loc["ntk", "ImageNet16-120_mean"] == pytest.approx(43.0)
    assert agg.loc["ntk", "search_s_mean"] == pytest.approx(101.5)
    assert agg.loc["te_nas", "cifar100_mean"] == pytest.approx(74.0) and agg.loc["te_nas", "cifar100_std"] == 0

    md = re.sub(r" +", " ", written["summary.md"].read_text())  # cells are padded to the column width
    assert agg.loc["ntk", "searched_for"] == "cifar100" and agg.loc["ntk", "test_accuracy_mean"] == pytest.approx(73.0)
    assert "| ntk | npz | cifar100 | search.repeats=3 | 4 | 73.00 ± 0.82 | 93.00 ± 0.82 | 73.00 ± 0.82 | 43.00 ± 0.82 | 101.5 |" in md
    assert "| te_nas | npz | cifar100 | search.repeats=3 | 2 | 74.00 ± 0.00 | 94.00 ± 0.00 |" in md
    assert "\\|nor_conv_3x3~0\\|" in md  # pipes of architecture strings are escaped in Markdown cells
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.mark.parametrize("name", list_spaces())
def test_search_table_shows_the_genotype_each_space_writes(tmp_path, name):
    """genotype.json as tenas.search writes it for every registered space: the run's arch is the genotype's one-line text."""
    space = get_space(name)
    genotype = space.genotype(space.random_single_path(torch.Generator().manual_seed(0)))
    payload = {"search_space": name, **space.genotype_to_json(genotype), "seed": 0, "dataset": "npz", "ranking": "ntk", "wall_time_s": 1.0}
    write_job(tmp_path, "0-seed0", payload, ["seed=0"], "genotype.json")
    runs = pd.read_csv(summarize.summarize(tmp_path)["summary_runs.csv"])
    assert runs["arch"].tolist() == [space.genotype_text(genotype)]


def study_result(overrides, C, tau):
    """correlations.json as tenas.evaluate writes it (its identity from the study's config), with made-up correlations."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="evaluate", overrides=overrides)
    return {
        **study_identity(cfg, study_recipes(cfg)), "num_archs": 100, "seconds_per_arch": 0.5 * C, "device": "cpu",
        "correlations": {"ntk": {ds: {"kendall_tau": tau, "spearman_rho": 1.4 * tau, "n": 100} for ds in ("cifar10", "cifar100", "ImageNet16-120")}},
    }


def test_study_table_and_cli(tmp_path):
    for num, (C, tau) in enumerate([(3, -0.26), (8, -0.37)]):
        overrides = [f"+proxy.ntk.network.C={C}", "compute.workers=4"]
        write_job(tmp_path, f"{num}-C{C}", study_result(overrides + ["study.proxies=[ntk]"], C, tau), overrides, "correlations.json")
    proc = subprocess.run([sys.executable, "scripts/summarize.py", str(tmp_path), "--out", str(tmp_path / "out")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    table = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert table["ntk.network.C"].tolist() == [3, 8] and table["setting"].tolist() == ["+proxy.ntk.network.C=3", "+proxy.ntk.network.C=8"]
    assert table["ntk.inputs.batch_size"].tolist() == [32, 32]
    assert table["tau_ntk_cifar10"].tolist() == [-0.26, -0.37]
    assert table["rho_ntk_cifar100"].tolist() == pytest.approx([-0.364, -0.518])
    assert table["s_per_arch"].tolist() == [1.5, 4.0]
    assert "Kendall τ" in proc.stdout and "| 1-C8 |" in re.sub(r" +", " ", proc.stdout)


def test_not_a_multirun_folder(tmp_path):
    proc = subprocess.run([sys.executable, "scripts/summarize.py", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "no */genotype.json or */correlations.json" in proc.stderr
