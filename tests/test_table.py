"""Score tables (tenas/table.py, scorer=table): a search on a whole-space table picks the table's argmax
(sample) and is reproducible (evolve); a truncated or foreign table is refused with one line; NASLib's
zero-cost JSON reads as a table."""
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from search_spaces import get_space
from search_spaces.nasbench201 import parse_arch
from tenas import CONF_DIR
from tenas.errors import TenasError
from tenas.search import run_search
from tenas.table import ScoreTable, naslib_arch, read_naslib
from tests.conftest import REPO, shared_file


def write_table(path, drop: int = 0, columns=("nwot", "logsynflow", "skip_prior")) -> pd.DataFrame:
    """A whole-space table: nwot = number of nor_conv_3x3 plus noise, the rest noise; ``drop`` rows left out."""
    archs = get_space("nasbench201").all_archs()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"index": range(len(archs)), "arch": archs})
    for column in columns:
        frame[column] = rng.normal(size=len(archs))
    frame["nwot"] += [3 * parse_arch(a).count("nor_conv_3x3") for a in archs]
    frame.iloc[: len(frame) - drop].to_csv(path, index=False)
    return frame


def table_search(path, out, *overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="search", overrides=["scorer=table", f"scorer.path={path}", *overrides])
    return run_search(cfg, out)


def test_all_archs_is_the_whole_nb201_space():
    archs = get_space("nasbench201").all_archs()
    assert len(archs) == len(set(archs)) == 15625 and all(len(parse_arch(a)) == 6 for a in archs)


def test_nb201_numbers_its_architectures_as_the_benchmark_does():
    """``all_archs`` is NAS-Bench-201's index order and ``arch_key`` the index (the key of an architecture's
    weights in a study and a live search alike), checked on the benchmark's own table."""
    frame = pd.read_csv(shared_file("nb201/nb201_hp200_test_acc.csv"))
    space = get_space("nasbench201")
    assert space.all_archs() == frame["arch_str"].tolist()
    for i in (0, 9, 123, 15624):
        assert space.arch_key(frame["arch_str"][i]) == frame["index"][i] == i


def test_sample_on_a_table_picks_the_tables_argmax(tmp_path):
    frame = write_table(tmp_path / "t.csv.gz")
    result = table_search(tmp_path / "t.csv.gz", tmp_path / "a", "strategy=sample", "strategy.num_samples=15625", "ranking.proxies=[nwot]")
    assert result["arch"] == frame["arch"][frame["nwot"].idxmax()] and result["num_scored"] == 15625
    assert result["scorer"]["table"] == str(tmp_path / "t.csv.gz")
    pop = pd.read_csv(tmp_path / "a" / "candidates.csv").set_index("arch")
    assert pop["nwot"].to_numpy() == pytest.approx(frame.set_index("arch").loc[pop.index, "nwot"].to_numpy())


def test_evolve_on_a_table_is_fast_reproducible_and_climbs(tmp_path):
    frame = write_table(tmp_path / "t.csv")
    args = ["+experiment=freerea", "strategy.budget=300", "seed=5"]
    a = table_search(tmp_path / "t.csv", tmp_path / "a", *args)
    b = table_search(tmp_path / "t.csv", tmp_path / "b", *args)
    assert a["arch"] == b["arch"] and a["merit"] == b["merit"] and a["num_scored"] == 300
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "a" / "candidates.csv"), pd.read_csv(tmp_path / "b" / "candidates.csv"))
    pop = pd.read_csv(tmp_path / "a" / "candidates.csv")
    assert pop.arch.is_unique and pop.nwot[pop.kind != "random"].mean() > pop.nwot[pop.kind == "random"].mean() + 1
    assert "dataset" not in json.dumps(a.get("test_accuracies", {}))  # no benchmark given, no accuracies


def test_a_live_search_scores_and_finds_what_the_search_on_the_table_of_its_seed_does(tmp_path, cifar10_npz):
    """The committed FreeREA table was made by a study of seed 0 on the shared CIFAR-10 sample: a live
    ``+experiment=freerea`` search of seed 0 on those images scores every architecture as the table holds it
    (one scorer, weights keyed by the benchmark index) and so evolves and chooses exactly as the table search."""
    table = REPO / "results" / "tables" / "nb201-cifar10-freerea.csv.gz"
    args = ["+experiment=freerea", "strategy.budget=10", "strategy.population_size=6", "strategy.sample_size=3", "seed=0"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="search", overrides=[*args, "dataset=npz", f"dataset.path={cifar10_npz}", "compute.workers=1"])
    live = run_search(cfg, tmp_path / "live")
    on_table = table_search(table, tmp_path / "table", *args)
    assert live["arch"] == on_table["arch"] and live["scores"] == pytest.approx(on_table["scores"], nan_ok=True)
    a, b = (pd.read_csv(tmp_path / run / "candidates.csv") for run in ("live", "table"))
    assert a["arch"].tolist() == b["arch"].tolist() and a["kind"].tolist() == b["kind"].tolist()
    for proxy in ("logsynflow", "nwot", "skip_prior", "merit"):
        np.testing.assert_allclose(a[proxy], b[proxy], rtol=1e-9, equal_nan=True, err_msg=proxy)


