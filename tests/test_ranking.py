"""The TE-NAS ranking: dense ranks of Δκ (descending) and ΔR (ascending), importance = sum, ties."""
import numpy as np
import torch
from scipy.stats import rankdata

from search_spaces import get_space
from search_spaces.nasbench201 import OP_NAMES
from search_spaces.nasbench201.model import CELL
from tenas.pruning import prune_ops
from tenas.ranking import RANK_SIGNIFICANT_DIGITS, get_ranking, prune_order, round_significant
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def test_ranks_importance_and_ties():
    ranking = get_ranking("te_nas")
    assert ranking.indicators == ("ntk", "linear_regions")
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


def test_kappa_only_ranking_is_unchanged_and_reports_its_rank():
    ranking = get_ranking("ntk")
    deltas = {"ntk": np.array([0.2, -0.1, 0.2])}
    np.testing.assert_array_equal(ranking.importance(deltas), [-0.2, 0.1, -0.2])
    np.testing.assert_array_equal(ranking.ranks(deltas)["ntk"], [1, 2, 1])


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
