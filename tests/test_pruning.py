import math

import numpy as np
import pytest
import torch

from search_spaces import get_space
from search_spaces.nasbench201 import OP_NAMES
from search_spaces.nasbench201.model import CELL
from tenas.pruning import Candidate, mean_over_repeats, prune_ops, relative_change
from tenas.ranking import best_first_dense_ranks, get_ranking, prune_order


class AdditiveIndicator:
    """score(alive) = 10 + Σ alive weight[edge, op] (+ noise per repeat): removing op o on edge e
    gives Δ = weight[e, o] / score(origin), so the κ-only ranking prunes the heaviest op of each edge."""

    name = "ntk"

    def __init__(self, weights, noise=0.0, nan_at=None):
        self.weights, self.noise, self.nan_at = weights, noise, nan_at
        self.calls, self.repeats_started = [], 0

    def new_repeat(self, generator):
        self.repeats_started += 1
        self.offset = float(torch.rand(1, generator=generator)) * self.noise

    def score(self, alive_sets, progress=None):
        self.calls.append(list(alive_sets))
        out = []
        for j, alive in enumerate(alive_sets):
            m = alive.masks[CELL].numpy()
            out.append(10.0 + self.offset + float((self.weights * m).sum()))
            if self.nan_at is not None and j == self.nan_at and self.repeats_started == 1:
                out[-1] = float("nan")
        return out


def test_loop_keeps_the_lightest_op_on_every_edge():
    rng = np.random.default_rng(3)
    weights = rng.uniform(0.1, 1.0, size=(6, len(OP_NAMES)))
    space = get_space("nasbench201")
    alive = space.full_alive_set().without_op_everywhere("none")
    ind = AdditiveIndicator(weights, noise=0.5)
    final, rounds = prune_ops(alive, [ind], get_ranking("ntk"), repeats=3, generator=torch.Generator().manual_seed(0))
    expected = [OP_NAMES[1 + int(np.argmin(weights[e, 1:]))] for e in range(6)]
    assert [final.alive_ops(CELL, e) for e in range(6)] == [[op] for op in expected]
    # 4 -> 3 -> 2 -> 1 alive ops: 3 rounds of 24, 18, 12 candidates, each edge losing its heaviest op
    assert [len(r.candidates) for r in rounds] == [24, 18, 12]
    for r in rounds:
        assert len(r.pruned) == 6
        for c in r.pruned:
            alive_before = [op for op in OP_NAMES[1:] if any(op == cand.op for cand in r.candidates if cand.edge == c.edge)]
            assert c.op == max(alive_before, key=lambda op: weights[c.edge, OP_NAMES.index(op)])
    # the origin is scored once per repeat (first element of every call), with every candidate on the same draw
    assert len(ind.calls) == 9 and ind.repeats_started == 9
    for call, r in zip(ind.calls, [rnd for rnd in rounds for _ in range(3)]):
        assert len(call) == 1 + len(r.candidates)
        assert sum(a == call[0] for a in call) == 1
    assert space.genotype(final) == "|" + "|+|".join(
        ["|".join(f"{expected[k]}~{i}" for i, k in enumerate(ks)) for ks in ([0], [1, 2], [3, 4, 5])]
    ) + "|"


def test_records_hold_every_candidate_and_repeat():
    weights = np.arange(30, dtype=float).reshape(6, 5) / 30
    space = get_space("nasbench201")
    _, rounds = prune_ops(space.full_alive_set().without_op_everywhere("none"), [AdditiveIndicator(weights)], get_ranking("ntk"), 2, torch.Generator().manual_seed(0))
    rows = rounds[0].records
    assert len(rows) == 2 * 24
    row = rows[0]
    assert row["delta_ntk"] == pytest.approx((row["ntk_origin"] - row["ntk"]) / row["ntk_origin"])
    assert sum(r["pruned"] for r in rows) == 2 * 6


def test_nan_scores_are_averaged_out_not_fatal():
    weights = np.full((6, 5), 0.5)
    weights[0, OP_NAMES.index("nor_conv_3x3")] = 0.9
    space = get_space("nasbench201")
    ind = AdditiveIndicator(weights, nan_at=1)  # candidate 0 (edge 0 skip) is NaN in repeat 1
    final, rounds = prune_ops(space.full_alive_set().without_op_everywhere("none"), [ind], get_ranking("ntk"), 3, torch.Generator().manual_seed(0))
    assert rounds[0].pruned[0] == Candidate(CELL, 0, "nor_conv_3x3")
    assert final.is_single_path()


def test_relative_change_and_mean_over_repeats():
    assert relative_change(4.0, 3.0) == 0.25
    assert relative_change(-4.0, -5.0) == 0.25  # a drop is positive whatever the sign of the score
    assert math.isnan(relative_change(0.0, 1.0)) and math.isnan(relative_change(float("inf"), 1.0))
    d = np.array([[0.1, np.nan, np.nan], [0.3, 0.2, np.inf]])
    np.testing.assert_allclose(mean_over_repeats(d), [0.2, 0.2, 0.0])


def test_dense_rank_and_tie_order():
    np.testing.assert_array_equal(best_first_dense_ranks([0.3, 0.1, 0.3, 0.2]), [1, 3, 1, 2])
    np.testing.assert_array_equal(best_first_dense_ranks([0.3, np.nan, 0.3, -np.inf]), [1, 2, 1, 2])  # non-finite last
    # equal importance: the earlier candidate is pruned first
    np.testing.assert_array_equal(prune_order(np.array([2.0, 1.0, 1.0, 0.5])), [3, 1, 2, 0])
