"""A search's state after each finished round, so that an interrupted search goes on where it stopped.

``search_state.pt`` in the run folder holds the settings the search depends on (its
*identity*), the alive-set, the rounds so far (their records are what ``candidates.csv`` is made
of), the state of the search's generator and the seconds spent. It is replaced atomically
after every round and every DARTS edge decision, so a kill loses at most the round in
progress. Rerunning the same command with the same ``hydra.run.dir`` loads it, checks
that the settings are the same, and continues: the generator is where it was after the
last finished round, so the remaining rounds draw the same weights and inputs as an
uninterrupted run and end with the same ``candidates.csv`` and ``genotype.json``.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import torch

from search_spaces.base import AliveSet
from tenas.errors import TenasError
from tenas.io import atomic_write_bytes
from tenas.pruning import RoundResult

STATE_FILE = "search_state.pt"

#: Settings that change how fast a search runs, never what it finds: a resumed search may change them.
RUN_ONLY_KEYS = ("device", "hydra", "compute")


def search_identity(resolved: dict) -> dict:
    """The settings a search's result depends on: the resolved config less device, compute settings
    and the ground-truth benchmark (looked up only after the search)."""
    return {k: v for k, v in resolved.items() if k not in RUN_ONLY_KEYS and k != "benchmark"}


@dataclass
class SearchState:
    identity: dict
    alive: AliveSet
    generator_state: torch.Tensor
    rounds: list[RoundResult] = field(default_factory=list)
    edge_rounds: list[RoundResult] = field(default_factory=list)
    indicator_seconds: dict = field(default_factory=dict)
    elapsed: float = 0.0

    def save(self, out_dir: Path) -> None:
        buffer = io.BytesIO()
        torch.save(self.__dict__, buffer)
        atomic_write_bytes(Path(out_dir) / STATE_FILE, buffer.getvalue())


def load_state(out_dir: Path, identity: dict) -> SearchState | None:
    """The state saved in ``out_dir`` (``None`` when there is none); a state saved with other
    settings is refused with one line naming the settings that differ."""
    path = Path(out_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, weights_only=False)
        state = SearchState(**saved)
    except Exception as err:  # a file that is not a state of this version
        raise TenasError(f"{path}: not a search state tenas can read ({type(err).__name__}); delete it to start over") from None
    if state.identity != identity:
        differing = sorted(k for k in set(state.identity) | set(identity) if state.identity.get(k) != identity.get(k))
        raise TenasError(
            f"{out_dir} holds a search with other settings ({', '.join(differing)} differ); "
            f"choose another hydra.run.dir or delete that folder to start over"
        )
    return state
