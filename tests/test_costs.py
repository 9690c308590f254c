"""Costs, limits and fronts (tenas/costs.py, tenas/pareto.py, search.limits, search.objectives): the
non-dominated filter, NSGA-II's sorting and the hypervolume against brute force; costs of the benchmark
network measured once; limits on hand-built populations; the cheapest path against every path; each
strategy end to end under a limit and with two objectives."""
import itertools
import json

import numpy as np
import pandas as pd
import pytest
import torch

from search_spaces import get_space
from search_spaces.nasbench201 import OP_NAMES, parse_arch
from tenas.complexity import count_flops, count_parameters
from tenas.costs import COSTS, Cost, CostModel, Limits
from tenas.errors import TenasError
from tenas.pareto import crowding_distance, front_ranks, hypervolume_2d, knee, non_dominated, nsga_order
from tenas.strategies import STRATEGIES, draw_distinct
from tests.test_table import table_search, write_table
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)

SPACE = get_space("nasbench201")
ALL_SKIP = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ONE_CONV = "|nor_conv_3x3~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
ALL_CONV = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def points(seed, n=40, k=2):
    """Random points with many ties and repeats (integers), a repeated point and a NaN."""
    rng = np.random.default_rng(seed)
    p = rng.integers(0, 6, (n, k)).astype(np.float64)
    p[1] = p[0]
    p[2, 0] = np.nan
    return p


def brute_non_dominated(p):
    p = np.where(np.isnan(p), np.inf, p)
    return np.array([not any((q <= x).all() and (q < x).any() for q in p) for x in p])


# ----------------------------------------------------------------------------- fronts
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [2, 3])
def test_non_dominated_and_front_ranks_equal_brute_force(seed, k):
    p = points(seed, k=k)
    front = non_dominated(p)
    np.testing.assert_array_equal(front, brute_non_dominated(p))
    assert front[0] == front[1]  # equal points do not dominate each other
    ranks, left, r = front_ranks(p), np.arange(len(p)), 0
    while len(left):  # rank r = the front of what ranks below r leave
        layer = left[brute_non_dominated(p[left])]
        assert set(np.flatnonzero(ranks == r)) == set(layer)
        left, r = np.setdiff1d(left, layer), r + 1


def test_crowding_distance_and_nsga_order():
    p = np.array([[0.0, 4.0], [1.0, 2.0], [3.0, 1.0], [4.0, 0.0], [4.0, 4.0]])
    front = p[:4]
    crowd = crowding_distance(front)
    assert np.isinf(crowd[[0, 3]]).all()
    assert crowd[1] == pytest.approx(3 / 4 + 3 / 4) and crowd[2] == pytest.approx(3 / 4 + 2 / 4)
    order = nsga_order(p)
    assert set(order[:2]) == {0, 3} and list(order[2:]) == [1, 2, 4]  # the extremes, the more crowded last, the dominated one after


@pytest.mark.parametrize("seed", range(5))
def test_hypervolume_equals_the_area_counted_cell_by_cell(seed):
    p = points(seed, n=15)[3:]
    ref = np.array([6.0, 6.0])
    xs, ys = np.unique(np.r_[p[:, 0], ref[0]]), np.unique(np.r_[p[:, 1], ref[1]])
    area = 0.0
    for x0, x1 in zip(xs, xs[1:]):
        for y0, y1 in zip(ys, ys[1:]):
            if ((p[:, 0] <= x0) & (p[:, 1] <= y0)).any():  # the cell's lower corner is dominated
                area += (x1 - x0) * (y1 - y0)
    assert hypervolume_2d(p, ref) == pytest.approx(area)
    assert hypervolume_2d(p[non_dominated(p)], ref) == pytest.approx(area)


def test_knee_is_the_point_nearest_the_ideal_corner():
    front = np.array([[-10.0, 10.0], [-9.0, 2.0], [-2.0, 1.0], [0.0, 0.0]])  # (-merit, cost): scaled, (0.1, 0.2) is nearest (0, 0)
    assert knee(front) == 1 and knee(front[[0, 2, 3]]) == 1 and knee(front[::-1]) == 2
    assert knee(np.array([[-5.0, 3.0]])) == 0


# ----------------------------------------------------------------------------- costs and limits
COSTS_LATENCY = COSTS["latency_ms"].measure


