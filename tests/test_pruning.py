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


class KeyedIndicator:
    """score(alive) = 10 + Σ alive weight[edge, op] (+ noise per repeat), like :class:`AdditiveIndicator`,
    but a candidate network is NaN when ``(edge, op)`` (the op it lacks) maps to a repeat index of
    its round listed in ``nan``; the origin is always finite."""

    name = "ntk"

    def __init__(self, weights, repeats, nan, noise=0.0):
        self.weights, self.repeats, self.nan, self.noise = weights, repeats, nan, noise
        self.repeats_started = 0

    def new_repeat(self, generator):
        self.repeats_started += 1
        self.offset = float(torch.rand(1, generator=generator)) * self.noise

    def score(self, alive_sets, progress=None):
        origin = alive_sets[0].masks[CELL].numpy()
        repeat = (self.repeats_started - 1) % self.repeats
        out = []
        for alive in alive_sets:
            m = alive.masks[CELL].numpy()
            removed = [(int(e), OP_NAMES[int(o)]) for e, o in zip(*np.nonzero(origin & ~m))]
            nan = any(repeat in self.nan.get(key, ()) for key in removed)
            out.append(float("nan") if nan else 10.0 + self.offset + float((self.weights * m).sum()))
        return out


def test_nan_scores_are_averaged_out_not_fatal(caplog):
    """A NaN repeat is left out of a candidate's mean Δ (not propagated, not counted as 0); a candidate
    NaN in every repeat gets Δ = 0 and a warning. Each mishandling changes a decision below."""
    skip, c1, c3, pool = (OP_NAMES.index(op) for op in ("skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"))
    weights = np.zeros((6, len(OP_NAMES)))
    # edge 0: skip is the heaviest (pruned) but NaN in repeat 0 of 3; counting that repeat as Δ = 0 would
    # make its mean 2/3 of 0.9 < 0.8 (conv3x3 pruned instead), propagating NaN would rank it last (kept)
    weights[0, [skip, c1, c3, pool]] = [0.9, 0.3, 0.8, 0.4]
    # edge 1: every removal raises the score (Δ < 0) except skip's, NaN in every repeat: with Δ = 0 it is
    # the best removal (pruned); a NaN mean would rank it last and prune conv1x1 (the least negative)
    weights[1, [skip, c1, c3, pool]] = [0.7, -0.1, -0.3, -0.2]
    weights[2:, 1:] = np.random.default_rng(5).uniform(0.1, 1.0, size=(4, 4))
    nan = {(0, "skip_connect"): {0}, (1, "skip_connect"): {0, 1, 2}}
    ind = KeyedIndicator(weights, repeats=3, nan=nan, noise=0.5)
    space = get_space("nasbench201")
    alive = space.full_alive_set().without_op_everywhere("none")
    with caplog.at_level("WARNING", logger="tenas.pruning"):
        final, rounds = prune_ops(alive, [ind], get_ranking("ntk"), 3, torch.Generator().manual_seed(0))
    first = rounds[0]
    heaviest = [OP_NAMES[1 + int(np.argmax(weights[e, 1:]))] for e in range(2, 6)]
    assert first.pruned == [Candidate(CELL, 0, "skip_connect"), Candidate(CELL, 1, "skip_connect")] + [
        Candidate(CELL, e, op) for e, op in zip(range(2, 6), heaviest)
    ]
    rows = {(r["repeat"], r["edge"], r["op"]): r for r in first.records}
    # the NaN repeats are recorded as NaN, and the mean is over the finite repeats only
    assert math.isnan(rows[0, 0, "skip_connect"]["delta_ntk"])
    finite = [rows[r, 0, "skip_connect"]["delta_ntk"] for r in (1, 2)]
    assert all(math.isfinite(d) for d in finite) and finite[0] != finite[1]  # the noise makes the repeats differ
    assert rows[0, 0, "skip_connect"]["mean_delta_ntk"] == pytest.approx(sum(finite) / 2, rel=1e-12)
    assert all(math.isnan(rows[r, 1, "skip_connect"]["delta_ntk"]) for r in range(3))
    assert rows[0, 1, "skip_connect"]["mean_delta_ntk"] == 0.0
    assert all(math.isfinite(r["importance"]) for r in first.records)
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING"]
    assert warnings == ["1 candidate(s) had no finite Δ in any repeat; their Δ is taken as 0"]  # round 1 only
    # later rounds see no NaN: each edge keeps losing its heaviest alive op
    for e in range(6):
        left = [op for op in OP_NAMES[1:] if not (e < 2 and op == "skip_connect")]
        assert final.alive_ops(CELL, e) == [min(left, key=lambda op: weights[e, OP_NAMES.index(op)])]
    assert final.is_single_path() and len(rounds) == 3


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


def test_a_degenerate_kappa_keeps_the_op_whose_removal_causes_it():
    """A whole round of the real κ on the NB201 supernet: edge 3 (node 3 <- node 0) holds {none, conv3x3}
    and node 3's other inputs hold only 'none', so removing conv3x3 zeroes every cell's output, the NTK
    is singular and κ falls back to DEGENERATE_KAPPA with a RuntimeWarning. Δ = (κ0 - 1e5) / κ0 is then
    hugely negative, so conv3x3 is kept and 'none' is pruned, although removing 'none' raises κ here too:
    a fallback that came back as NaN or inf (Δ taken as 0) would prune conv3x3 instead."""
    from tenas.data import synthetic
    from tenas.ntk import DEGENERATE_KAPPA
    from tenas.scoring import ProxyIndicator, ScoringRecipe

    space = get_space("nasbench201")
    keep = {0: ["nor_conv_3x3"], 1: ["skip_connect"], 2: ["skip_connect"], 3: ["none", "nor_conv_3x3"], 4: ["none"], 5: ["none"]}
    alive = space.full_alive_set()
    for e, ops in keep.items():
        for op in OP_NAMES:
            if op not in ops:
                alive = alive.without(CELL, e, op)
    ind = ProxyIndicator(ScoringRecipe.load("ntk", {"inputs": {"batch_size": 8}}), space, synthetic(64, image_size=8, seed=0))
    with pytest.warns(RuntimeWarning, match="singular"):
        final, rounds = prune_ops(alive, [ind], get_ranking("ntk"), 2, torch.Generator().manual_seed(0))
    assert len(rounds) == 1 and rounds[0].candidates == [Candidate(CELL, 3, "none"), Candidate(CELL, 3, "nor_conv_3x3")]
    rows = {(r["repeat"], r["op"]): r for r in rounds[0].records}
    for r in range(2):
        origin = rows[r, "nor_conv_3x3"]["ntk_origin"]
        assert 1 < origin < 1e3 and rows[r, "nor_conv_3x3"]["ntk"] == DEGENERATE_KAPPA
        assert rows[r, "nor_conv_3x3"]["delta_ntk"] == pytest.approx((origin - DEGENERATE_KAPPA) / origin)
        assert math.isfinite(rows[r, "none"]["ntk"]) and rows[r, "none"]["ntk"] != DEGENERATE_KAPPA
    # the premise that makes the test discriminating: removing 'none' is itself a (finite) loss
    assert rows[0, "none"]["mean_delta_ntk"] < 0
    assert rounds[0].pruned == [Candidate(CELL, 3, "none")]
    assert final.alive_ops(CELL, 3) == ["nor_conv_3x3"] and final.is_single_path()
