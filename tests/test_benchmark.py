import pandas as pd
import pytest

from tenas.benchmark import load_benchmark
from tenas.errors import TenasError
from tests.nb201_fake import write_fake_benchmark


def test_csv_lookup_gives_the_table_row(fake_nb201_csv):
    table = pd.read_csv(fake_nb201_csv)
    bench = load_benchmark(fake_nb201_csv)
    for _, row in table.iterrows():
        acc = bench.test_accuracy(row["arch_str"])
        assert acc["cifar10"] == pytest.approx(row["cifar10_test"])
        assert acc["cifar100"] == pytest.approx(row["cifar100_test"])
        assert acc["ImageNet16-120"] == pytest.approx(row["imagenet16_120_test"])


def test_real_table_best_cifar10_accuracy(nb201_csv):
    """Real data: the shared table's best CIFAR-10 cell is NAS-Bench-201's known best (94.37 %)."""
    table = pd.read_csv(nb201_csv)
    best = table.loc[table["cifar10_test"].idxmax()]
    acc = load_benchmark(nb201_csv).test_accuracy(best["arch_str"])
    assert acc["cifar10"] == pytest.approx(94.3733, abs=1e-3)
    assert acc["cifar100"] == pytest.approx(best["cifar100_test"])
    assert acc["ImageNet16-120"] == pytest.approx(best["imagenet16_120_test"])


def test_api_file_lookup_matches_the_table(fake_nb201_csv, tmp_path):
    path = tmp_path / "NAS-Bench-201-small.pth"
    table = write_fake_benchmark(fake_nb201_csv, path, rows=30)
    bench = load_benchmark(path)
    for _, row in table.sample(5, random_state=0).iterrows():
        acc = bench.test_accuracy(row["arch_str"])
        assert acc["cifar10"] == pytest.approx(row["cifar10_test"], abs=1e-6)
        assert acc["cifar100"] == pytest.approx(row["cifar100_test"], abs=1e-6)
        assert acc["ImageNet16-120"] == pytest.approx(row["imagenet16_120_test"], abs=1e-6)
    assert len(bench.archs()) == 30


def test_unknown_architecture_and_bad_files(fake_nb201_csv, tmp_path):
    bench = load_benchmark(fake_nb201_csv)
    with pytest.raises(TenasError, match="not in the benchmark"):
        bench.test_accuracy("|none~0|+|none~0|none~1|+|none~0|none~1|bogus~2|")
    with pytest.raises(TenasError, match="not found") as err:
        load_benchmark(tmp_path / "missing.csv")
    assert "\n" not in str(err.value) and "NATS-tss-v1_0-3ffb9-simple" in str(err.value)  # says what is accepted
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(TenasError, match="lacks column"):
        load_benchmark(bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a benchmark")
    with pytest.raises(TenasError, match="not a NAS-Bench-201 benchmark file"):
        load_benchmark(junk)
