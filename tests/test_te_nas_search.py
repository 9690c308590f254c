"""A TE-NAS search (κ and #linear regions) end to end on the shared CIFAR-10 sample, and on a GPU."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.nasbench201 import parse_arch
from tenas import CONF_DIR
from tenas.search import report, run_search
from tests.conftest import REPO
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def test_te_nas_search_on_the_shared_cifar10_sample(cifar10_npz, nb201_csv, tmp_path):
    # one repeat instead of three keeps the test under a minute; everything else is the default search
    cfg = compose_search(["ranking=te_nas", "dataset=npz", f"dataset.path={cifar10_npz}", f"benchmark.path={nb201_csv}", "search.repeats=1"])
    result = run_search(cfg, tmp_path)
    written = (tmp_path / "config.yaml").read_text()  # the resolved protocol of each proxy is written with the run
    assert "linear_regions:" in written and "crop_size: 3" in written and "kind: crops" in written
    arch = result["arch"]
    parse_arch(arch)
    table = pd.read_csv(nb201_csv).set_index("arch_str")
    assert result["test_accuracies"]["cifar10"] == pytest.approx(table.loc[arch, "cifar10_test"])
    assert result["test_accuracies"]["cifar10"] > table["cifar10_test"].mean()
    assert f"architecture: {arch}" in report(result) and "ImageNet16-120 test accuracy" in report(result)
    assert result["ranking"] == "te_nas" and set(result["indicator_seconds"]) == {"ntk", "linear_regions"}
    assert json.loads((tmp_path / "genotype.json").read_text())["arch"] == arch

    rounds = pd.read_csv(tmp_path / "candidates.csv")
    assert len(rounds) == 24 + 18 + 12
    for name in ("ntk", "linear_regions"):
        assert {name, f"{name}_origin", f"delta_{name}", f"mean_delta_{name}", f"rank_{name}"} <= set(rounds.columns)
    assert (rounds["importance"] == rounds["rank_ntk"] + rounds["rank_linear_regions"]).all()
    assert (rounds["linear_regions"] > 1).all() and (rounds["linear_regions"] <= 3000).all()
    # on every edge of every round the pruned op has the lowest rank sum (the first one on ties)
    for _, edge in rounds.groupby(["round", "edge"]):
        assert edge["pruned"].sum() == 1
        assert edge.loc[edge["pruned"], "op"].item() == edge.loc[edge["importance"].idxmin(), "op"]
    # the rounds replay to the found architecture
    space = get_space("nasbench201")
    alive = space.full_alive_set().without_op_everywhere("none")
    for row in rounds[rounds["pruned"]].itertuples():
        alive = alive.without(row.cell_type, row.edge, row.op)
    assert space.genotype(alive) == arch


@pytest.mark.parametrize("setting, message", [
    ("inputs.batch_size=0", "proxy.linear_regions.inputs.batch_size: 0 is not a positive integer"),
    ("inputs.crop_size=40", r"proxy.linear_regions.inputs.crop_size: 40 must be an integer from 1 to 32"),
    ("inputs.kind=pixels", "proxy.linear_regions.inputs.kind: 'pixels' is not one of"),
])
def test_bad_linear_region_settings_fail_before_the_search_with_one_line(setting, message, tmp_path):
    from tenas.errors import TenasError

    cfg = compose_search(["ranking=te_nas", "dataset=synthetic", "dataset.num_samples=64", f"+proxy.linear_regions.{setting}"])
    with pytest.raises(TenasError, match=message):
        run_search(cfg, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (device=cuda)")
def test_te_nas_search_runs_on_cuda_and_agrees_with_the_cpu(tmp_path):
    small = ["ranking=te_nas", "dataset=synthetic", "dataset.num_samples=256", "search.repeats=1", "+proxy.ntk.inputs.batch_size=16",
             "+proxy.linear_regions.inputs.batch_size=200"]
    on_gpu = run_search(compose_search(small + ["device=cuda"]), tmp_path / "gpu")
    assert on_gpu["device"].startswith("cuda")
    parse_arch(on_gpu["arch"])
    # the same κ and #LR on both devices for one alive-set
    from tenas.data import synthetic
    from tenas.scoring import ProxyIndicator, ScoringRecipe

    space, data = get_space("nasbench201"), synthetic(256)
    alive = [space.full_alive_set().without_op_everywhere("none")]
    scores = {}
    for device in ("cpu", "cuda"):
        ntk = ProxyIndicator(ScoringRecipe.load("ntk", {"inputs": {"batch_size": 16}}), space, data, device)
        regions = ProxyIndicator(ScoringRecipe.load("linear_regions", {"inputs": {"batch_size": 200}}), space, data, device)
        ntk.new_repeat(torch.Generator().manual_seed(0))
        regions.new_repeat(torch.Generator().manual_seed(0))
        scores[device] = (ntk.score(alive)[0], regions.score(alive)[0])
    assert scores["cuda"][0] == pytest.approx(scores["cpu"][0], rel=1e-3)
    assert abs(scores["cuda"][1] - scores["cpu"][1]) <= 0.01 * scores["cpu"][1]
    assert np.isfinite(scores["cuda"][0])
