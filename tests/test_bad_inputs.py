"""Every bad setting or input file stops tenas.search / tenas.evaluate / tenas.train before any work and any output:
one line ``error: <setting>: <what is wrong and what is allowed>``, exit code 1, within seconds (each room checks its own settings: tenas/schema.py).

The contents of bad .npz files are tested at load in tests/test_data_validation.py; here a few of them only show
that the entry points report them against ``dataset.path`` before writing anything.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tenas import CONF_DIR
from tenas.errors import TenasError
from tests.conftest import REPO, shared_file

NB201_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SYNTH = ["dataset=synthetic", "dataset.num_samples=64", "device=cpu"]
SMALL = ["dataset=synthetic", "dataset.image_size=8", "dataset.num_samples=64", "device=cpu"]


# ----------------------------------------------------------------------------- files the table refers to
def _npz(path, x, y):
    np.savez(path, x=x, y=y)


def make_files(tmp):
    """Bad (and good) inputs under ``tmp``; the table names them as {name}."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    y = np.arange(16) % 3
    (tmp / "text.npz").write_text("this is a text file, not an npz\n")
    _npz(tmp / "float.npz", x.astype(np.float32), y)
    _npz(tmp / "shape.npz", x[:, :, :, :, None], y)
    _npz(tmp / "labels.npz", x, np.where(y == 2, 7, y))
    _npz(tmp / "empty.npz", x[:0], y[:0])
    (tmp / "genotype.json").write_text(json.dumps({"search_space": "nasbench201", "arch": NB201_ARCH}))
    (tmp / "garbage.json").write_text("not a genotype at all\n")
    return {name: tmp / name for name in ("text.npz", "float.npz", "shape.npz", "labels.npz", "empty.npz", "genotype.json", "garbage.json")}


def set_strategy(cfg):
    OmegaConf.set_struct(cfg, False)
    cfg.strategy = "no_such_strategy"


