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
from tenas.errors import TenasError
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
    rounds = pd.read_csv(tmp_path / "candidates.csv")
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


# ----------------------------------------------------------------------------- a strategy registered here alone
def fewest_convolutions(run, settings):
    """Toy strategy: of ``settings["tries"]`` random architectures (no proxy scored), the one with the fewest
    nor_conv_3x3, with a per-candidate table."""
    from tenas.strategies import StrategyResult

    generator = torch.Generator().manual_seed(run.seed)
    drawn = [run.space.random_single_path(generator) for _ in range(settings["tries"])]
    texts = [run.space.arch_text(alive) for alive in drawn]
    convs = [text.count("nor_conv_3x3") for text in texts]
    best = int(np.argmin(convs))
    frame = pd.DataFrame({"arch": texts, "convs": convs, "chosen": [i == best for i in range(len(texts))]})
    return StrategyResult(drawn[best], frame, {"toy": settings, "convs": convs[best]})


@pytest.fixture
def toy_strategy():
    from hydra.core.config_store import ConfigStore

    from tenas.schema import Setting
    from tenas.strategies import STRATEGIES, register_strategy

    register_strategy("toy", settings=(Setting("tries", "int", 1, default=5),))(fewest_convolutions)
    yield "toy"
    del STRATEGIES["toy"]
    del ConfigStore.instance().repo["strategy"]["toy.yaml"]


def test_a_strategy_registered_in_a_test_file_runs_a_search(toy_strategy, nb201_csv, tmp_path):
    cfg = compose_config("search", ["dataset=synthetic", "dataset.image_size=8", "dataset.num_samples=64", "device=cpu",
                                    "strategy=toy", "strategy.tries=9", f"benchmark.path={nb201_csv}"])
    result = run_search(cfg, tmp_path)
    frame = pd.read_csv(tmp_path / "candidates.csv")  # the one table every strategy writes, with the benchmark's accuracies
    assert len(frame) == 9 and {"arch", "cifar10_test", "convs"} <= set(frame.columns)
    assert result["strategy"] == "toy" and result["toy"] == {"tries": 9} and result["arch"] == frame.arch[frame.chosen].item()
    assert result["convs"] == frame.convs.min() and result["test_accuracy"] == frame.cifar10_test[frame.chosen].item()
    assert "tries: 9" in (tmp_path / "config.yaml").read_text()
    from tenas.search import prepare_search

    for bad, key in ((["strategy.tries=0"], "strategy.tries"), (["+strategy.typo=1"], "strategy.typo")):
        with pytest.raises(TenasError, match=f"^{key}: "):
            prepare_search(compose_config("search", ["dataset=synthetic", "strategy=toy", *bad]))
