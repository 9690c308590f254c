"""Ground truth for NAS-Bench-201 architectures.

``load_benchmark(path)`` accepts either a CSV table with the columns
``arch_str, cifar10_test, cifar100_test, imagenet16_120_test`` (200-epoch test
accuracy in percent), or a NAS-Bench-201 benchmark file read through the
``nas-bench-201`` package (``nas_201_api.NASBench201API``).
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from search_spaces.nasbench201 import format_arch, parse_arch
from tenas.errors import TenasError

DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
CSV_COLUMNS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}


class CSVBenchmark:
    def __init__(self, path: Path):
        import pandas as pd

        try:
            table = pd.read_csv(path)
        except Exception as err:
            raise TenasError(f"{path}: not a readable CSV benchmark table ({err})") from None
        missing = {"arch_str", *CSV_COLUMNS.values()} - set(table.columns)
        if missing:
            raise TenasError(f"{path}: benchmark table lacks column(s) {sorted(missing)}")
        self.table = table.set_index("arch_str")

    def test_accuracy(self, arch: str) -> dict[str, float]:
        if arch not in self.table.index:
            raise TenasError(f"architecture {arch} is not in the benchmark table")
        row = self.table.loc[arch]
        return {ds: float(row[col]) for ds, col in CSV_COLUMNS.items()}

    def archs(self) -> list[str]:
        return list(self.table.index)


class APIBenchmark:
    """A NAS-Bench-201 file through the official API (200-epoch, test set, mean over seeds)."""

    def __init__(self, path: Path):
        try:
            from nas_201_api import NASBench201API
        except ImportError:
            raise TenasError("reading a NAS-Bench-201 benchmark file needs the nas-bench-201 package") from None
        try:
            self.api = NASBench201API(str(path), verbose=False)
        except pickle.UnpicklingError:
            # torch >= 2.6 loads with weights_only=True; older benchmark files pickle more than
            # tensors and containers, so load the (user-supplied, trusted) file in full.
            try:
                self.api = NASBench201API(torch.load(path, map_location="cpu", weights_only=False), verbose=False)
            except Exception as err:
                raise TenasError(f"{path}: not a NAS-Bench-201 benchmark file ({type(err).__name__}: {err})") from None
        except Exception as err:
            raise TenasError(f"{path}: not a NAS-Bench-201 benchmark file ({type(err).__name__}: {err})") from None

    def test_accuracy(self, arch: str) -> dict[str, float]:
        index = self.api.query_index_by_arch(arch)
        if index < 0:
            raise TenasError(f"architecture {arch} is not in the benchmark file")
        out = {}
        for ds in DATASETS:
            info = self.api.get_more_info(index, ds, iepoch=None, hp="200", is_random=False)
            out[ds] = float(info["test-accuracy"])
        return out

    def archs(self) -> list[str]:
        return list(self.api.meta_archs)


def load_benchmark(path) -> CSVBenchmark | APIBenchmark:
    path = Path(path).expanduser()
    if not path.is_file():
        raise TenasError(f"benchmark file not found: {path} (benchmark.path=FILE: a NAS-Bench-201 .pth or a CSV table)")
    if path.suffix.lower() == ".csv":
        return CSVBenchmark(path)
    return APIBenchmark(path)


def canonical_arch(arch: str) -> str:
    return format_arch(parse_arch(arch))