# ----------------------------------------------------------------------------- the table
# (entry point, overrides, setting the error names, run through the CLI?, change to the composed config)
# {bench} = the shared NAS-Bench-201 CSV, {tmp}/{file.npz} = files made by make_files.
CASES = {
    # tenas.search: numbers
    "search_repeats_0": ("search", ["search.repeats=0"], "search.repeats", True, None),
    "search_repeats_bool": ("search", ["search.repeats=true"], "search.repeats", False, None),
    "search_repeats_float": ("search", ["search.repeats=1.5"], "search.repeats", False, None),
    "ntk_batch_negative": ("search", ["+proxy.ntk.inputs.batch_size=-3"], "proxy.ntk.inputs.batch_size", True, None),
    "ntk_batch_1": ("search", ["+proxy.ntk.inputs.batch_size=1"], "proxy.ntk.inputs.batch_size", False, None),
    "ntk_batch_over_dataset": ("search", ["+proxy.ntk.inputs.batch_size=65"], "proxy.ntk.inputs.batch_size", False, None),
    "ntk_chunk_0": ("search", ["+search_space.proxy.ntk.options.chunk_size=0"], "proxy.ntk.options.chunk_size", False, None),
    "crop_too_large": ("search", ["ranking=te_nas", "+proxy.linear_regions.inputs.crop_size=33"], "proxy.linear_regions.inputs.crop_size", False, None),
    "ops_per_edge_0": ("search", ["search_space.ops_per_edge=0"], "search_space.ops_per_edge", False, None),
    "C_0": ("search", ["search_space.C=0"], "search_space.C", False, None),
    "N_negative": ("search", ["search_space.N=-1"], "search_space.N", False, None),
    "darts_cells_bad": ("search", ["search_space=darts", "search_space.cells=[normal,middle]"], "search_space.cells", False, None),
    "threads_0": ("search", ["compute.threads=0"], "compute.threads", False, None),
    "workers_0": ("search", ["compute.workers=0"], "compute.workers", False, None),
    "old_workers_key": ("search", ["+search.workers=2"], "search.workers", False, None),
    "unknown_compute_key": ("search", ["+compute.num_threads=2"], "compute.num_threads", False, None),
    "unknown_search_space_key": ("search", ["+search_space.width=2"], "search_space.width", False, None),
    "darts_has_no_N": ("search", ["search_space=darts", "+proxy.ntk.network.N=2"], "proxy.ntk.network.N", False, None),
    "reference_batch_str": ("search", ["search_space.reference_ntk_batch_size=big"], "search_space.reference_ntk_batch_size", False, None),
    "synthetic_samples_0": ("search", ["dataset.num_samples=0"], "dataset.num_samples", False, None),
    "old_batch_size_key": ("search", ["+search.batch_size=1"], "search.batch_size", False, None),
    "benchmark_dataset_unknown": ("search", ["benchmark.dataset=imagenet"], "benchmark.dataset", True, None),
    "benchmark_dataset_fewer_classes": ("search", ["dataset.num_classes=200", "benchmark.dataset=cifar100"], "benchmark.dataset", True, None),
    "benchmark_dataset_cifar10_of_imagenet16": ("search", ["dataset.num_classes=120", "benchmark.dataset=cifar10"], "benchmark.dataset", False, None),
    "benchmark_dataset_darts": ("search", ["search_space=darts", "benchmark.dataset=cifar10"], "benchmark.dataset", False, None),
    "evolve_parents_3": ("search", ["strategy=evolve", "strategy.parents=3"], "strategy.parents", True, None),
    "evolve_crossover_one_parent": ("search", ["strategy=evolve", "strategy.crossover=true"], "strategy.crossover", False, None),
    "evolve_budget_0": ("search", ["strategy=evolve", "strategy.budget=0"], "strategy.budget", False, None),
    "evolve_unknown_key": ("search", ["strategy=evolve", "+strategy.tournament=3"], "strategy.tournament", False, None),
    "limit_flops_negative": ("search", ["strategy=sample", "search.limits.flops=-1"], "search.limits.flops", False, None),
    "limit_unknown": ("search", ["+search.limits.macs=3"], "search.limits.macs", False, None),
    "limit_unreachable": ("search", ["strategy=sample", "search.limits.params=0.001"], "search.limits.params", False, None),
    "limit_unreachable_by_pruning": ("search", ["search.limits.flops=5"], "search.limits.flops", False, None),
    "objectives_without_merit": ("search", ["strategy=sample", "search.objectives=[flops]"], "search.objectives", False, None),
    "objectives_unknown_cost": ("search", ["strategy=sample", "search.objectives=[merit,energy]"], "search.objectives", False, None),
    "objectives_with_prune": ("search", ["search.objectives=[merit,flops]"], "search.objectives", False, None),
    "front_pick_unknown": ("search", ["search.front_pick=middle"], "search.front_pick", False, None),
    "scorer_unknown_key": ("search", ["+scorer.path=t.csv"], "scorer.path", False, None),
    "freerea_budget_str": ("search", ["+experiment=freerea", "strategy.budget=many"], "strategy.budget", False, None),
    # tenas.search: names
    "unknown_proxy_in_ranking": ("search", ["ranking.proxies=[no_such_proxy]"], "ranking.proxies", False, None),
    "unknown_proxy_changed": ("search", ["+proxy.no_such_proxy.inputs.batch_size=4"], "proxy.no_such_proxy", False, None),
    "unknown_proxy_key": ("search", ["+proxy.ntk.inputs.batchsize=4"], "proxy.ntk.inputs.batchsize", False, None),
    "unknown_aggregation": ("search", ["ranking.aggregation=mean"], "ranking.aggregation", False, None),
    "unknown_rank_ties": ("search", ["protocol.rank_ties=x"], "protocol.rank_ties", False, None),
    "unknown_schedule": ("search", ["+proxy.ntk.schedule.weights=sometimes"], "proxy.ntk.schedule.weights", False, None),
    "unknown_device": ("search", ["device=tpu"], "device", True, None),
    "unknown_search_space": ("search", ["search_space.name=no_such_space"], "search_space.name", False, None),
    "unknown_dataset": ("search", ["dataset.name=no_such_dataset"], "dataset.name", False, None),
    "unknown_strategy": ("search", [], "strategy", False, set_strategy),
    # tenas.search: files
    "benchmark_etc_passwd": ("search", ["benchmark.path=/etc/passwd"], "benchmark.path", True, None),
    "benchmark_missing": ("search", ["benchmark.path={tmp}/missing.csv"], "benchmark.path", False, None),
    "benchmark_darts": ("search", ["search_space=darts", "benchmark.path={bench}"], "benchmark.path", False, None),
    "dataset_missing": ("search", ["dataset=npz", "dataset.path={tmp}/missing.npz"], "dataset.path", True, None),
    "dataset_text_file": ("search", ["dataset=npz", "dataset.path={text}"], "dataset.path", False, None),
    "dataset_wrong_dtype": ("search", ["dataset=npz", "dataset.path={float}"], "dataset.path", False, None),
    "dataset_wrong_shape": ("search", ["dataset=npz", "dataset.path={shape}"], "dataset.path", False, None),
    "dataset_labels_out_of_range": ("search", ["dataset=npz", "dataset.path={labels}", "dataset.num_classes=3"], "dataset.path", False, None),
    "dataset_empty": ("search", ["dataset=npz", "dataset.path={empty}"], "dataset.path", False, None),
    # tenas.evaluate
    "study_num_archs_0": ("study", ["study.num_archs=0"], "study.num_archs", True, None),
    "study_repeats_0": ("study", ["study.repeats=0"], "study.repeats", False, None),
    "study_workers_0": ("study", ["compute.workers=0"], "compute.workers", False, None),
    "study_threads_0": ("study", ["compute.threads=0"], "compute.threads", False, None),
    "study_old_threads_key": ("study", ["+compute.num_threads=1"], "compute.num_threads", False, None),
    "study_unknown_proxy": ("study", ["study.proxies=[no_such_proxy]"], "study.proxies", False, None),
    "study_empty_proxies": ("study", ["study.proxies=[]"], "study.proxies", False, None),
    "study_ntk_batch_1_via_ranking": ("study", ["ranking=ntk", "+proxy.ntk.inputs.batch_size=1"], "proxy.ntk.inputs.batch_size", False, None),
    "study_no_benchmark": ("study", ["benchmark.path=null"], "benchmark.path", False, None),
    "study_benchmark_text": ("study", ["benchmark.path={text}"], "benchmark.path", False, None),
    "study_benchmark_dataset_fewer_classes": ("study", ["dataset.num_classes=50", "benchmark.dataset=cifar10"], "benchmark.dataset", False, None),
    "study_dataset_missing": ("study", ["dataset=npz", "dataset.path={tmp}/missing.npz"], "dataset.path", False, None),
    # tenas.train
    "train_epochs_0": ("train", ["trainer.epochs=0"], "trainer.epochs", True, None),
    "train_lr_negative": ("train", ["trainer.lr=-0.1"], "trainer.lr", False, None),
    "train_drop_path_1_5": ("train", ["trainer.drop_path=1.5"], "trainer.drop_path", False, None),
    "train_eval_batch_0": ("train", ["trainer.eval_batch_size=0"], "trainer.eval_batch_size", False, None),
    "train_batch_size_0": ("train", ["trainer.batch_size=0"], "trainer.batch_size", False, None),
    "train_max_steps_0": ("train", ["trainer.max_steps=0"], "trainer.max_steps", False, None),
    "train_checkpoint_every_str": ("train", ["trainer.checkpoint_every=often"], "trainer.checkpoint_every", False, None),
    "train_unknown_recipe": ("train", ["recipe=no_such_recipe"], "recipe", False, None),
    "train_genotype_missing": ("train", ["genotype={tmp}/missing.json"], "genotype", False, None),
    "train_genotype_garbage": ("train", ["genotype={garbage}"], "genotype", False, None),
    "train_dataset_wrong_dtype": ("train", ["dataset=npz", "dataset.path={float}"], "dataset.path", False, None),
    "train_device_unknown": ("train", ["device=gpu0"], "device", False, None),
}

