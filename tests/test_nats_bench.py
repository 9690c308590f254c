"""NATS-Bench topology benchmark through the nats_bench package, on small benchmarks built in its own format.

The folder form (``NATS-tss-v1_0-3ffb9-simple``) is what the package's ``tss-collect`` writes: a
``meta.pickle.pbz2`` with the architecture list and one ``NNNNNN.pickle.pbz2`` per architecture
holding ``{"12": ArchResults.state_dict(), "200": ...}`` (weights cleared). The single-file form is
one ``.pickle.pbz2`` with every architecture's results under ``arch2infos``. Accuracies come from the
shared NAS-Bench-201 table; every decoy (other hp, other eval set, earlier epoch, ``cifar10-valid``)
differs from the 200-epoch test accuracy, so a lookup of the wrong entry fails.
"""
from __future__ import annotations

import collections

import pandas as pd
import pytest

from tenas.benchmark import NATSBenchmark, load_benchmark
from tenas.errors import TenasError

nats_bench = pytest.importorskip("nats_bench", reason="the NATS-Bench loader needs the nats_bench package (pip install nats_bench)")
from nats_bench import api_topology, api_utils  # noqa: E402
from nats_bench.api_utils import ArchResults, ResultsCount, pickle_save  # noqa: E402

ROWS = [0, 1, 7, 1462, 5000, 15624]  # benchmark indices taken from the table; the CIFAR-10 best is appended
SEEDS = {"12": [111, 777], "200": [777, 888, 999]}
SHIFTS = {777: -0.3, 888: 0.1, 999: 0.2, 111: 0.0}  # sum to zero over the hp-200 seeds: their mean is the table value
EPOCHS = {"12": 12, "200": 200}
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
TEST_SET = {"cifar10": "ori-test", "cifar100": "x-test", "ImageNet16-120": "x-test"}
COLUMN = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}


def _arch_results(index: int, row, hp: str) -> ArchResults:
    info = ArchResults(index, row["arch_str"])
    epochs = EPOCHS[hp]
    for dataset, sets in EVAL_SETS.items():
        for seed in SEEDS[hp]:
            arch_config = {"arch_str": row["arch_str"], "channel": 16, "num_cells": 5, "class_num": 10}
            train = {e: 50.0 for e in range(epochs)}
            result = ResultsCount(dataset, None, train, {e: 1.0 for e in range(epochs)}, 1.5, 150.0, arch_config, seed, epochs, None)
            accs, losses, times = {}, {}, {}
            for k, name in enumerate(sets):
                if hp == "200" and TEST_SET.get(dataset) == name:
                    final = float(row[COLUMN[dataset]]) + SHIFTS[seed]
                else:  # a decoy: what a lookup of the wrong hp / set / dataset would return
                    final = 11.0 + k + (0.5 if dataset == "cifar10-valid" else 0.0)
                for e in range(epochs):
                    accs[f"{name}@{e}"] = final if e == epochs - 1 else final - 7.0
                    losses[f"{name}@{e}"] = 0.5
                    times[f"{name}@{e}"] = 0.01
            result.update_eval(accs, losses, times)
            info.update(dataset, seed, result)
    info.clear_params()
    return info


def _per_arch(index: int, row) -> dict:
    return collections.OrderedDict((hp, _arch_results(index, row, hp).state_dict()) for hp in ("12", "200"))


@pytest.fixture(scope="module")
def table(request) -> pd.DataFrame:
    from tests.conftest import shared_file

    full = pd.read_csv(shared_file("nb201/nb201_hp200_test_acc.csv"))
    rows = ROWS + [int(full["cifar10_test"].idxmax())]
    return full.loc[rows].reset_index(drop=True)


def write_nats_folder(table: pd.DataFrame, folder):
    """The fast-mode folder: meta.pickle.pbz2 + NNNNNN.pickle.pbz2, written with the package's pickle_save."""
    folder.mkdir(parents=True)
    archs = list(table["arch_str"])
    pickle_save({"meta_archs": archs, "total_archs": len(archs), "arch2infos": None, "evaluated_indexes": set()}, str(folder / "meta.pickle"))
    for i, row in table.iterrows():
        pickle_save(_per_arch(i, row), str(folder / f"{i:06d}.pickle"))
    return folder


def write_nats_file(table: pd.DataFrame, path):
    """The single-file form: every architecture under arch2infos."""
    archs = list(table["arch_str"])
    data = {"meta_archs": archs, "total_archs": len(archs), "arch2infos": {i: _per_arch(i, row) for i, row in table.iterrows()}, "evaluated_indexes": set(range(len(archs)))}
    assert path.name.endswith(".pickle.pbz2")
    pickle_save(data, str(path)[: -len(".pbz2")])
    return path


@pytest.fixture(scope="module")
def nats_folder(table, tmp_path_factory):
    return write_nats_folder(table, tmp_path_factory.mktemp("torch_home") / "NATS-tss-v1_0-3ffb9-simple")


def _assert_matches(bench, table):
    for _, row in table.iterrows():
        acc = bench.test_accuracy(row["arch_str"])
        assert set(acc) == {"cifar10", "cifar100", "ImageNet16-120"}
        for ds, col in COLUMN.items():
            assert acc[ds] == pytest.approx(float(row[col]), abs=1e-9), (row["arch_str"], ds)


