import json

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.darts import CELL_TYPES, EDGES, NODE_EDGES, OP_NAMES, genotype_from_dict, parse_genotype
from tenas import CONF_DIR
from tenas.pruning import decide_edges, prune_ops
from tenas.ranking import get_ranking
from tenas.search import report, run_search
from tests.conftest import REPO
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


class EdgeWeightIndicator:
    """score(alive) = 10 + Σ weight[cell, edge, op] over alive ops: removing an edge gives
    Δ = its weight / score(origin), so the κ-only ranking removes the heaviest edge of a node."""

    name = "ntk"

    def __init__(self, weights):
        self.weights, self.calls = weights, []

    def new_repeat(self, generator):
        pass

    def score(self, alive_sets, progress=None):
        self.calls.append(list(alive_sets))
        return [10.0 + sum(float((self.weights[c] * a.masks[c].numpy()).sum()) for c in CELL_TYPES) for a in alive_sets]


def single_path(space, rng):
    alive = space.full_alive_set()
    for c in CELL_TYPES:
        alive.masks[c][:] = False
        for e in range(len(EDGES)):
            alive.masks[c][e, rng.integers(1, len(OP_NAMES))] = True
    return alive


def test_edge_decision_keeps_the_two_best_inputs_per_node_refreshing_the_origin():
    rng = np.random.default_rng(0)
    weights = {c: rng.uniform(0.1, 1.0, size=(len(EDGES), len(OP_NAMES))) for c in CELL_TYPES}
    space = get_space("darts")
    start = single_path(space, rng)
    ind = EdgeWeightIndicator(weights)
    alive, rounds = decide_edges(start, space.edge_groups(start), [ind], get_ranking("ntk"), repeats=2,
                                 generator=torch.Generator().manual_seed(0), first_round=3)
    # nodes with 3, 4, 5 inputs lose 1, 2, 3 edges, in both cells: 12 removals, one round each
    assert len(rounds) == 12 and [r.index for r in rounds] == list(range(3, 15))
    assert [len(r.candidates) for r in rounds] == [3, 4, 3, 5, 4, 3] * 2
    assert [r.pruned[0].cell_type for r in rounds] == ["normal"] * 6 + ["reduce"] * 6
    current = start
    for r, calls in zip(rounds, ind.calls[::2]):  # two repeats per round
        assert calls[0] == current  # the origin is the alive-set after every earlier removal
        assert all(c.op is None for c in r.candidates) and len(r.pruned) == 1
        current = r.pruned[0].apply(current)
    assert current == alive
    for c in CELL_TYPES:
        for edges in NODE_EDGES:
            live = [e for e in edges if alive.num_alive(c, e)]
            edge_weight = {e: weights[c][e][start.masks[c][e].numpy()].sum() for e in edges}
            assert sorted(live) == sorted(sorted(edges, key=edge_weight.get)[:2])
    genotype = space.genotype(alive)
    assert all(len(getattr(genotype, c)) == 8 for c in CELL_TYPES)
    records = pd.DataFrame.from_records([row for r in rounds for row in r.records])
    assert set(records["op"]) == {"<edge>"} and records["pruned"].sum() == 12 * 2


def test_op_pruning_then_edge_decision_gives_a_genotype():
    rng = np.random.default_rng(1)
    weights = {c: rng.uniform(0.1, 1.0, size=(len(EDGES), len(OP_NAMES))) for c in CELL_TYPES}
    space = get_space("darts")
    ind = EdgeWeightIndicator(weights)
    alive = space.full_alive_set().without_op_everywhere("none")
    gen = torch.Generator().manual_seed(0)
    alive, op_rounds = prune_ops(alive, [ind], get_ranking("ntk"), 1, gen, ops_per_edge=3)
    assert [len(r.candidates) for r in op_rounds] == [2 * 14 * 7, 2 * 14 * 4]
    with pytest.raises(ValueError, match="not done"):
        space.genotype(alive)
    alive, _ = decide_edges(alive, space.edge_groups(alive), [ind], get_ranking("ntk"), 1, gen)
    genotype = space.genotype(alive)
    for c in CELL_TYPES:  # the lightest op (never none) survives on every kept edge
        for k, (op, source) in enumerate(getattr(genotype, c)):
            edge = EDGES.index((k // 2, source))
            assert op == OP_NAMES[1 + int(np.argmin(weights[c][edge][1:]))]


@pytest.mark.slow
def test_darts_search_end_to_end(tmp_path):
    # synthetic 32x32 images: the checks are on the search's structure and outputs, not on accuracy
    overrides = ["search_space=darts", "dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=32", "search.repeats=1", "+proxy.ntk.inputs.batch_size=2",
                 "search_space.ops_per_edge=6"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    result = run_search(cfg, tmp_path)
    saved = json.loads((tmp_path / "genotype.json").read_text())
    assert saved == json.loads(json.dumps(result))
    genotype = genotype_from_dict(saved["genotype"])
    assert parse_genotype(saved["genotype_repr"]) == genotype and saved["genotype_repr"] == repr(genotype)
    for c in CELL_TYPES:
        pairs = getattr(genotype, c)
        assert len(pairs) == 8 and all(op != "none" for op, _ in pairs)
        assert [source < node // 2 + 2 for node, (_, source) in enumerate(pairs)] == [True] * 8
    assert genotype.normal_concat == genotype.reduce_concat == [2, 3, 4, 5]
    assert [r["candidates"] for r in saved["rounds"]] == [2 * 14 * 7]
    assert len(saved["edge_decisions"]) == 12 and saved["edge_decisions"][0]["round"] == 2
    rounds = pd.read_csv(tmp_path / "candidates.csv")
    assert len(rounds) == 2 * 14 * 7 + 2 * (3 + 4 + 3 + 5 + 4 + 3)
    assert (rounds["op"] == "<edge>").sum() == 2 * 22 and rounds.loc[rounds["op"] == "<edge>", "pruned"].sum() == 12
    assert f"architecture: {saved['genotype_repr']}" in report(result)
    assert "name: darts" in (tmp_path / "config.yaml").read_text()