ENTRY = {
    "search": ("search", "tenas.search", lambda: SYNTH, "tenas.search:run_search"),
    "study": ("evaluate", "tenas.evaluate", lambda: SMALL + ["study.proxies=[ntk]", "study.num_archs=5", "benchmark.path={bench}"], "tenas.evaluate:run_study"),
    "train": ("train", "tenas.train", lambda: SYNTH + ["genotype={genotype}"], "tenas.train:run_training"),
}

#: What Hydra itself puts into the run folder before any tenas code runs (its .hydra/ copy of the config and the job log).
HYDRA_OWN = {".hydra"}


def overrides_for(entry, overrides, tmp, files):
    base = ENTRY[entry][2]()
    if any(o.startswith("dataset=") for o in overrides):  # another dataset: none of the base's dataset settings
        base = [o for o in base if not o.startswith("dataset")]
    names = {"tmp": str(tmp), "bench": None, **{k.split(".")[0]: str(v) for k, v in files.items()}}
    text = " ".join(base + overrides)
    if "{bench}" in text:
        names["bench"] = str(shared_file("nb201/nb201_hp200_test_acc.csv"))
    return [o.format(**names) for o in base + overrides]


def _function(entry):
    module, name = ENTRY[entry][3].split(":")
    return getattr(__import__(module, fromlist=[name]), name)


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_before_any_work_with_one_line(case, tmp_path):
    entry, overrides, setting, via_cli, change = CASES[case]
    files = make_files(tmp_path)
    args = overrides_for(entry, overrides, tmp_path, files)
    run_dir = tmp_path / "run"
    t0 = time.perf_counter()
    if via_cli:
        proc = subprocess.run([sys.executable, "-m", ENTRY[entry][1], *args, f"hydra.run.dir={run_dir}"],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0, proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith(f"error: {setting}: "), lines[0]
        left = {p.name for p in run_dir.iterdir()} if run_dir.exists() else set()
        assert left <= HYDRA_OWN | {f"{ENTRY[entry][1].split('.')[1]}.log"}, left  # no config.yaml, no output of tenas
    else:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=ENTRY[entry][0], overrides=args)
        if change:
            change(cfg)
        with pytest.raises(TenasError) as err:
            _function(entry)(cfg, run_dir)
        message = str(err.value)
        assert "\n" not in message
        assert message.startswith(f"{setting}: "), message
        assert not run_dir.exists()
    assert time.perf_counter() - t0 < 30  # seconds, not a search (the CLI's share is mostly Python and torch imports)


