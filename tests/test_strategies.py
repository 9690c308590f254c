"""Search strategies (tenas/strategies/, strategy=prune|sample|evolve, and every registered strategy): random architectures and mutations
of both spaces, aging evolution on a fake indicator whose best architecture is known, resuming, and each
strategy end to end on the shared CIFAR-10 sample with a tiny budget."""
import json

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.base import SearchSpace
from search_spaces.darts import CELL_TYPES, OP_NAMES as DARTS_OPS, check_genotype
from search_spaces.nasbench201 import OP_NAMES as NB201_OPS, NASBench201Space, parse_arch
from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.ranking import Ranking
from tenas.search import run_search
from tenas.run_folder import RunFolder
from tenas.strategies import STRATEGIES, StrategyRun
from tests.conftest import REPO
from tests.threads import single_thread  # noqa: F401  (autouse: one torch thread)


def gen(seed):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- spaces
def test_nb201_random_single_path_is_seeded_valid_and_covers_every_op():
    space = get_space("nasbench201")
    draws = [space.random_single_path(gen(3)) for _ in range(2)]
    assert draws[0] == draws[1]
    g = gen(0)
    archs = [space.arch_text(space.random_single_path(g)) for _ in range(300)]
    for arch in archs:
        assert len(parse_arch(arch)) == 6
    # uniform over the 15,625 cells: every op (none included) shows up on every edge
    for e in range(6):
        assert {parse_arch(a)[e] for a in archs} == set(NB201_OPS)
    assert len(set(archs)) > 290


def test_nb201_mutate_changes_one_edge_to_another_op():
    space = get_space("nasbench201")
    g = gen(1)
    for _ in range(100):
        parent = space.random_single_path(g)
        before = parent.masks["cell"].clone()
        child = space.mutate(parent, g)
        assert torch.equal(parent.masks["cell"], before)  # the parent is untouched
        a, b = parse_arch(space.arch_text(parent)), parse_arch(space.arch_text(child))
        assert sum(x != y for x, y in zip(a, b)) == 1
    parent = space.random_single_path(gen(5))
    assert space.mutate(parent, gen(9)) == space.mutate(parent, gen(9))
    with pytest.raises(ValueError):
        space.mutate(space.full_alive_set(), g)


def darts_pairs(space, alive):
    g = space.genotype(alive)
    return {c: getattr(g, c) for c in CELL_TYPES}


