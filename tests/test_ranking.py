"""Rankings: the TE-NAS rank-sum (dense ranks of Δκ descending and ΔR ascending, importance = sum, ties),
AZ-NAS's log-rank, directions and non-finite values, for every aggregation and preset."""
import numpy as np
import torch
from scipy.stats import rankdata

from search_spaces import get_space
from search_spaces.nasbench201 import OP_NAMES
from search_spaces.nasbench201.model import CELL
from tenas.pruning import prune_ops
import math

import pytest

from tenas.proxies import PROXIES, Proxy
from tenas.ranking import AGGREGATIONS, RANK_SIGNIFICANT_DIGITS, Ranking, get_ranking, list_rankings, merit, prune_order, round_significant
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def test_ranks_importance_and_ties():
    ranking = get_ranking("te_nas")
    assert ranking.proxies == ("ntk", "linear_regions") and ranking.aggregation == "rank_sum"
    deltas = {"ntk": np.array([0.3, 0.1, 0.3, -0.2, 0.1]), "linear_regions": np.array([0.05, 0.0, 0.05, 0.1, 0.0])}
    ranks = ranking.ranks(deltas)
    np.testing.assert_array_equal(ranks["ntk"], [1, 2, 1, 3, 2])  # highest Δκ first, ties share a rank
    np.testing.assert_array_equal(ranks["linear_regions"], [2, 1, 2, 3, 1])  # lowest ΔR first
    importance = ranking.importance(deltas)
    np.testing.assert_array_equal(importance, [3, 3, 3, 6, 3])
    # equal sums: the earlier candidate (op-table order) is pruned first
    assert list(prune_order(importance)) == [0, 1, 2, 4, 3]


def test_floating_point_noise_is_a_tie_but_real_differences_are_not():
    ranking = get_ranking("te_nas")
    base = 0.123456789
    noisy = {"ntk": np.array([base, base * (1 + 1e-13), base * (1 + 1e-6)]), "linear_regions": np.zeros(3)}
    np.testing.assert_array_equal(ranking.ranks(noisy)["ntk"], [2, 2, 1])
    np.testing.assert_allclose(round_significant(np.array([0.0, -1234.56789012345, 1e-20 * np.pi])), [0.0, -1234.567890, 3.141592654e-20], rtol=1e-15)
    assert RANK_SIGNIFICANT_DIGITS == 10


def test_kappa_only_ranking_prunes_the_highest_delta_and_reports_its_rank():
    ranking = get_ranking("ntk")
    deltas = {"ntk": np.array([0.2, -0.1, 0.2, 0.5])}
    np.testing.assert_array_equal(ranking.ranks(deltas)["ntk"], [2, 3, 2, 1])
    assert list(prune_order(ranking.importance(deltas))) == [3, 0, 2, 1]


def test_log_rank_is_azs_sum_of_log_relative_ranks(monkeypatch):
    """AZ-NAS: per proxy, ranks 1 (worst) .. n (best) with ties averaged; merit = Σ log(rank / n)."""
    monkeypatch.setitem(PROXIES, "up", Proxy("up", lambda m, x: 0.0, higher_is_better=True))
    monkeypatch.setitem(PROXIES, "down", Proxy("down", lambda m, x: 0.0, higher_is_better=False))
    ranking = Ranking("pair", ("up", "down"), "log_rank")
    scores = {"up": np.array([1.0, 3.0, 3.0, 2.0]), "down": np.array([4.0, 1.0, 3.0, np.nan])}
    # up: ranks (1, 3.5, 3.5, 2); down (lower is better, NaN worst): goodness (-4, -1, -3, NaN) -> ranks (2, 4, 3, 1)
    expected = [math.log(1 / 4) + math.log(2 / 4), math.log(3.5 / 4) + math.log(4 / 4), math.log(3.5 / 4) + math.log(3 / 4), math.log(2 / 4) + math.log(1 / 4)]
    np.testing.assert_allclose(ranking.combined_score(scores), expected)
    # rank_sum on the same scores: dense ranks best-first, NaN last, merit = -sum
    rank_sum = Ranking("pair", ("up", "down"), "rank_sum")
    np.testing.assert_array_equal(rank_sum.combined_score(scores), [-(3 + 3), -(1 + 1), -(1 + 2), -(2 + 4)])


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_every_aggregation_follows_each_proxys_direction(aggregation, monkeypatch):
    """One proxy, two directions: the best architecture is the highest score or the lowest, and in
    pruning the op whose removal improves the proxy most is pruned first."""
    monkeypatch.setitem(PROXIES, "up", Proxy("up", lambda m, x: 0.0, higher_is_better=True))
    monkeypatch.setitem(PROXIES, "down", Proxy("down", lambda m, x: 0.0, higher_is_better=False))
    values = np.array([2.0, 5.0, 1.0])
    assert np.argmax(Ranking("r", ("up",), aggregation).combined_score({"up": values})) == 1
    assert np.argmax(Ranking("r", ("down",), aggregation).combined_score({"down": values})) == 2
    # Δ = (origin - candidate) / |origin|: for "up" the smallest Δ (candidate highest) is pruned first
    assert prune_order(Ranking("r", ("up",), aggregation).importance({"up": values}))[0] == 2
    assert prune_order(Ranking("r", ("down",), aggregation).importance({"down": values}))[0] == 1
    assert merit({"up": values}, aggregation).shape == (3,)