def test_costs_are_the_benchmark_networks_and_each_is_measured_once(monkeypatch):
    timed = []
    monkeypatch.setitem(COSTS, "latency_ms", Cost("latency_ms", "ms", lambda *a: timed.append(1) or COSTS_LATENCY(*a)))
    model = CostModel(SPACE, 100, (3, 16, 16), latency={"batch": 2, "repeats": 3, "warmup": 1})
    alive = SPACE.alive_set_for(ALL_CONV)
    costs = model(alive, ["params", "flops", "latency_ms"])
    net = SPACE.network(ALL_CONV, 100)
    assert costs["params"] == count_parameters(net) / 1e6 and costs["flops"] == count_flops(net, (3, 16, 16)) / 1e6
    assert costs["latency_ms"] > 0 and len(timed) == 1
    assert model(SPACE.alive_set_for(ALL_CONV), ["latency_ms", "flops"]) == {"latency_ms": costs["latency_ms"], "flops": costs["flops"]}
    assert len(timed) == 1 and dict(model.measured) == {"params": 1, "flops": 1, "latency_ms": 1}  # the second request timed nothing
    assert CostModel(SPACE, 100, (3, 32, 32))(alive, ["flops"])["flops"] == pytest.approx(4 * costs["flops"], rel=0.01)


def test_limits_on_hand_built_populations():
    model = CostModel(SPACE, 10, (3, 32, 32))
    population = [SPACE.alive_set_for(a) for a in (ALL_SKIP, ONE_CONV, ALL_CONV)]
    flops = [model(a, ["flops"])["flops"] for a in population]
    assert flops[0] < flops[1] < flops[2]
    one = Limits(model, {"flops": flops[0], "params": None})  # a tie with the limit is within it
    assert [one.feasible(a) for a in population] == [True, False, False] and one.limits == {"flops": flops[0]}
    two = Limits(model, {"flops": (flops[1] + flops[2]) / 2})
    assert [two.feasible(a) for a in population] == [True, True, False] and set(two.over(population[2])) == {"flops"}
    none = Limits(model, {"params": 0.01})
    assert not any(none.feasible(a) for a in population)
    with pytest.raises(TenasError, match=r"^search\.limits\.params: 0\.01 M, but the cheapest .* needs 0\.07\d* M; allowed: at least"):
        none.refuse_unreachable(SPACE.full_alive_set(), "the cheapest architecture")
    two.refuse_unreachable(SPACE.full_alive_set(), "the cheapest architecture")
    drawn = draw_distinct(SPACE, 30, torch.Generator().manual_seed(0), two.feasible)
    assert len(drawn) == 30 and all(model(a, ["flops"])["flops"] <= two.limits["flops"] for _, a in drawn)
    assert not Limits(model, {}) and Limits(model, {"flops": 1.0})


@pytest.mark.parametrize("name", ["params", "flops"])
def test_the_cheapest_path_is_the_cheapest_of_every_path(name):
    model = CostModel(SPACE, 10, (3, 16, 16))
    rng = np.random.default_rng(1)
    alive = SPACE.full_alive_set()
    for e in range(6):  # two or three ops left on each edge
        for op in rng.choice(OP_NAMES, size=int(rng.integers(2, 4)), replace=False):
            alive = alive.without("cell", e, str(op))
    path, value = Limits(model, {name: 1.0}).cheapest(alive, name)
    every = [model(SPACE.alive_set_for("|{}~0|+|{}~0|{}~1|+|{}~0|{}~1|{}~2|".format(*ops)), [name])[name]
             for ops in itertools.product(*(alive.alive_ops("cell", e) for e in range(6)))]
    assert value == pytest.approx(min(every)) and all(op in alive.alive_ops("cell", e) for e, op in enumerate(parse_arch(SPACE.arch_text(path))))


# ----------------------------------------------------------------------------- each strategy end to end
def flops_of(arch):
    return count_flops(SPACE.network(arch, 10), (3, 32, 32)) / 1e6


