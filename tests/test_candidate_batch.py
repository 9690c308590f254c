"""``compute.candidate_batch``: many candidates of a round scored in one batched computation
(an op-masked supernet under ``vmap``) give the scores of one candidate at a time."""
import math

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space, list_spaces
from tenas import CONF_DIR
from tenas.data import synthetic
from tenas.errors import TenasError
from tenas.init import initialise
from tenas.proxies import PROXIES
from tenas.scoring import ProxyIndicator, ScoringRecipe
from tenas.search import run_search
from tenas.search import prepare_search
from tests.conftest import REPO
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)

MASKED_SPACES = [name for name in list_spaces() if get_space(name).build_supernet(num_classes=10).supports_op_masks]
BATCHED_PROXIES = sorted(name for name, proxy in PROXIES.items() if proxy.batched is not None)


def test_some_space_and_some_proxy_have_the_batched_form():
    assert "nasbench201" in MASKED_SPACES and "ntk" in BATCHED_PROXIES


def candidates(space, alive):
    """The round-1 candidates (every op removed in turn) and an alive-set with one edge switched off entirely."""
    edges = space.edges_per_cell()
    trial = [alive.without(c, e, op) for c, n in edges.items() for e in range(n) for op in alive.alive_ops(c, e)]
    return [alive] + trial[:7] + [alive.without(next(iter(edges)), 0)]


@pytest.mark.parametrize("space_name", MASKED_SPACES)
def test_a_masked_forward_is_the_forward_under_the_alive_set(space_name):
    space = get_space(space_name)
    net = space.build_supernet(num_classes=10).train()
    initialise(net, "kaiming", torch.Generator().manual_seed(0))
    x = torch.randn(6, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    for alive in candidates(space, space.full_alive_set()):
        with net.trying(alive):
            expected = net(x)
        with net.masked(net.op_mask(alive)):
            got = net(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("proxy", BATCHED_PROXIES)
@pytest.mark.parametrize("space_name", MASKED_SPACES)
def test_batched_candidate_scores_equal_one_at_a_time(space_name, proxy):
    space = get_space(space_name)
    data = synthetic(64, image_size=16, seed=0)
    recipe = ScoringRecipe.load(proxy, {"inputs": {"batch_size": 8}})
    one = ProxyIndicator(recipe, space, data)
    batched = ProxyIndicator(recipe, space, data, candidate_batch=4)
    assert (one.candidate_batch, batched.candidate_batch) == (1, 4)
    alive_sets = candidates(space, space.full_alive_set())
    for seed in range(2):
        one.new_repeat(torch.Generator().manual_seed(seed))
        batched.new_repeat(torch.Generator().manual_seed(seed))
        expected = one.score(alive_sets)
        got = batched.score(alive_sets)
        assert len(set(expected)) == len(expected)  # the candidates differ, so a mix-up would show
        for g, e in zip(got, expected):
            assert math.isfinite(g) and abs(g - e) <= 1e-4 * abs(e)


def test_a_proxy_without_the_batched_form_is_scored_one_at_a_time():
    space = get_space("nasbench201")
    indicator = ProxyIndicator(ScoringRecipe.load("synflow"), space, synthetic(16, image_size=16, seed=0), candidate_batch=8)
    assert indicator.candidate_batch == 1


SMALL = ["dataset=synthetic", "dataset.num_samples=64", "device=cpu", "search_space.C=2", "search.repeats=1",
         "+proxy.ntk.inputs.batch_size=8", "ranking=te_nas", "+proxy.linear_regions.inputs.batch_size=100", "compute.workers=1"]


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def test_a_batched_search_finds_the_search_of_one_at_a_time(tmp_path):
    one = run_search(compose_search(SMALL), tmp_path / "one")
    batched = run_search(compose_search(SMALL + ["compute.candidate_batch=30"]), tmp_path / "batched")
    assert batched["arch"] == one["arch"]
    a, b = pd.read_csv(tmp_path / "one" / "candidates.csv"), pd.read_csv(tmp_path / "batched" / "candidates.csv")
    kappa = [c for c in a.columns if "ntk" in c and "rank" not in c]  # κ, its origin, Δ and mean Δ: equal up to rounding
    assert set(kappa) == {"ntk", "ntk_origin", "delta_ntk", "mean_delta_ntk"}
    pd.testing.assert_frame_equal(a.drop(columns=kappa), b.drop(columns=kappa))  # #LR and every rank: equal
    pd.testing.assert_series_equal(a["ntk"], b["ntk"], rtol=1e-4)
    pd.testing.assert_series_equal(a["ntk_origin"], b["ntk_origin"], rtol=1e-4)
    for column in ("delta_ntk", "mean_delta_ntk"):  # a relative change: an error of 1e-4 in κ moves it by at most ~2e-4
        pd.testing.assert_series_equal(a[column], b[column], rtol=0, atol=2e-4)


@pytest.mark.parametrize("value", ["0", "-2", "1.5", "true"])
def test_bad_candidate_batches_are_refused_with_one_line(value):
    with pytest.raises(TenasError, match=r"^compute\.candidate_batch: got .*; allowed: an integer >= 1") as caught:
        prepare_search(compose_search(SMALL + [f"compute.candidate_batch={value}"]))
    assert "\n" not in str(caught.value)


def test_batched_candidates_with_several_workers_are_refused():
    with pytest.raises(TenasError, match=r"^compute\.candidate_batch: .*compute\.workers=1"):
        prepare_search(compose_search(SMALL[:-1] + ["compute.workers=2", "compute.candidate_batch=8"]))