def test_folder_gives_the_written_accuracies(nats_folder, table):
    bench = load_benchmark(nats_folder)
    assert isinstance(bench, NATSBenchmark)
    assert bench.archs() == list(table["arch_str"])
    _assert_matches(bench, table)
    assert max(bench.test_accuracy(a)["cifar10"] for a in bench.archs()) == pytest.approx(94.3733, abs=1e-3)


def test_folder_is_opened_in_fast_mode_and_read_lazily(nats_folder, table, monkeypatch):
    reads = []
    real = api_utils.pickle_load

    def spy(file_path, *args, **kwargs):
        reads.append(str(file_path).rsplit("/", 1)[-1])
        return real(file_path, *args, **kwargs)

    monkeypatch.setattr(api_utils, "pickle_load", spy)  # reload() (per-architecture files)
    monkeypatch.setattr(api_topology, "pickle_load", spy)  # NATStopology.__init__ (meta / single file)
    bench = load_benchmark(nats_folder)
    assert bench.api.fast_mode is True and bench.api.archive_dir == str(nats_folder)
    assert reads == ["meta.pickle.pbz2"]
    assert len(bench.api.arch2infos_dict) == 0 and bench.api.evaluated_indexes == set()
    bench.test_accuracy(table.loc[3, "arch_str"])
    assert reads == ["meta.pickle.pbz2", "000003.pickle.pbz2"]
    assert set(bench.api.arch2infos_dict) == {3}
    bench.test_accuracy(table.loc[3, "arch_str"])  # cached: no second read
    assert len(reads) == 2


def test_unread_files_are_never_opened(table, tmp_path):
    folder = write_nats_folder(table, tmp_path / "NATS-tss-v1_0-3ffb9-simple")
    (folder / "000004.pickle.pbz2").write_bytes(b"corrupt")
    (folder / "000005.pickle.pbz2").unlink()
    bench = load_benchmark(folder)  # fine: only the meta file is read at load
    _assert_matches(bench, table.drop(index=[4, 5]))
    with pytest.raises(TenasError, match="000004.pickle.pbz2") as err:
        bench.test_accuracy(table.loc[4, "arch_str"])
    assert "\n" not in str(err.value) and "200-epoch" in str(err.value)
    with pytest.raises(TenasError, match=r"000005.pickle.pbz2 .* is missing") as err:
        bench.test_accuracy(table.loc[5, "arch_str"])
    assert "\n" not in str(err.value)
    with pytest.raises(TenasError, match="not in the benchmark"):
        bench.test_accuracy("|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|")


def test_meta_file_path_opens_its_folder(nats_folder, table):
    bench = load_benchmark(nats_folder / "meta.pickle.pbz2")
    assert bench.api.fast_mode is True
    _assert_matches(bench, table.head(2))


def test_single_file_form(table, tmp_path):
    path = write_nats_file(table, tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    bench = load_benchmark(path)
    assert isinstance(bench, NATSBenchmark) and bench.api.fast_mode is False
    assert bench.archs() == list(table["arch_str"])
    _assert_matches(bench, table)


def _empty_folder(tmp_path):
    (tmp_path / "NATS-tss-v1_0-3ffb9-simple").mkdir()
    return tmp_path / "NATS-tss-v1_0-3ffb9-simple", "without meta.pickle.pbz2"


def _torch_home(tmp_path):
    write_nats_folder(pd.DataFrame({"arch_str": ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], **{c: [10.0] for c in COLUMN.values()}}), tmp_path / "NATS-tss-v1_0-3ffb9-simple")
    return tmp_path, "did you mean .*NATS-tss-v1_0-3ffb9-simple"


def _junk_meta(tmp_path):
    folder = tmp_path / "bench"
    folder.mkdir()
    (folder / "meta.pickle.pbz2").write_text("not bz2")
    return folder, "not a NATS-Bench topology benchmark"


def _size_space_folder(tmp_path):
    folder = tmp_path / "NATS-sss-v1_0-50262-simple"
    folder.mkdir()
    pickle_save({"meta_archs": ["8:8:8:8:8"], "total_archs": 1, "arch2infos": None, "evaluated_indexes": set()}, str(folder / "meta.pickle"))
    return folder, "size-search-space"


def _size_space_content(tmp_path):
    folder = tmp_path / "renamed"
    folder.mkdir()
    pickle_save({"meta_archs": ["8:8:8:8:8"], "total_archs": 1, "arch2infos": None, "evaluated_indexes": set()}, str(folder / "meta.pickle"))
    return folder, "not NAS-Bench-201 cells"


def _tar(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9-simple.tar"
    path.write_bytes(b"\0" * 512)
    return path, "extract it first"


def _junk_single_file(tmp_path):
    path = tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2"
    path.write_text("junk")
    return path, "not a NATS-Bench topology benchmark"


def _wrong_dict_single_file(tmp_path):
    path = tmp_path / "other.pickle.pbz2"
    pickle_save({"hello": 1}, str(path)[: -len(".pbz2")])
    return path, "not a NATS-Bench topology benchmark"


def _missing(tmp_path):
    return tmp_path / "NATS-tss-v1_0-3ffb9-simple-typo", "not found"


@pytest.mark.parametrize(
    "make",
    [_empty_folder, _torch_home, _junk_meta, _size_space_folder, _size_space_content, _tar, _junk_single_file, _wrong_dict_single_file, _missing],
)
def test_unsupported_paths_are_one_line_errors(make, tmp_path):
    path, expected = make(tmp_path)
    with pytest.raises(TenasError, match=expected) as err:
        load_benchmark(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
