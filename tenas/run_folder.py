"""A run's folder (``hydra.run.dir``): whose it is, what it resumes from, what it writes.

Every run of tenas, a search of any strategy, a study, a shard of one or their merge, keeps in its folder
the settings its outputs depend on, its *identity* (``search.json``, ``study.json``, ``training.json``). Rerunning the same
command with the same folder resumes the run: :meth:`RunFolder.claim` refuses, before anything is
written, a folder that holds a run with other settings, naming the settings that differ, and writes the
identity and the resolved ``config.yaml`` into a new one. A run resumes from its folder's checkpoint
(:meth:`RunFolder.checkpoint`: ``checkpoint.jsonl``, a row per finished architecture; searches over whole
architectures and studies) or state (:meth:`RunFolder.save_state`: ``state.pt``, pruning's rounds and
generator; retraining's model and optimiser), and writes every output atomically (a reader sees the old file or the new one)."""
from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

from tenas.errors import TenasError
from tenas.io import atomic_write_bytes, atomic_write_json, atomic_write_text

log = logging.getLogger("tenas")

CHECKPOINT = "checkpoint.jsonl"
STATE = "state.pt"
CONFIG = "config.yaml"


def differing(stored: dict, identity: dict) -> list[str]:
    """The top-level settings in which two identities differ."""
    return sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))


class RunFolder:
    """The folder of one run of ``kind`` (``search``, ``study``): its identity is ``<kind>.json``."""

    def __init__(self, path, kind: str):
        self.path, self.kind = Path(path), kind
        self._opened: dict = {}  # what check() read of the run this folder holds: "state", "checkpoint"

    @property
    def identity_path(self) -> Path:
        return self.path / f"{self.kind}.json"

    def stored_identity(self) -> dict | None:
        """The identity the folder holds (``None``: none, or not readable as one)."""
        try:
            stored = json.loads(self.identity_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return stored if isinstance(stored, dict) else None

    def check(self, identity: dict) -> None:
        """Refuse (one line) a folder holding a run of other settings, or a state or checkpoint that cannot be
        read; what is read is kept for :meth:`load_state` and :meth:`checkpoint` (read once, before any output)."""
        stored = self.stored_identity()
        identity = json.loads(json.dumps(identity))  # as it is stored: tuples as lists
        if stored is not None and stored != identity:
            raise TenasError(f"{self.path} holds a {self.kind} with other settings ({', '.join(differing(stored, identity))} differ); "
                             "choose another hydra.run.dir or delete that folder to start over")
        self._opened = {"state": self._read_state()}
        if (self.path / CHECKPOINT).exists():
            self._opened["checkpoint"] = Checkpoint(self.path / CHECKPOINT)

    def claim(self, identity: dict, config_yaml: str | None = None) -> None:
        """:meth:`check`, then the identity (when new) and ``config.yaml`` (the run's resolved config) written."""
        self.check(identity)
        if not self.identity_path.exists():
            atomic_write_json(self.identity_path, identity)
        if config_yaml is not None:
            atomic_write_text(self.path / CONFIG, config_yaml)

    def start_over(self) -> None:
        """Forget the run the folder holds (its identity, checkpoint and state), for a run told not to resume."""
        for name in (self.identity_path.name, CHECKPOINT, STATE):
            (self.path / name).unlink(missing_ok=True)
        self._opened = {}

    def checkpoint(self, durable: bool = True, read_only: bool = False) -> "Checkpoint":
        """The folder's ``checkpoint.jsonl`` (the one :meth:`check` opened, when it did)."""
        opened = None if read_only else self._opened.pop("checkpoint", None)
        if opened is not None:
            opened.sync = durable
            return opened
        return Checkpoint(self.path / CHECKPOINT, read_only=read_only, sync=durable)

    def save_state(self, state: dict) -> None:
        """Replace ``state.pt`` (a dict of tensors and plain objects) atomically."""
        import torch

        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(self.path / STATE, buffer.getvalue())

    def load_state(self) -> dict | None:
        """The dict :meth:`save_state` saved last (``None``: none), its tensors on the CPU (the one :meth:`check` read, when it did)."""
        return self._opened.pop("state") if "state" in self._opened else self._read_state()

    def _read_state(self) -> dict | None:
        import torch

        path = self.path / STATE
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # a file that is not a state of this version
            raise TenasError(f"{path}: not a run state tenas can read ({type(err).__name__}); delete it to start over") from None
        if not isinstance(state, dict):
            raise TenasError(f"{path}: not a run state tenas can read; delete it to start over")
        return state


class Checkpoint:
    """Append-only JSON-lines file of finished architectures, one line per architecture (keyed by ``index``).

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
                    raise TenasError(f"{self.path}: line {number} is not JSON; delete the file to start over") from None
                self.rows[int(row["index"])] = row

    def append(self, row: dict) -> None:
        self.extend([row])

    def extend(self, rows: list[dict]) -> None:
        """Append ``rows`` with one write (whole lines; a kill keeps a prefix of them)."""
        if not rows:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
        with open(self.path, "ab") as fh:
            fh.write(data)
            fh.flush()
            if self.sync:
                os.fsync(fh.fileno())
        for row in rows:
            self.rows[int(row["index"])] = row