def test_darts_random_single_path_is_a_seeded_valid_genotype():
    space = get_space("darts")
    assert space.random_single_path(gen(2)) == space.random_single_path(gen(2))
    g = gen(0)
    seen_ops, seen_inputs = set(), set()
    for _ in range(50):
        alive = space.random_single_path(g)
        genotype = check_genotype(space.genotype(alive))
        assert space.alive_set_for(genotype) == alive
        for c in CELL_TYPES:
            assert int(alive.masks[c].sum()) == 8 and not alive.masks[c][:, DARTS_OPS.index("none")].any()
            seen_ops |= {op for op, _ in getattr(genotype, c)}
            seen_inputs |= {(k // 2, src) for k, (_, src) in enumerate(getattr(genotype, c))}
    assert seen_ops == set(DARTS_OPS) - {"none"}
    assert seen_inputs == {(node, src) for node in range(4) for src in range(node + 2)}


def test_darts_mutate_changes_one_input_or_op_of_one_node():
    space = get_space("darts")
    g = gen(4)
    kinds = set()
    for _ in range(100):
        parent = space.random_single_path(g)
        child = space.mutate(parent, g)
        a, b = darts_pairs(space, parent), darts_pairs(space, child)
        changed = [(c, k) for c in CELL_TYPES for k in range(8) if a[c][k] != b[c][k]]
        nodes = {(c, k // 2) for c, k in changed}
        assert len(nodes) == 1, (a, b)
        (c, node), = nodes
        old, new = a[c][2 * node : 2 * node + 2], b[c][2 * node : 2 * node + 2]
        old_ops, new_ops = sorted(op for op, _ in old), sorted(op for op, _ in new)
        old_src, new_src = {s for _, s in old}, {s for _, s in new}
        if old_src == new_src:  # an op changed: exactly one
            kinds.add("op")
            assert sum(x != y for x, y in zip(old, new)) == 1
        else:  # an input moved, ops kept
            kinds.add("input")
            assert len(old_src & new_src) == 1 and old_ops == new_ops
    assert kinds == {"op", "input"}


def test_a_space_without_random_architectures_says_so():
    class Bare(NASBench201Space):  # a space that leaves both to SearchSpace
        name = "bare"
        random_single_path = SearchSpace.random_single_path
        mutate = SearchSpace.mutate

    with pytest.raises(NotImplementedError, match="random_single_path.*strategy=sample"):
        Bare().random_single_path(gen(0))
    with pytest.raises(NotImplementedError, match="mutate.*strategy=evolve"):
        Bare().mutate(Bare().full_alive_set(), gen(0))


# ----------------------------------------------------------------------------- fake indicator
class CountConv3x3:
    """An architecture scorer whose lower-is-better "ntk" is minus the number of nor_conv_3x3 ops: the best cell has six."""

    names, durable = ["ntk"], True

    def __init__(self, fail_after=None, repeats=1):
        self.scored, self.repeats, self.fail_after = 0, repeats, fail_after

    def __call__(self, alive_sets):
        out = []
        for alive in alive_sets:
            if self.fail_after is not None and self.scored >= self.fail_after:
                raise KeyboardInterrupt("simulated kill")
            self.scored += 1
            out.append({"ntk": -float(alive.masks["cell"][:, NB201_OPS.index("nor_conv_3x3")].sum())})
        return out


RANKING = Ranking("ntk", ("ntk",), "rank_sum")


def count3x3(arch):
    return parse_arch(arch).count("nor_conv_3x3")


def run_fake(strategy, out, settings, fail_after=None, repeats=2, seed=0):
    space = get_space("nasbench201")
    fake = CountConv3x3(fail_after, repeats)
    alive, frame, _, _ = STRATEGIES[strategy](StrategyRun(space, fake, RANKING, repeats, seed, RunFolder(out, "search")), settings)
    return space.arch_text(alive), frame, fake


@pytest.mark.parametrize("options", [{}, {"parents": 2, "crossover": True}], ids=["real", "freerea"])
def test_evolve_climbs_to_the_known_best_with_aging(tmp_path, options):
    P, S, B = 8, 4, 150
    arch, frame, fake = run_fake("evolve", tmp_path, {"population_size": P, "sample_size": S, "budget": B, **options})
    assert count3x3(arch) == 6  # the all-conv3x3 cell (1 in 15,625 at random)
    # the budget counts distinct architectures, each scored once
    assert list(frame["index"]) == list(range(B)) and frame.arch.is_unique and fake.scored == B
    assert (frame.kind[:P] == "random").all() and (frame.parent[:P] == -1).all() and (frame.step[:P] == 0).all()
    assert set(frame.kind[P:]) == ({"mutation", "crossover"} if options else {"mutation"})
    first_of_step = frame.groupby("step")["index"].min()
    for row in frame.iloc[P:].itertuples():
        assert 0 <= row.parent < first_of_step[row.step]  # made from an architecture scored before its generation
        ops, parent = parse_arch(row.arch), parse_arch(frame.arch[row.parent])
        if row.kind == "mutation":  # one edge away from its parent
            assert row.parent2 == -1 and sum(x != y for x, y in zip(parent, ops)) == 1
        else:  # every edge from one parent or the other, unlike both
            other = parse_arch(frame.arch[row.parent2])
            assert all(o in (x, y) for o, x, y in zip(ops, parent, other)) and ops not in (parent, other)
    assert frame.chosen.sum() == 1 and frame.arch[frame.chosen].item() == arch
    assert frame.merit[frame.chosen].item() == frame.merit.max()
    # tournaments pick good parents: the final population beats the random initial one
    assert frame.arch[frame.in_population].map(count3x3).mean() > frame.arch[:P].map(count3x3).mean() + 2


class AtMostTwoConv3x3:
    """Limits under which at most 2 nor_conv_3x3 are affordable."""

    limits = {"conv3x3": 2}

    def feasible(self, alive):
        return count3x3(get_space("nasbench201").arch_text(alive)) <= 2


def test_evolve_keeps_within_cost_limits(tmp_path):
    """Children over the limits are never scored."""
    space = get_space("nasbench201")
    fake = CountConv3x3()
    run = StrategyRun(space, fake, RANKING, 1, 0, RunFolder(tmp_path, "search"), limits=AtMostTwoConv3x3())
    alive, frame, _, _ = STRATEGIES["evolve"](run, {"population_size": 6, "sample_size": 3, "budget": 40, "parents": 2, "crossover": True})
    assert frame.arch.map(count3x3).max() == 2 == count3x3(space.arch_text(alive)) and fake.scored == 40


@pytest.mark.parametrize("name", ["nasbench201", "darts"])
def test_crossover_children_are_valid_and_unlike_both_parents(name):
    space, g = get_space(name), gen(4)
    made = 0
    for _ in range(200):
        a, b = space.random_single_path(g), space.random_single_path(g)
        child = space.crossover(a, b, g)
        assert space.crossover(a, a, g) is None  # nothing to cross
        if child is None:
            continue
        made += 1
        space.genotype(child)  # a finished genotype of the space
        assert space.arch_text(child) not in (space.arch_text(a), space.arch_text(b))
        for cell, masks in child.masks.items():  # every edge's ops come from one parent or the other
            assert bool(((masks == a.masks[cell]).all(1) | (masks == b.masks[cell]).all(1)).all())
    assert made > 150


def test_sample_picks_the_best_merit_and_is_seeded(tmp_path):
    arch, frame, fake = run_fake("sample", tmp_path / "a", {"num_samples": 40, "chunk_size": 16})
    assert frame.arch.nunique() == 40 and fake.scored == 40
    assert count3x3(arch) == frame.arch.map(count3x3).max()
    assert frame.arch[frame.chosen].item() == arch and frame.merit[frame.chosen].item() == frame.merit.max()
    again, frame2, _ = run_fake("sample", tmp_path / "b", {"num_samples": 40})
    assert again == arch
    pd.testing.assert_frame_equal(frame, frame2)
    other, frame3, _ = run_fake("sample", tmp_path / "c", {"num_samples": 40}, seed=1)
    assert list(frame3.arch) != list(frame.arch)


@pytest.mark.parametrize("strategy,size_key,small,large", [("sample", "num_samples", 15, 40), ("evolve", "budget", 30, 70)])
def test_resume_after_a_kill_or_a_smaller_budget(tmp_path, strategy, size_key, small, large):
    settings = {"population_size": 6, "sample_size": 3, "chunk_size": 4} if strategy == "evolve" else {"chunk_size": 4}
    whole, frame, _ = run_fake(strategy, tmp_path / "whole", {**settings, size_key: large})
    # a kill mid-run, then the same command again
    with pytest.raises(KeyboardInterrupt):
        run_fake(strategy, tmp_path / "killed", {**settings, size_key: large}, fail_after=23)
    stored = len((tmp_path / "killed" / "checkpoint.jsonl").read_text().splitlines())
    assert 0 < stored < large
    resumed, frame2, fake = run_fake(strategy, tmp_path / "killed", {**settings, size_key: large})
    assert resumed == whole
    pd.testing.assert_frame_equal(frame, frame2)
    assert fake.scored <= large - stored  # only what was missing is scored
    # a smaller budget first, then the larger one in the same folder
    run_fake(strategy, tmp_path / "grown", {**settings, size_key: small})
    grown, frame3, _ = run_fake(strategy, tmp_path / "grown", {**settings, size_key: large})
    assert grown == whole
    pd.testing.assert_frame_equal(frame, frame3)
    # and cut back: the start of the larger run
    cut, frame4, fake = run_fake(strategy, tmp_path / "grown", {**settings, size_key: small})
    assert fake.scored == 0
    pd.testing.assert_frame_equal(frame4.drop(columns=["merit", "chosen", "in_population"], errors="ignore"),
                                  frame.iloc[:small].drop(columns=["merit", "chosen", "in_population"], errors="ignore"))


def test_a_folder_with_other_settings_is_refused(tmp_path):
    space = get_space("nasbench201")
    folder = RunFolder(tmp_path, "search")
    folder.claim({"seed": 0, "p": 4})
    STRATEGIES["evolve"](StrategyRun(space, CountConv3x3(), RANKING, 1, 0, folder), {"population_size": 4, "budget": 6})
    with pytest.raises(TenasError, match=r"holds a search with other settings \(p differ\)"):
        folder.claim({"seed": 0, "p": 5})
    folder.claim({"seed": 0, "p": 4})  # the same settings: resumed
    with pytest.raises(TenasError, match="entry 0 holds"):  # unclaimed: the stored architectures disagree
        STRATEGIES["sample"](StrategyRun(space, CountConv3x3(), RANKING, 1, 7, folder), {"num_samples": 6})


# ----------------------------------------------------------------------------- end to end (real NTK; real data only where compared with the benchmark)
TINY = ["search.repeats=1", "+proxy.ntk.inputs.batch_size=4", "+proxy.ntk.network.C=2"]
SYNTHETIC = ["dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=16"]  # no ../shared/data needed
SYNTHETIC_32 = ["dataset=synthetic", "dataset.num_samples=64", "dataset.image_size=32"]


def real(cifar10_npz):
    return ["dataset=npz", f"dataset.path={cifar10_npz}"]


def compose_search(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def search(out, data, *overrides):
    """Run a search on ``data`` (dataset overrides: SYNTHETIC or real(path))."""
    result = run_search(compose_search([*TINY, *data, *overrides]), out)
    assert json.loads((out / "genotype.json").read_text()) == json.loads(json.dumps(result))
    return result


def test_sample_end_to_end_same_seed_resume_and_accuracies(cifar10_npz, nb201_csv, tmp_path):
    bench = f"benchmark.path={nb201_csv}"
    a = search(tmp_path / "a", real(cifar10_npz), "strategy=sample", "strategy.num_samples=12", bench)
    parse_arch(a["arch"])
    assert a["strategy"] == "sample" and a["num_scored"] == 12 and a["sample"]["num_samples"] == 12
    table = pd.read_csv(nb201_csv).set_index("arch_str")
    assert a["test_accuracies"]["cifar10"] == pytest.approx(table.loc[a["arch"], "cifar10_test"])
    pop = pd.read_csv(tmp_path / "a" / "candidates.csv")
    assert len(pop) == 12 and {"index", "arch", "ntk", "merit", "chosen", "cifar10_test"} <= set(pop.columns)
    assert pop.arch[pop.chosen].item() == a["arch"] and pop.ntk[pop.chosen].item() == pop.ntk.min()
    assert pop.cifar10_test.tolist() == pytest.approx(table.loc[pop.arch, "cifar10_test"].tolist())
    assert "strategy" in (tmp_path / "a" / "config.yaml").read_text()
    # same seed, same result; 5 then 12 in one folder (resumed) = 12 at once
    search(tmp_path / "b", real(cifar10_npz), "strategy=sample", "strategy.num_samples=5", bench)
    b = search(tmp_path / "b", real(cifar10_npz), "strategy=sample", "strategy.num_samples=12", bench)
    assert b["arch"] == a["arch"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b" / "candidates.csv"), pop)


def test_evolve_end_to_end_same_seed_same_result(tmp_path):
    args = ["strategy=evolve", "strategy.budget=9", "strategy.population_size=4", "strategy.sample_size=2", "seed=3"]
    a = search(tmp_path / "a", SYNTHETIC, *args)
    b = search(tmp_path / "b", SYNTHETIC, *args)
    parse_arch(a["arch"])
    assert a["strategy"] == "evolve" and a["arch"] == b["arch"] and a["merit"] == b["merit"]
    pop_a, pop_b = (pd.read_csv(tmp_path / d / "candidates.csv") for d in "ab")
    pd.testing.assert_frame_equal(pop_a, pop_b)
    assert list(pop_a["index"]) == list(range(9)) and pop_a.arch.is_unique and pop_a.in_population.sum() == 4


def test_prune_is_the_default_and_writes_rounds(tmp_path):
    result = search(tmp_path / "p", SYNTHETIC, "search_space.C=2")
    assert result["strategy"] == "prune" and [r["candidates"] for r in result["rounds"]] == [24, 18, 12]
    rounds = pd.read_csv(tmp_path / "p" / "candidates.csv")  # the same table's name and place, its columns the strategy's
    assert {"round", "edge", "op", "pruned"} <= set(rounds.columns) and "arch" not in rounds.columns


def test_sample_on_darts(tmp_path):
    result = search(tmp_path / "d", SYNTHETIC_32, "search_space=darts", "strategy=sample", "strategy.num_samples=3",
                    "search_space.proxy.ntk.options.chunk_size=4")
    genotype = check_genotype(tuple(result["genotype"][f] for f in ("normal", "normal_concat", "reduce", "reduce_concat")))
    assert result["genotype_repr"] == repr(genotype) and result["num_scored"] == 3
    pop = pd.read_csv(tmp_path / "d" / "candidates.csv")
    assert len(pop) == 3 and pop.arch[pop.chosen].item() == result["genotype_repr"]


# ----------------------------------------------------------------------------- every registered strategy
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_strategy_runs_with_its_defaults_and_writes_the_one_table(name, tmp_path):
    """``strategy=<name>`` composes from the registration alone; its defaults pass its own rules, an unknown key
    and each setting's wrong type are refused with one line naming it; a search with its defaults writes
    ``candidates.csv`` and ``genotype.json`` (on a score table when one can serve it, else on tiny images)."""
    from tenas.search import prepare_search
    from tests.test_table import write_table

    entry = STRATEGIES[name]
    entry.validate({"name": name, **entry.defaults()})
    with pytest.raises(TenasError, match=r"^strategy\.no_such_key: unknown setting"):
        prepare_search(compose_search([*SYNTHETIC, f"strategy={name}", "+strategy.no_such_key=1"]))
    for setting in entry.settings:
        with pytest.raises(TenasError, match=rf"^strategy\.{setting.key}: "):
            entry.validate({**entry.defaults(), setting.key: [1]})  # no setting takes a list
    if entry.table:
        write_table(tmp_path / "t.csv")
        data = ["scorer=table", f"scorer.path={tmp_path / 't.csv'}", "ranking.proxies=[nwot]"]
    else:
        data = [*TINY, *SYNTHETIC, "search_space.C=2"]
    result = run_search(compose_search([*data, f"strategy={name}"]), tmp_path / "run")
    assert result["strategy"] == name and json.loads((tmp_path / "run" / "genotype.json").read_text())["arch"] == result["arch"]
    frame = pd.read_csv(tmp_path / "run" / "candidates.csv")
    assert len(frame) > 0 and (result["arch"] in set(frame["arch"]) if "arch" in frame else True)


@pytest.mark.parametrize("strategy", ["prune", "sample"])
def test_a_run_folder_is_claimed_before_anything_is_written(tmp_path, strategy):
    """Every strategy's folder holds one identity (search.json): a rerun with a setting its outputs depend on
    changed (here the benchmark dataset searched for, which sets the networks' class count) is refused before
    config.yaml is rewritten; a larger sample in the same folder is a resume, not another search."""
    base = [*SYNTHETIC, "search.repeats=1", "ranking.proxies=[params]", f"strategy={strategy}"]
    if strategy == "sample":
        base.append("strategy.num_samples=3")
    out = tmp_path / "run"
    run_search(compose_search(base), out)
    config = (out / "config.yaml").read_bytes()
    assert json.loads((out / "search.json").read_text())["benchmark"] == {"dataset": None}
    with pytest.raises(TenasError, match=r"holds a search with other settings \(benchmark differ\)"):
        run_search(compose_search([*base, "benchmark.dataset=cifar100"]), out)
    assert (out / "config.yaml").read_bytes() == config
    if strategy == "sample":  # num_samples is not part of the identity: the folder's three are reused
        grown = run_search(compose_search([*base[:-1], "strategy.num_samples=5"]), out)
        assert grown["num_scored"] == 5 and len(RunFolder(out, "search").checkpoint().rows) == 5


def test_an_unreadable_state_is_refused_before_anything_is_written(tmp_path):
    """What a rerun resumes from is read when the folder is claimed: a broken state.pt stops the run before
    config.yaml is rewritten (one line, naming the file)."""
    base = [*SYNTHETIC, "search.repeats=1", "ranking.proxies=[params]", "strategy=prune"]
    out = tmp_path / "run"
    run_search(compose_search(base), out)
    written = (out / "config.yaml").stat().st_ino  # an atomic rewrite, even of the same text, is a new file
    (out / "state.pt").write_bytes(b"not a torch file")
    with pytest.raises(TenasError, match=r"state\.pt: not a run state tenas can read"):
        run_search(compose_search([*base, "seed=0"]), out)
    assert (out / "config.yaml").stat().st_ino == written
