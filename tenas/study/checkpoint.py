"""The study's append-only checkpoint of finished architectures."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from tenas.errors import TenasError

log = logging.getLogger("tenas.evaluate")

CHECKPOINT = "checkpoint.jsonl"


class Checkpoint:
    """Append-only JSON-lines file of finished architectures, one line per architecture.

    Each line is written with one ``write`` and flushed to disk before the next
    architecture starts, so a kill loses at most the architecture in progress. A
    torn last line (a kill in the middle of a write) is dropped when the file is
    opened again.
    """

    def __init__(self, path: Path, read_only: bool = False, sync: bool = True):
        """``read_only``: a torn last line is ignored but left in the file (another process may be writing it).
        ``sync=False``: lines are flushed but not forced to disk (rows that cost nothing to redo, e.g. table lookups)."""
        self.path, self.sync = Path(path), sync
        self.rows: dict[int, dict] = {}
        if self.path.exists():
            data = self.path.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]
            if len(complete) != len(data) and not read_only:
                log.warning("%s: dropping a torn last line (%d bytes)", self.path, len(data) - len(complete))
                with open(self.path, "r+b") as fh:
                    fh.truncate(len(complete))
            for number, line in enumerate(complete.decode("utf-8").splitlines(), start=1):
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise TenasError(f"{self.path}: line {number} is not JSON; delete the file to restart the study") from None
                self.rows[int(row["index"])] = row

    def append(self, row: dict) -> None:
        self.extend([row])

    def extend(self, rows: list[dict]) -> None:
        """Append ``rows`` with one write (whole lines; a kill keeps a prefix of them)."""
        if not rows:
            return
        data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            if self.sync:
                os.fsync(fh.fileno())
        for row in rows:
            self.rows[int(row["index"])] = row