@pytest.mark.parametrize("name", list_rankings())
def test_every_preset_loads_with_registered_proxies(name):
    ranking = get_ranking(name)
    assert ranking.name == name and ranking.proxies and ranking.aggregation in AGGREGATIONS


def test_bad_rankings_are_refused():
    with pytest.raises(ValueError, match="unknown aggregation 'mean'"):
        Ranking("x", ("ntk",), "mean")
    with pytest.raises(ValueError, match="unknown proxy 'nope'"):
        Ranking("x", ("nope",))
    with pytest.raises(ValueError, match="names no proxy"):
        Ranking("x", ())
    with pytest.raises(ValueError, match="unknown ranking 'nope'"):
        get_ranking("nope")


class Additive:
    """score(alive) = base + Σ alive weights: removing op o of edge e gives Δ = weight[e, o] / score(origin)."""

    def __init__(self, name, weights, base):
        self.name, self.weights, self.base = name, weights, base

    def new_repeat(self, generator):
        pass

    def score(self, alive_sets, progress=None):
        return [self.base + float((self.weights * a.masks[CELL].numpy()).sum()) for a in alive_sets]


def expected_te_nas(alive, wk, wr):
    """Independent re-implementation of the rounds with scipy's dense ranks."""
    while True:
        cands = [(e, o) for e in range(6) if alive.num_alive(CELL, e) > 1 for o in alive.alive_ops(CELL, e)]
        if not cands:
            return alive
        m = alive.masks[CELL].numpy()
        dk = np.array([wk[e, OP_NAMES.index(o)] / (10 + (wk * m).sum()) for e, o in cands])
        dr = np.array([wr[e, OP_NAMES.index(o)] / (100 + (wr * m).sum()) for e, o in cands])
        score = rankdata(-dk, method="dense") + rankdata(dr, method="dense")
        for e in sorted({e for e, _ in cands}):
            members = [j for j, (ee, _) in enumerate(cands) if ee == e]
            alive = alive.without(CELL, e, cands[min(members, key=lambda j: (score[j], j))][1])


def test_the_loop_prunes_the_lowest_rank_sum_and_records_both_ranks():
    rng = np.random.default_rng(7)
    wk = rng.integers(1, 4, size=(6, 5)).astype(float)  # few distinct values: many ties
    wr = rng.integers(1, 4, size=(6, 5)).astype(float)
    space = get_space("nasbench201")
    start = space.full_alive_set().without_op_everywhere("none")
    indicators = [Additive("ntk", wk, 10.0), Additive("linear_regions", wr, 100.0)]
    final, rounds = prune_ops(start, indicators, get_ranking("te_nas"), 1, torch.Generator().manual_seed(0))
    assert final == expected_te_nas(start, wk, wr)
    assert [len(r.candidates) for r in rounds] == [24, 18, 12]
    row = rounds[0].records[0]
    for column in ("mean_delta_ntk", "mean_delta_linear_regions", "rank_ntk", "rank_linear_regions", "importance", "pruned"):
        assert column in row
    for r in rounds:
        for row in r.records:
            assert row["importance"] == row["rank_ntk"] + row["rank_linear_regions"]