@pytest.mark.parametrize("module, override, message", [
    ("tenas.search", "search.workers=2", "search.workers: unknown setting (not in the config)"),  # a key of an earlier layout
    ("tenas.evaluate", "compute.num_threads=1", "compute.num_threads: unknown setting (not in the config)"),
    ("tenas.search", "ranking=nope", "ranking: no option 'nope'; allowed: az_nas, ensemble"),
    ("tenas.train", "seed=[1", "seed: cannot parse 'seed=[1'"),
])
def test_what_hydra_refuses_is_one_line_before_any_work(tmp_path, module, override, message):
    """Hydra refuses a key its config lacks, a group option that does not exist and an override it cannot parse;
    tenas says so in one line, before Hydra runs or anything is written."""
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", module, override, f"hydra.run.dir={run_dir}"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr
    assert proc.stderr.startswith(f"error: {message}"), proc.stderr
    assert not run_dir.exists()


def test_the_table_is_large_and_spans_the_three_entry_points():
    assert len(CASES) >= 20
    assert {entry for entry, *_ in CASES.values()} == {"search", "study", "train"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="cuda is a valid device on this machine")
def test_cuda_without_cuda_is_refused_before_any_work(tmp_path):
    from tenas.search import run_search

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="search", overrides=[*SYNTH[:-1], "device=cuda"])
    with pytest.raises(TenasError, match=r"^device: cuda requested but CUDA is not available"):
        run_search(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_good_settings_pass_the_checks_quickly(tmp_path):
    """The defaults with small data pass every check, in seconds (no search is run)."""
    from tenas.search import prepare_search
    from tenas.study.settings import prepare_study
    from tenas.train import prepare_training

    files = make_files(tmp_path)
    for entry, check in (("search", prepare_search), ("study", prepare_study), ("train", prepare_training)):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name=ENTRY[entry][0], overrides=overrides_for(entry, [], tmp_path, files))
        t0 = time.perf_counter()
        check(cfg)
        assert time.perf_counter() - t0 < 10, entry
