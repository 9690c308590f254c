"""What the architecture strategies share: scoring single-path alive-sets over repeats, drawing distinct
architectures, merits over what was scored, the run folder's checkpoint, and cost limits."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from search_spaces.base import AliveSet, SearchSpace
from tenas.errors import TenasError
from tenas.io import atomic_write_json
from tenas.ranking import Ranking
from tenas.schema import Setting
from tenas.study.checkpoint import CHECKPOINT, Checkpoint

log = logging.getLogger("tenas.strategies")

IDENTITY = "strategy.json"

#: The cost limits of the strategies that draw whole architectures (:func:`cost_limits`).
COST_LIMITS = (
    Setting("max_params", "number", 0, open_low=True, null=True, hint="millions of parameters of the benchmark network; null = no limit"),
    Setting("max_flops", "number", 0, open_low=True, null=True, hint="millions of multiply-adds of one input; null = no limit"),
)
#: Architectures scored per weight/input draw (a kill loses at most one chunk; no effect on scores).
CHUNK_SIZE = Setting("chunk_size", "int", 1, default=50, hint="architectures scored per draw; no effect on scores")


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat``'s weights and inputs (the same for every architecture and indicator)."""
    return int(np.random.SeedSequence([int(seed), int(repeat)]).generate_state(1, dtype=np.uint64)[0] >> 1)


class ArchScorer:
    """Mean score over ``repeats`` of each indicator on single-path alive-sets (see the module docstring)."""

    def __init__(self, indicators: Sequence, repeats: int, seed: int):
        if int(repeats) < 1:
            raise TenasError(f"search.repeats must be at least 1, got {repeats}")
        self.indicators, self.repeats, self.seed = list(indicators), int(repeats), int(seed)
        self.count = 0

    @property
    def names(self) -> list[str]:
        return [ind.name for ind in self.indicators]

    def __call__(self, alive_sets: Sequence[AliveSet]) -> list[dict[str, float]]:
        if not alive_sets:
            return []
        values = {ind.name: np.full((self.repeats, len(alive_sets)), np.nan) for ind in self.indicators}
        for r in range(self.repeats):
            for ind in self.indicators:
                ind.new_repeat(torch.Generator().manual_seed(repeat_seed(self.seed, r)))
                values[ind.name][r] = np.asarray(ind.score(list(alive_sets)), dtype=np.float64)
        self.count += len(alive_sets)
        means = {name: _finite_mean(v) for name, v in values.items()}
        return [{name: float(m[j]) for name, m in means.items()} for j in range(len(alive_sets))]


def _finite_mean(values: np.ndarray) -> np.ndarray:
    """Mean over axis 0 of the finite entries; NaN (the worst on any ranking) where none is finite."""
    finite = np.isfinite(values)
    count = finite.sum(0)
    total = np.where(finite, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def draw_distinct(space: SearchSpace, n: int, generator: torch.Generator, feasible=None) -> list[tuple[str, AliveSet]]:
    """``n`` distinct random architectures ``(text, alive-set)`` in draw order, each ``feasible`` (when given;
    see :func:`cost_limits`); fewer, with a warning, when the space runs out: repeats and infeasible ones are
    redrawn, up to ``20 n + 1000`` draws in all."""
    out, seen = [], set()
    for _ in range(20 * n + 1000):
        if len(out) == n:
            break
        alive = space.random_single_path(generator)
        text = space.arch_text(alive)
        if text not in seen:
            seen.add(text)
            if feasible is None or feasible(alive):
                out.append((text, alive))
    if len(out) < n:
        log.warning("only %d distinct architectures found in %d draws (asked for %d)", len(out), 20 * n + 1000, n)
    return out


def merits(ranking: Ranking, scores: Sequence[dict]) -> np.ndarray:
    """The ranking's merit of each of ``scores`` (one dict of proxy scores per architecture), over all of them."""
    if not scores:
        return np.zeros(0)
    return np.asarray(ranking.combined_score({p: np.array([s[p] for s in scores], dtype=np.float64) for p in ranking.proxies}), dtype=np.float64)


def open_checkpoint(out_dir: Path, identity: dict | None, durable: bool = True) -> Checkpoint:
    """The run folder's ``checkpoint.jsonl``, after checking (or, in a new folder, writing) its ``strategy.json``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if identity is not None:
        path = out_dir / IDENTITY
        identity = json.loads(json.dumps(identity))
        if path.exists():
            stored = json.loads(path.read_text())
            if stored != identity:
                differing = sorted(k for k in set(stored) | set(identity) if stored.get(k) != identity.get(k))
                raise TenasError(
                    f"{out_dir} holds a search with other settings ({', '.join(differing)} differ); "
                    "choose another hydra.run.dir or delete that folder to start over"
                )
        else:
            atomic_write_json(path, identity)
    return Checkpoint(out_dir / CHECKPOINT, sync=durable)


def stored_scores(checkpoint, index: int, text: str, proxies: Sequence[str]) -> dict | None:
    """The stored scores of step/draw ``index`` (None when not stored); refuses a row of another architecture."""
    row = checkpoint.rows.get(index)
    if row is None:
        return None
    if row["arch"] != text or any(p not in row for p in proxies):
        raise TenasError(
            f"{checkpoint.path}: entry {index} holds {row['arch']} with {sorted(k for k in row if k not in ('index', 'arch'))}, "
            f"but this run makes {text} scored on {list(proxies)}; choose another hydra.run.dir or delete that folder"
        )
    return {p: float(row[p]) for p in proxies}


def cost_limits(space: SearchSpace, settings: dict, num_classes: int, image_shape) -> Callable[[AliveSet], bool] | None:
    """``alive -> bool``: whether the architecture's benchmark network (``space.network``, built for
    ``num_classes`` classes) stays within ``settings["max_params"]`` million parameters and
    ``settings["max_flops"]`` million multiply-adds of one ``image_shape`` input (either ``None``: no limit);
    ``None`` when neither limit is set. FreeREA prunes infeasible children the same way."""
    from tenas.complexity import count_flops, count_parameters

    limits = {key: settings.get(key) for key in ("max_params", "max_flops")}  # checked with the strategy's settings (COST_LIMITS)
    if all(v is None for v in limits.values()):
        return None
    cache: dict[str, bool] = {}

    def feasible(alive: AliveSet) -> bool:
        text = space.arch_text(alive)
        if text not in cache:
            net = space.network(space.genotype(alive), num_classes)
            ok = limits["max_params"] is None or count_parameters(net) <= limits["max_params"] * 1e6
            cache[text] = ok and (limits["max_flops"] is None or count_flops(net, tuple(image_shape)) <= limits["max_flops"] * 1e6)
        return cache[text]

    return feasible


def architecture_fields(name: str, settings: dict, frame, ranking: Ranking) -> dict:
    """The fields a whole-architecture strategy adds to ``genotype.json``: its settings, the number of
    architectures scored, the chosen one's merit and scores."""
    chosen = frame[frame["chosen"]].iloc[0]
    fields = {name: settings, "num_scored": int(frame["arch"].nunique()), "merit": float(chosen["merit"]),
              "scores": {p: float(chosen[p]) for p in ranking.proxies}}
    log.info("%s: %d architectures scored; chosen %s (merit %.4g)", name, fields["num_scored"], chosen["arch"], fields["merit"])
    return fields
