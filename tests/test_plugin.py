"""The plugin contract: a proxy registered in this file alone (no tenas code, no config file) runs a
search and a study, configured through ``+proxy.<name>`` overrides."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces.nasbench201 import parse_arch
from tenas import CONF_DIR
from tenas.evaluate import run_study
from tenas.proxies import PROXIES, register_proxy
from tenas.search import run_search
from tests.conftest import REPO
from tests.test_evaluate import write_fake_table


def output_energy(model, inputs, *, targets, scale: float = 1.0):
    """Toy proxy: mean squared logit times ``scale``, minus the cross-entropy on ``targets``."""
    with torch.no_grad():
        out = model(inputs)
        return scale * float(out.pow(2).mean()) - float(torch.nn.functional.cross_entropy(out, targets))


@pytest.fixture
def toy_proxy():
    register_proxy("toy", higher_is_better=True, needs_targets=True)(output_energy)
    yield "toy"
    del PROXIES["toy"]


def compose_config(name, overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


TOY = ["dataset=synthetic", "dataset.image_size=8", "dataset.num_samples=64", "device=cpu",
       "+proxy.toy.network.C=2", "+proxy.toy.inputs.batch_size=6", "+proxy.toy.options.scale=2.0"]


def test_a_proxy_registered_in_a_test_file_runs_a_search(toy_proxy, tmp_path):
    cfg = compose_config("search", TOY + ["ranking.name=toy", "ranking.proxies=[toy]", "search.repeats=1"])
    result = run_search(cfg, tmp_path)
    parse_arch(result["arch"])
    rounds = pd.read_csv(tmp_path / "rounds.csv")
    assert {"toy", "toy_origin", "delta_toy", "mean_delta_toy", "rank_toy"} <= set(rounds.columns)
    assert len(rounds) == 24 + 18 + 12 and np.isfinite(rounds["toy"]).all()
    assert set(result["indicator_seconds"]) == {"toy"}
    written = (tmp_path / "config.yaml").read_text()
    assert "scale: 2.0" in written and "batch_size: 6" in written  # its resolved protocol is written with the run
    # on every edge the op whose removal raises the toy score most (lowest Δ, higher is better) is pruned
    for _, edge in rounds.groupby(["round", "edge"]):
        assert edge.loc[edge["pruned"], "op"].item() == edge.loc[edge["mean_delta_toy"].idxmin(), "op"]


def test_a_proxy_registered_in_a_test_file_runs_a_study(toy_proxy, tmp_path):
    table = tmp_path / "bench.csv"
    write_fake_table(table, rows=6)
    cfg = compose_config("evaluate", TOY + [f"benchmark.path={table}", "study.num_archs=6", "study.proxies=[toy]"])
    result = run_study(cfg, tmp_path / "study")
    scores = pd.read_csv(tmp_path / "study" / "scores.csv")
    assert len(scores) == 6 and np.isfinite(scores["toy"]).all() and scores["toy"].nunique() > 1
    assert set(result["correlations"]) == {"toy"}
    assert json.loads((tmp_path / "study" / "study.json").read_text())["proxy"]["toy"]["options"] == {"scale": 2.0}
