"""Score tables: scores computed once, read by a search (``scorer=table scorer.path=FILE``).

A table is a study's ``scores.csv`` (``python -m tenas.evaluate``; also gzip-compressed,
``.csv.gz``): one row per architecture with its text (``arch``), its benchmark ``index``
and one column per proxy (and ``ranking``, when the study had one). The protocol each
proxy was scored under is the study's ``study.json``, kept beside a committed table as
``<table>.protocol.json`` (read and reported with the table; optional). NASLib's published
zero-cost file (NAS-Bench-Suite-Zero, ``zc_nasbench201.json``) reads as a table too, for
one of its datasets (``scorer.dataset``), its architectures turned into NAS-Bench-201 strings.

:class:`TableScorer` stands in for the architecture scorer of ``strategy=sample`` and
``strategy=evolve`` (:mod:`tenas.arch_scorer`, which made the table): each architecture's score is looked up, nothing is built or drawn,
so a search over the whole space runs in seconds. A table that lacks a proxy of the
ranking, holds an architecture twice, or does not hold every architecture of the space
is refused before any work, naming what is missing.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from tenas.errors import TenasError

#: NASLib's op numbering in zc_nasbench201.json's tuples (skip_connect=0, none=1, nor_conv_3x3=2, nor_conv_1x1=3, avg_pool_3x3=4).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: NASLib lists the edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4); NAS-Bench-201's string orders them 1<-0 | 2<-0 2<-1 | 3<-0 3<-1 3<-2.
NASLIB_EDGE_ORDER = (0, 1, 3, 2, 4, 5)


def naslib_arch(key: str) -> str:
    """A NASLib tuple ``"(a, b, c, d, e, f)"`` as a NAS-Bench-201 string."""
    from search_spaces.nasbench201 import format_arch

    ops = [NASLIB_OPS[int(v)] for v in key.strip("()").split(",")]
    return format_arch(ops[i] for i in NASLIB_EDGE_ORDER)


def read_naslib(path: Path, dataset: str) -> pd.DataFrame:
    """One dataset of NASLib's zero-cost JSON as a table (``arch``, ``val_accuracy`` and each proxy's score)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or dataset not in data:
        raise TenasError(f"scorer.dataset: {dataset!r} is not in {path}; allowed: {sorted(data) if isinstance(data, dict) else []}")
    rows = []
    for key, entry in data[dataset].items():
        row = {"arch": naslib_arch(key), "val_accuracy": entry.get("val_accuracy")}
        row.update({name: value["score"] for name, value in entry.items() if isinstance(value, dict) and "score" in value})
        rows.append(row)
    return pd.DataFrame.from_records(rows)


class ScoreTable:
    """The scores of a table, by architecture text (see the module docstring)."""

    def __init__(self, frame: pd.DataFrame, path: Path, protocol: dict | None = None):
        self.frame, self.path, self.protocol = frame, Path(path), protocol
        self.rows = {arch: i for i, arch in enumerate(frame["arch"])}
        self._columns: dict[str, np.ndarray] = {}  # each proxy's scores as floats, read once

    @classmethod
    def load(cls, path, dataset: str | None = None) -> "ScoreTable":
        """Read ``path`` (a study's ``scores.csv``, ``.csv.gz``, or NASLib's ``.json`` with ``dataset``), checked."""
        path = Path(str(path))
        if not path.is_file():
            raise TenasError(f"scorer.path: {path} is not a file; give a study's scores.csv (or .csv.gz) or NASLib's zero-cost JSON")
        try:
            frame = read_naslib(path, dataset or "cifar10") if path.suffix == ".json" else pd.read_csv(path)
        except TenasError:
            raise
        except Exception as err:
            raise TenasError(f"scorer.path: {path} is not a score table ({type(err).__name__}: {' '.join(str(err).split())[:120]})") from None
        if "arch" not in frame.columns:
            raise TenasError(f"scorer.path: {path} has no 'arch' column; a score table is a study's scores.csv")
        duplicated = frame["arch"][frame["arch"].duplicated()]
        if len(duplicated):
            raise TenasError(f"scorer.path: {path} holds {duplicated.iloc[0]} more than once")
        protocol = None
        sidecar = path.with_name(path.name.split(".csv")[0] + ".protocol.json")
        if sidecar.is_file():
            protocol = json.loads(sidecar.read_text())
        return cls(frame, path, protocol)

    def benchmark_dataset(self, naslib_dataset: str | None = None) -> str | None:
        """The benchmark dataset whose networks and inputs made the scores (``cifar10`` | ``cifar100`` |
        ``imagenet16_120``): a study table's sidecar says it, NASLib's JSON by the dataset read; ``None``
        when a table has no sidecar."""
        if self.path.suffix == ".json":
            return {"ImageNet16-120": "imagenet16_120"}.get(naslib_dataset or "cifar10", naslib_dataset or "cifar10")
        return (self.protocol or {}).get("benchmark_dataset")

    def check(self, proxies: Sequence[str], archs: Sequence[str]) -> None:
        """Refuse (one line) a table without a column of ``proxies`` or a row of ``archs``."""
        missing = [p for p in proxies if p not in self.frame.columns]
        if missing:
            known = [c for c in self.frame.columns if c not in ("index", "arch", "device") and not c.startswith("seconds")]
            raise TenasError(f"scorer.path: {self.path} has no scores of {missing}; it holds {known}")
        absent = [a for a in archs if a not in self.rows]
        if absent:
            raise TenasError(f"scorer.path: {self.path} lacks {len(absent)} of the space's {len(archs)} architectures, "
                             f"{absent[0]} among them; a search on a table needs the whole space")

    def scores(self, proxy: str, archs: Sequence[str]) -> list[float]:
        column = self._columns.get(proxy)
        if column is None:
            column = self._columns[proxy] = self.frame[proxy].to_numpy(dtype=np.float64)
        return column[[self.rows[a] for a in archs]].tolist()


class TableScorer:
    """The architecture scorer of a search on a table (:attr:`tenas.strategies.StrategyRun.scorer`): each
    architecture's scores under ``proxies`` looked up, nothing built or drawn."""

    durable = False  # a lookup costs nothing to redo: the checkpoint's rows are not forced to disk
    repeats = 1

    def __init__(self, table: ScoreTable, proxies: Sequence[str], space):
        self.table, self.names, self.space = table, list(proxies), space
        self.seconds: dict[str, float] = {}

    def __call__(self, alive_sets) -> list[dict[str, float]]:
        archs = [self.space.arch_text(a) for a in alive_sets]
        columns = {p: self.table.scores(p, archs) for p in self.names}
        return [{p: columns[p][k] for p in self.names} for k in range(len(archs))]

    def close(self) -> None:
        """Nothing to stop."""