@pytest.mark.parametrize("problem", ["truncated", "foreign", "no_column", "duplicated", "missing_file", "prune", "other_dataset"])
def test_a_bad_table_is_refused_before_any_work(tmp_path, problem):
    path = tmp_path / "t.csv"
    overrides = ["strategy=sample", "strategy.num_samples=10"]
    if problem == "truncated":
        write_table(path, drop=1)
        match = "lacks 1 of the space.s 15625 architectures, " + re.escape(get_space("nasbench201").all_archs()[-1])
    elif problem == "foreign":
        path.write_text("name,score\nresnet,1.0\n")
        match = "no 'arch' column"
    elif problem == "no_column":
        write_table(path, columns=("nwot", "skip_prior"))
        overrides.append("ranking=freerea")
        match = r"has no scores of \['logsynflow'\]"
    elif problem == "duplicated":
        frame = write_table(path)
        pd.concat([frame, frame.iloc[:1]]).to_csv(path, index=False)
        match = "more than once"
    elif problem == "missing_file":
        match = "is not a file"
    elif problem == "other_dataset":  # scores of CIFAR-10 networks, a search for ImageNet16-120
        write_table(path)
        (tmp_path / "t.protocol.json").write_text(json.dumps({"benchmark_dataset": "cifar10"}))
        overrides.append("benchmark.dataset=imagenet16_120")
        match = "holds scores of cifar10 networks; this search is for imagenet16_120"
    else:
        write_table(path)
        overrides = ["strategy=prune"]
        match = r"a score table serves the strategies that score whole architectures \(evolve, sample\), not .prune."
    with pytest.raises(TenasError, match=match) as err:
        table_search(path, tmp_path / "out", *overrides, "ranking.proxies=[nwot]" if problem != "no_column" else "seed=0")
    assert "\n" not in str(err.value) and str(err.value).startswith(("scorer.path: ", "scorer.name: "))
    assert not (tmp_path / "out").exists()


def test_naslib_zero_cost_json_reads_as_a_table():
    path = shared_file("naslib/zc_nasbench201.json")
    raw = json.loads(path.read_text())
    for dataset in ("cifar10", "cifar100", "ImageNet16-120"):
        frame = read_naslib(path, dataset)
        assert len(frame) == len(raw[dataset]) > 700 and frame.arch.is_unique
        key, entry = next(iter(raw[dataset].items()))
        row = frame.set_index("arch").loc[naslib_arch(key)]
        assert row["nwot"] == entry["nwot"]["score"] and row["val_accuracy"] == entry["val_accuracy"]
    # the tuple's edge order: (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) over ops skip, none, 3x3, 1x1, pool
    assert naslib_arch("(0, 2, 3, 2, 3, 1)") == "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    table = ScoreTable.load(path, "cifar100")
    with pytest.raises(TenasError, match="lacks"):  # ~725 architectures: not the whole space
        table.check(["nwot"], get_space("nasbench201").all_archs())
    with pytest.raises(TenasError, match="scorer.dataset"):
        ScoreTable.load(path, "imagenet")


@pytest.mark.parametrize("sidecar", sorted((Path(__file__).parents[1] / "results" / "tables").glob("*.protocol.json")), ids=lambda p: p.name)
def test_every_committed_score_table_covers_the_space_with_the_proxies_its_protocol_names(sidecar):
    """A committed table is what `scorer=table` reads: every NAS-Bench-201 architecture once, a column per proxy
    its protocol (the study's identity) names, each with a finite score for nearly all architectures."""
    from tenas.table import ScoreTable

    protocol = json.loads(sidecar.read_text())
    table = ScoreTable.load(sidecar.with_name(sidecar.name.replace(".protocol.json", ".csv.gz")))
    assert table.protocol == protocol and table.benchmark_dataset() == protocol["benchmark_dataset"]
    proxies = protocol["study"]["proxies"]
    table.check(proxies, get_space("nasbench201").all_archs())  # refuses a missing proxy or architecture
    assert len(table.frame) == 15625
    for proxy in proxies:
        assert np.isfinite(table.frame[proxy].to_numpy(dtype=float)).mean() > 0.95, proxy