@pytest.mark.parametrize("name", sorted(n for n, e in STRATEGIES.items() if e.table))
def test_whole_architecture_strategies_keep_to_a_limit_and_return_a_front(name, tmp_path):
    write_table(tmp_path / "t.csv")
    size = {"sample": "strategy.num_samples=60", "evolve": "strategy.budget=60"}.get(name, "")
    base = [f"strategy={name}", *([size] if size else []), "ranking.proxies=[nwot]", "device=cpu"]
    limit = 60.0
    found = table_search(tmp_path / "t.csv", tmp_path / "l", *base, f"search.limits.flops={limit}")
    pop = pd.read_csv(tmp_path / "l" / "candidates.csv")
    assert flops_of(found["arch"]) <= limit and found["costs"]["flops"] == pytest.approx(flops_of(found["arch"]))
    assert max(flops_of(a) for a in pop.arch) <= limit  # nothing over the limit is scored (nor bred from)
    free = table_search(tmp_path / "t.csv", tmp_path / "u", *base)
    assert flops_of(free["arch"]) > limit  # the limit changed the answer
    front = table_search(tmp_path / "t.csv", tmp_path / "f", *base, "search.objectives=[merit,flops]")
    pop = pd.read_csv(tmp_path / "f" / "candidates.csv")
    expected = pop[brute_non_dominated(np.column_stack([-pop.merit, pop.flops]))]
    pareto = pd.read_csv(tmp_path / "f" / "pareto.csv")
    assert set(pareto.arch) == set(expected.arch) and len(pareto) >= 3 and (tmp_path / "f" / "pareto.png").stat().st_size > 0
    assert pareto.flops.is_monotonic_increasing and pareto.merit.is_monotonic_increasing  # a front: dearer only if better
    chosen = pareto[pareto.chosen]
    assert chosen.arch.item() == front["arch"] == pareto.arch[knee(np.column_stack([-pareto.merit, pareto.flops]))]
    assert json.loads((tmp_path / "f" / "search.json").read_text())["search"]["objectives"] == ["merit", "flops"]


def test_prune_keeps_the_cheapest_path_within_a_limit(cifar10_npz, tmp_path):
    from tests.test_strategies import real, search

    free = search(tmp_path / "u", real(cifar10_npz), "search_space.C=2")
    model = CostModel(SPACE, 10, (3, 32, 32))  # CIFAR-10's classes and size
    assert model(SPACE.alive_set_for(free["arch"]), ["flops"])["flops"] == free["costs"]["flops"]
    limit = 0.5 * free["costs"]["flops"]
    found = search(tmp_path / "l", real(cifar10_npz), "search_space.C=2", f"search.limits.flops={limit}")
    assert model(SPACE.alive_set_for(found["arch"]), ["flops"])["flops"] == found["costs"]["flops"] <= limit
    assert found["arch"] != free["arch"]


@pytest.mark.parametrize("name", ["sample", "evolve"])
def test_a_computed_search_on_the_shared_sample_with_a_limit_and_two_objectives(name, cifar10_npz, nb201_csv, tmp_path):
    from tests.test_strategies import real, search

    size = ["strategy.num_samples=10"] if name == "sample" else ["strategy.budget=10", "strategy.population_size=5", "strategy.sample_size=3"]
    found = search(tmp_path / "f", real(cifar10_npz), f"strategy={name}", *size, "search.limits.params=1.0", "search.objectives=[merit,params]",
                   f"benchmark.path={nb201_csv}")
    pop = pd.read_csv(tmp_path / "f" / "candidates.csv")
    pareto = pd.read_csv(tmp_path / "f" / "pareto.csv")
    assert len(pop) == 10 and pop.params.max() <= 1.0 and found["costs"]["params"] <= 1.0
    assert set(pareto.arch) == set(pop.arch[brute_non_dominated(np.column_stack([-pop.merit, pop.params]))])
    assert {"cifar10_test", "cifar100_test", "ImageNet16-120_test"} <= set(pareto.columns) and pareto.arch[pareto.chosen].item() == found["arch"]


def test_evolve_with_a_cost_objective_breeds_cheap_architectures_too(tmp_path):
    """NSGA-II's selection keeps cheap cells in the population where merit alone (nwot: the nor_conv_3x3 count
    plus noise) breeds towards the dearest."""
    write_table(tmp_path / "t.csv")
    base = ["strategy=evolve", "strategy.budget=300", "strategy.population_size=20", "strategy.sample_size=5", "ranking.proxies=[nwot]", "device=cpu"]
    table_search(tmp_path / "t.csv", tmp_path / "m", *base)
    table_search(tmp_path / "t.csv", tmp_path / "f", *base, "search.objectives=[merit,flops]")
    alive_flops = {d: [flops_of(a) for a in pd.read_csv(tmp_path / d / "candidates.csv").query("in_population").arch] for d in "mf"}
    assert np.mean(alive_flops["f"]) < 0.7 * np.mean(alive_flops["m"]) and min(alive_flops["f"]) < min(alive_flops["m"])


def test_a_space_without_a_cheapest_path_checks_limits_on_random_architectures():
    from tenas.costs import refuse_unsampled

    darts = get_space("darts")
    model = CostModel(darts, 10, (3, 32, 32))
    refuse_unsampled(darts, Limits(model, {"params": 100.0}), draws=5)  # every DARTS cell is within 100 M
    with pytest.raises(TenasError, match=r"^search\.limits: none of 5 random architectures of darts is within \{'params': 0\.01\}"):
        refuse_unsampled(darts, Limits(model, {"params": 0.01}), draws=5)
