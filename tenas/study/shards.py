"""Splitting a study into shards and finding the shards' folders again."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tenas.errors import TenasError
from tenas.run_folder import RunFolder, differing


def shard_settings(cfg: DictConfig) -> tuple[int, int, bool]:
    """``(shard, num_shards, merge)`` of ``cfg.study``, checked (one-line :class:`TenasError` when wrong)."""
    study = cfg.study
    try:
        num_shards, shard = int(study.get("num_shards", 1)), int(study.get("shard", 0))
    except (TypeError, ValueError):
        raise TenasError(f"study.num_shards, study.shard: got {study.get('num_shards')!r}, {study.get('shard')!r}; allowed: integers") from None
    merge = bool(study.get("merge", False))
    if num_shards < 1:
        raise TenasError(f"study.num_shards: got {num_shards}; allowed: an integer >= 1")
    if not 0 <= shard < num_shards:
        raise TenasError(f"study.shard: got {shard}; allowed: 0 to {num_shards - 1} (study.num_shards={num_shards})")
    if merge and num_shards == 1:
        raise TenasError("study.merge: true merges the shards of a sharded study; give its study.num_shards (>= 2), got 1")
    return shard, num_shards, merge


def shard_slice(sample: list, shard: int, num_shards: int) -> list:
    """The sample positions ``shard, shard + num_shards, ...`` (strided: balanced slices, and the slice of a
    larger sample starts with the slice of a smaller one)."""
    return sample[shard::num_shards]


def find_shards(shards_dir: Path, identity: dict, num_shards: int) -> list[Path]:
    """The folder of each shard ``0..num_shards-1`` under ``shards_dir``: the one whose ``study.json``
    is ``identity`` plus that shard. One-line :class:`TenasError` when one is missing or twice there."""
    if shards_dir is None or not Path(shards_dir).is_dir():
        raise TenasError(f"study.merge=true reads the shards' sweep folder: hydra.sweep.dir={shards_dir} is not a folder")
    shards_dir = Path(shards_dir)
    found: dict[int, list[Path]] = {}
    others = []  # shard folders of other settings
    for path in sorted(shards_dir.rglob(RunFolder(shards_dir, "study").identity_path.name)):
        if ".submitit" in path.parts:
            continue
        stored = RunFolder(path.parent, "study").stored_identity()
        if stored is None or not isinstance(stored.get("shard"), dict):
            continue  # not a shard (e.g. a merge in the sweep folder)
        shard = stored.pop("shard")
        if stored == identity and shard.get("num_shards") == num_shards and shard.get("index") in range(num_shards):
            found.setdefault(int(shard["index"]), []).append(path.parent)
        else:
            others.append((path.parent, differing(stored, identity) + ([] if shard.get("num_shards") == num_shards else ["study.num_shards"])))
    missing = [i for i in range(num_shards) if i not in found]
    if missing:
        hint = ""
        if others:
            keys = sorted({k for _, keys in others for k in keys})
            hint = f"; {len(others)} shard folder(s) there hold other settings ({', '.join(keys)} differ)"
        raise TenasError(f"shard(s) {', '.join(map(str, missing))} of {num_shards} missing under {shards_dir}{hint}")
    for i, folders in found.items():
        if len(folders) > 1:
            raise TenasError(f"shard {i} of {num_shards} is in {len(folders)} folders under {shards_dir}: "
                             f"{', '.join(map(str, folders))}; keep one")
    return [found[i][0] for i in range(num_shards)]
