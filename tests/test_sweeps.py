"""Config groups and launcher presets compose; a 2-job joblib sweep of the search runs and summarizes."""
import json
import subprocess
import sys

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tenas import CONF_DIR
from tests.conftest import REPO, SHARED_DATA

CONF = CONF_DIR
# conf/proxy holds proxy protocols read at run time (tenas.proxies.proxy_settings), not a Hydra group;
# conf/experiment holds presets over the whole config, added with +experiment=NAME
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in ("hydra", "proxy", "experiment"))


def compose_config(name, overrides, hydra_config=False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=overrides, return_hydra_config=hydra_config)


@pytest.mark.parametrize("group,option", [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))])
def test_every_search_config_group_option_composes(group, option):
    cfg = compose_config("search", [f"{group}={option}"])
    assert cfg[group.replace("/", ".")].name == option
    # every value resolves except mandatory user inputs (???), e.g. dataset.path of npz
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_preset_composes_and_holds_only_deltas(option):
    plain = OmegaConf.to_container(compose_config("search", []), resolve=False)
    cfg = compose_config("search", [f"+experiment={option}"])
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    preset = OmegaConf.load(CONF / "experiment" / f"{option}.yaml")
    assert preset.get("defaults"), "a preset chooses group options"
    for section, values in preset.items():  # every value it sets exists in the plain config and changes it
        if section in ("defaults", "hydra"):
            continue
        for key, value in values.items():
            assert key in plain[section] or section == "strategy", f"{section}.{key} is not a search setting"
            assert cfg[section][key] == value


@pytest.mark.parametrize("option", sorted(p.stem for p in (CONF / "dataset").glob("*.yaml")))
def test_evaluate_composes_with_every_dataset(option):
    cfg = compose_config("evaluate", [f"dataset={option}", "benchmark.path=table.csv"], hydra_config=True)
    assert cfg.dataset.name == option and cfg.study.proxies
    assert str(cfg.hydra.run.dir).startswith(f"results/evaluate/nasbench201-{option}/K1000-seed0-r1")


def test_launcher_presets():
    local = compose_config("search", ["hydra/launcher=local"], hydra_config=True).hydra.launcher
    assert local._target_.endswith("JoblibLauncher") and local.n_jobs == 4
    slurm = compose_config("search", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], hydra_config=True).hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher") and slurm.partition == "gpu"
    assert slurm.timeout_min > 0 and slurm.gpus_per_node == 1 and slurm.cpus_per_task and slurm.mem_gb and slurm.array_parallelism
    evaluate = compose_config("evaluate", ["hydra/launcher=local", "benchmark.path=x"], hydra_config=True).hydra
    assert evaluate.launcher._target_.endswith("JoblibLauncher") and evaluate.sweep.dir.startswith("results/multirun/evaluate-")


@pytest.mark.slow
def test_joblib_sweep_of_two_seeds_then_summary(tmp_path):
    sweep = tmp_path / "multirun"
    table = SHARED_DATA / "nb201" / "nb201_hp200_test_acc.csv"
    bench = [f"benchmark.path={table}"] if table.is_file() else []  # with the table, accuracies are looked up too
    proc = subprocess.run(
        [sys.executable, "-m", "tenas.search", "-m", "seed=0,1", "hydra/launcher=local", "hydra.launcher.n_jobs=2",
         "dataset=synthetic", "dataset.image_size=8", "dataset.num_samples=64", "+proxy.ntk.inputs.batch_size=4", "search.repeats=1",
         "search_space.C=2", "device=cpu", f"hydra.sweep.dir={sweep}", *bench],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Joblib.Parallel(n_jobs=2" in proc.stdout + proc.stderr
    results = {json.loads(p.read_text())["seed"]: p.parent.name for p in sweep.glob("*/genotype.json")}
    assert results == {0: "0-seed0", 1: "1-seed1"}
    for job in results.values():
        assert "seed: " in (sweep / job / "config.yaml").read_text()

    summary = subprocess.run([sys.executable, "scripts/summarize.py", str(sweep)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert summary.returncode == 0, summary.stderr
    runs = pd.read_csv(sweep / "summary_runs.csv")
    assert runs["seed"].tolist() == [0, 1] and runs["ranking"].eq("ntk").all()
    agg = pd.read_csv(sweep / "summary.csv")
    assert agg["runs"].tolist() == [2]
    if bench:
        assert runs["cifar10"].between(0, 100).all()
        assert agg["cifar10_mean"].iloc[0] == pytest.approx(runs["cifar10"].mean())
    assert "## Searches" in (sweep / "summary.md").read_text()
