"""protocol=reference: TE-NAS's reference code as it ran (ranks, rounding, draw schedules, batch 72, default init)."""
import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.nasbench201.model import CELL
from tenas import CONF_DIR
from tenas.pruning import Candidate, score_candidates
from tenas.ranking import Ranking, reference_ranks
from tenas.search import search_recipes
from tests.conftest import REPO


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def round_to(number, precision, eps=1e-8):
    """The reference's significant-figure rounding (prune_tenas.py), restated for the oracle below."""
    if number == 0:
        return number
    sign = number / abs(number)
    number = abs(number) + eps
    power = math.floor(math.log(number, 10)) + 1
    return sign * round(number * 10 ** (-power), precision) * 10 ** power


def reference_decisions(ntk, regions, precision=3):
    """An independent restatement of prune_tenas.py's ranking: returns (ranks, candidates in pruning order)."""
    ntk_all = sorted([[v, j] for j, v in enumerate(ntk)], key=lambda t: round_to(t[0], precision), reverse=True)
    ranks = {}
    for idx, (value, j) in enumerate(ntk_all):
        ranks[j] = [0 if idx == 0 else ranks[ntk_all[idx - 1][1]][0] + (value != ntk_all[idx - 1][0])]
    regions_all = sorted([[v, j] for j, v in enumerate(regions)], key=lambda t: round_to(t[0], precision))
    for idx, (value, j) in enumerate(regions_all):
        ranks[j].append(0 if idx == 0 else ranks[regions_all[idx - 1][1]][1] + (value != regions_all[idx - 1][0]))
    order = [j for j, _ in sorted(ranks.items(), key=lambda t: sum(t[1]))]
    return ranks, order


@pytest.mark.parametrize("seed", range(6))
def test_reference_ranks_and_order_match_the_reference_code(seed):
    rng = np.random.default_rng(seed)
    # few distinct values, some equal after 3-figure rounding only: every tie rule is exercised
    ntk = rng.choice([0.1234, 0.12341, 0.2, -0.05, 0.0, 0.3], size=12)
    regions = rng.choice([0.01, 0.010001, -0.02, 0.0, 0.05], size=12)
    ranks, order = reference_decisions(list(ntk), list(regions))
    ranking = Ranking("te_nas", ("ntk", "linear_regions"), "rank_sum", significant_digits=3, ties="reference")
    ours = ranking.ranks({"ntk": ntk, "linear_regions": regions})
    np.testing.assert_array_equal(ours["ntk"] - 1, [ranks[j][0] for j in range(12)])
    np.testing.assert_array_equal(ours["linear_regions"] - 1, [ranks[j][1] for j in range(12)])
    assert list(np.argsort(ranking.importance({"ntk": ntk, "linear_regions": regions}), kind="stable")) == order
    # the paper's rule differs on these values: values equal after rounding share a dense rank
    dense = Ranking("te_nas", ("ntk", "linear_regions"), "rank_sum", significant_digits=3).ranks({"ntk": ntk, "linear_regions": regions})
    assert (dense["ntk"] <= ours["ntk"]).all()


def test_reference_rank_advances_on_unrounded_differences():
    np.testing.assert_array_equal(reference_ranks(np.array([0.12341, 0.1234, 0.5]), 3), [2, 3, 1])


class Recorder:
    """A fake indicator that logs every draw and score call; score = Σ alive weights + the last input draw."""

    def __init__(self, name, schedule=None):
        self.name, self.log, self.draw = name, [], 0
        if schedule:
            self.schedule = schedule
        self.weights = np.arange(30, dtype=float).reshape(6, 5) + 1

    def new_repeat(self, generator):
        self.new_weights(generator)
        self.new_inputs(generator)

    def new_weights(self, generator):
        self.log.append("w")

    def new_inputs(self, generator):
        self.log.append("x")
        self.draw = float(torch.rand(1, generator=generator))

    def score(self, alive_sets, progress=None):
        self.log.append(len(alive_sets))
        return [100 + self.draw + float((self.weights * a.masks[CELL].numpy()).sum()) for a in alive_sets]


def test_draw_schedules_of_the_reference():
    alive = get_space("nasbench201").full_alive_set().without_op_everywhere("none")
    candidates = [Candidate(CELL, e, op) for e in range(2) for op in alive.alive_ops(CELL, e)]  # 8 candidates
    per_round = Recorder("ntk", {"weights": "per_round", "inputs": "per_pair"})
    per_candidate = Recorder("linear_regions", {"weights": "per_candidate", "inputs": "per_pair"})
    shared = Recorder("shared")
    records, mean = score_candidates(alive, candidates, [shared, per_round, per_candidate], 3, torch.Generator().manual_seed(0), delta_decimals=3)
    assert shared.log == ["w", "x", 9] * 3  # one draw per repeat, the origin scored once with all candidates
    assert per_round.log == ["w"] + ["x", 2] * (8 * 3)  # weights once per round; origin and candidate on a new batch per pair
    assert per_candidate.log == (["w"] + ["x", 2] * 3) * 8  # weights once per candidate, shared by its repeats
    assert len(records) == 24 and all(row["delta_ntk"] == round(row["delta_ntk"], 3) for row in records)
    # per-pair origins differ with the batch: each row has its own origin
    assert len({row["ntk_origin"] for row in records}) == 24


def test_reference_protocol_resolves_to_the_reference_settings():
    cfg = compose_search(["protocol=reference", "ranking=te_nas"])
    ntk, regions = search_recipes(cfg, ["ntk", "linear_regions"])
    assert ntk.settings["inputs"]["batch_size"] == 72 and ntk.settings["init"] == "default"
    assert ntk.settings["schedule"] == {"weights": "per_round", "inputs": "per_pair"}
    assert regions.settings["schedule"] == {"weights": "per_candidate", "inputs": "per_pair"} and regions.settings["init"] == "default"
    assert cfg.protocol.delta_decimals == 3 and cfg.protocol.rank_ties == "reference"
    darts = compose_search(["protocol=reference", "search_space=darts"])
    assert search_recipes(darts, ["ntk"])[0].settings["inputs"]["batch_size"] == 14
    # the paper protocol (default) is today's: batch 32, Kaiming, shared draws
    paper = search_recipes(compose_search(["ranking=te_nas"]), ["ntk"])[0]
    assert paper.settings["inputs"]["batch_size"] == 32 and paper.settings["init"] == "kaiming" and "schedule" not in paper.settings
