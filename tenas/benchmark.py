"""Ground truth for NAS-Bench-201 architectures.

``load_benchmark(path)`` detects the format from the path:

* a CSV table (``*.csv``) with the columns ``arch_str, cifar10_test, cifar100_test,
  imagenet16_120_test`` (200-epoch test accuracy in percent);
* a NATS-Bench topology benchmark read through the ``nats_bench`` package: the folder
  ``NATS-tss-v1_0-3ffb9-simple`` (``meta.pickle.pbz2`` plus one ``NNNNNN.pickle.pbz2`` per
  architecture; opened in fast mode, so each architecture's file is read on its first
  query), that folder's ``meta.pickle.pbz2``, or the single-file form
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` (read whole: the package has no fast mode for it);
* any other file: a NAS-Bench-201 benchmark file (``.pth``) read through the
  ``nas-bench-201`` package (``nas_201_api.NASBench201API``).

Every loader gives the 200-epoch test accuracy averaged over seeds
(``hp='200'``, ``is_random=False``) on ``cifar10``, ``cifar100`` and ``ImageNet16-120``.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from search_spaces.nasbench201 import format_arch, parse_arch
from tenas.errors import TenasError

#: The registered search space whose architectures these benchmarks hold (a study scores them through it).
BENCHMARK_SPACE = "nasbench201"
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
CSV_COLUMNS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}
NATS_EXT = ".pickle.pbz2"  # nats_bench.api_utils.PICKLE_EXT
NATS_META = "meta" + NATS_EXT
SUPPORTED = (
    "benchmark.path takes a CSV table (.csv), a NAS-Bench-201 file (.pth), a NATS-Bench topology folder "
    "(NATS-tss-v1_0-3ffb9-simple) or its single-file form (NATS-tss-v1_0-3ffb9.pickle.pbz2)"
)
_ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def _brief(err: BaseException) -> str:
    """``Type: message`` on one line, shortened."""
    text = " ".join(str(err).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


class CSVBenchmark:
    def __init__(self, path: Path):
        import pandas as pd

        try:
            table = pd.read_csv(path)
        except Exception as err:
            raise TenasError(f"{path}: not a readable CSV benchmark table ({_brief(err)})") from None
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
                raise TenasError(f"{path}: not a NAS-Bench-201 benchmark file ({_brief(err)}); {SUPPORTED}") from None
        except Exception as err:
            raise TenasError(f"{path}: not a NAS-Bench-201 benchmark file ({_brief(err)}); {SUPPORTED}") from None

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


class NATSBenchmark:
    """NATS-Bench topology search space (``tss``) through the ``nats_bench`` package.

    A folder is opened with ``fast_mode=True``: only ``meta.pickle.pbz2`` (the architecture
    list) is read here, and an architecture's ``NNNNNN.pickle.pbz2`` on its first query. A
    single ``.pickle.pbz2`` file holds every architecture and is read whole (``fast_mode=False``).
    """

    def __init__(self, path: Path, fast_mode: bool):
        try:
            import nats_bench
        except ImportError:
            raise TenasError("reading a NATS-Bench benchmark needs the nats_bench package (pip install nats_bench)") from None
        self.path, self.fast_mode = path, fast_mode
        try:
            self.api = nats_bench.create(str(path), "tss", fast_mode=fast_mode, verbose=False)
        except Exception as err:
            raise TenasError(f"{path}: not a NATS-Bench topology benchmark ({_brief(err)}); {SUPPORTED}") from None
        archs = self.api.meta_archs
        if not isinstance(archs, (list, tuple)) or not archs:
            raise TenasError(f"{path}: NATS-Bench benchmark lists no architectures (meta_archs is empty)")
        try:
            parse_arch(archs[0])
        except ValueError:
            raise TenasError(
                f"{path}: architectures such as {archs[0]!r} are not NAS-Bench-201 cells; "
                f"only the NATS-Bench topology search space (NATS-tss-*) is supported, not the size one (NATS-sss-*)"
            ) from None

    def _results_file(self, index: int) -> Path | None:
        for name in (f"{index:06d}{NATS_EXT}", f"{index:d}{NATS_EXT}"):  # the package's two spellings
            if (self.path / name).is_file():
                return self.path / name
        return None

    def test_accuracy(self, arch: str) -> dict[str, float]:
        index = self.api.query_index_by_arch(arch)
        if index < 0:
            raise TenasError(f"architecture {arch} is not in the benchmark {self.path}")
        where = self.path
        if self.fast_mode:
            where = self._results_file(index)
            if where is None:
                raise TenasError(f"{self.path}: results file {index:06d}{NATS_EXT} of architecture {index} ({arch}) is missing (incomplete NATS-Bench folder)")
        out = {}
        try:
            for ds in DATASETS:
                info = self.api.get_more_info(index, ds, hp="200", is_random=False)
                out[ds] = float(info["test-accuracy"])
        except Exception as err:
            raise TenasError(f"{where}: no 200-epoch test accuracy on {ds} for architecture {index} ({arch}) ({_brief(err)})") from None
        return out

    def archs(self) -> list[str]:
        return list(self.api.meta_archs)


def _lower_name(path: Path) -> str:
    return path.name.lower()


def _reject_size_space(path: Path) -> None:
    if _lower_name(path).startswith("nats-sss"):
        raise TenasError(f"{path}: a NATS-Bench size-search-space (sss) benchmark; tenas needs the topology one (NATS-tss-v1_0-3ffb9-simple)")


def _nats_folder(path: Path) -> NATSBenchmark:
    _reject_size_space(path)
    if not (path / NATS_META).is_file():
        inner = sorted(p.name for p in path.iterdir() if p.is_dir() and (p / NATS_META).is_file()) if path.is_dir() else []
        hint = f"; did you mean {path / inner[0]}?" if inner else ""
        raise TenasError(f"{path}: a folder without {NATS_META}, so not a NATS-Bench topology folder{hint} ({SUPPORTED})")
    return NATSBenchmark(path, fast_mode=True)


def load_benchmark(path) -> CSVBenchmark | APIBenchmark | NATSBenchmark:
    path = Path(path).expanduser()
    if path.is_dir():
        return _nats_folder(path)
    if not path.exists():
        raise TenasError(f"benchmark not found: {path} ({SUPPORTED})")
    if not path.is_file():
        raise TenasError(f"{path}: neither a file nor a folder ({SUPPORTED})")
    name = _lower_name(path)
    if name.endswith(".csv"):
        return CSVBenchmark(path)
    if name == NATS_META:
        return _nats_folder(path.parent)
    if name.endswith(NATS_EXT):
        _reject_size_space(path)
        return NATSBenchmark(path, fast_mode=False)
    if name.endswith(_ARCHIVES):
        raise TenasError(f"{path}: an archive, which nats_bench cannot read; extract it first (e.g. tar -xf {path.name}) and set benchmark.path to the extracted folder (NATS-tss-v1_0-3ffb9-simple)")
    return APIBenchmark(path)


def canonical_arch(arch: str) -> str:
    return format_arch(parse_arch(arch))


def check_benchmark(path: str):
    """The benchmark at ``path`` loaded, or a one-line error against ``benchmark.path``."""
    try:
        return load_benchmark(path)
    except TenasError as err:
        raise TenasError(f"benchmark.path: {err}") from None
    except Exception as err:  # a reader's own failure on a file it does not understand
        raise TenasError(f"benchmark.path: {path}: cannot be read as a benchmark ({type(err).__name__}: {' '.join(str(err).split())[:160]})") from None