def test_max_norm_sum_is_freereas_max_normalised_sum(monkeypatch):
    """FreeREA: per proxy, goodness / max |goodness| over the candidates; merit = the sum. Hand-checked."""
    monkeypatch.setitem(PROXIES, "up", Proxy("up", lambda m, x: 0.0, higher_is_better=True))
    monkeypatch.setitem(PROXIES, "down", Proxy("down", lambda m, x: 0.0, higher_is_better=False))
    ranking = Ranking("pair", ("up", "down"), "max_norm_sum")
    scores = {"up": np.array([2.0, 4.0, 4.0, -1.0]), "down": np.array([1.0, 3.0, 2.0, 6.0])}
    # up: (2, 4, 4, -1) / 4; down: goodness (-1, -3, -2, -6) / 6
    expected = [0.5 - 1 / 6, 1.0 - 0.5, 1.0 - 1 / 3, -0.25 - 1.0]
    np.testing.assert_allclose(ranking.combined_score(scores), expected)
    # scales count, not ranks: a tie under rank_sum is decided by how far apart the values are
    far = {"up": np.array([1.0, 10.0]), "down": np.array([1.0, 1.1])}
    assert Ranking("pair", ("up", "down"), "rank_sum").combined_score(far).tolist() == [-3.0, -3.0]
    np.testing.assert_allclose(ranking.combined_score(far), [0.1 - 1 / 1.1, 0.0])
    # ties stay ties
    tied = ranking.combined_score({"up": np.array([3.0, 3.0]), "down": np.array([1.0, 1.0])})
    assert tied[0] == tied[1] == pytest.approx(0.0)
    # NaN: one less than the proxy's lowest finite term, so the worst on it; all-NaN: -2 for everyone
    with_nan = ranking.combined_score({"up": np.array([2.0, np.nan, 4.0]), "down": np.array([1.0, 1.0, 1.0])})
    np.testing.assert_allclose(with_nan, [0.5 - 1, (0.5 - 1) - 1, 1.0 - 1])
    np.testing.assert_allclose(merit({"up": np.array([np.nan, np.nan])}, "max_norm_sum"), [-2.0, -2.0])
    # a population of one: its own scale, ±1 per proxy (0 for an all-zero proxy, nothing to divide by)
    np.testing.assert_allclose(ranking.combined_score({"up": np.array([7.0]), "down": np.array([5.0])}), [0.0])
    np.testing.assert_allclose(merit({"up": np.array([0.0, 0.0])}, "max_norm_sum"), [0.0, 0.0])
    assert np.isfinite(ranking.combined_score({"up": np.array([1e300, -1e300]), "down": np.array([0.0, 1.0])})).all()


@pytest.mark.parametrize("seed", range(20))
def test_rank_functions_equal_scipys_with_ties_and_non_finite_values(seed):
    from tenas.ranking import best_first_dense_ranks, worst_first_average_ranks

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40)) if seed % 2 else int(rng.integers(257, 600))  # both ways of ranking
    values = rng.integers(-4, 5, n).astype(np.float64) * rng.choice([1.0, 1e-3, 1e6])  # many ties
    values[rng.random(n) < 0.2] = rng.choice([np.nan, np.inf, -np.inf])
    worst = np.where(np.isfinite(values), values, -np.inf)  # every non-finite value is the worst
    np.testing.assert_array_equal(worst_first_average_ranks(values), rankdata(worst, method="average"))
    np.testing.assert_array_equal(best_first_dense_ranks(values), rankdata(-worst, method="dense"))


def test_average_ranks_of_a_table_are_each_rows_ranks():
    from tenas.ranking import worst_first_average_ranks

    rows = np.random.default_rng(0).integers(0, 4, (5, 30)).astype(np.float64)
    rows[1, 3] = np.nan
    np.testing.assert_array_equal(worst_first_average_ranks(rows), [worst_first_average_ranks(r) for r in rows])


@pytest.mark.parametrize("aggregation,ties", [(a, "dense") for a in AGGREGATIONS] + [("rank_sum", "reference")])
@pytest.mark.parametrize("n", [30, 300])  # pairwise and sorted ranks
def test_the_merits_of_some_candidates_are_theirs_among_all(aggregation, ties, n):
    rng = np.random.default_rng(n)
    goodness = {p: rng.integers(0, 6, n).astype(np.float64) for p in ("a", "b", "c")}
    goodness["b"][3] = np.nan
    of = rng.permutation(n)[:7]
    full = merit(goodness, aggregation, ties=ties)
    np.testing.assert_array_equal(merit(goodness, aggregation, ties=ties, of=of), full[of])
