"""Time a full default NAS-Bench-201 TE-NAS search and say where the time goes.

Runs ``python -m tenas.search ranking=te_nas`` in-process (3 repeats, NTK batch 32,
3 x 1000 crops for #LR, seed 0) on the shared CIFAR-10 sample, ``--runs`` times,
and prints for each run the wall time split into NTK (κ of every candidate:
weight draws, batches and the NTK engine), #LR (linear regions of every
candidate) and the rest (building data and networks, ranking, writing outputs),
then the best and median run.

    python scripts/bench_search.py [--runs 3] [--device cpu] [--workers 1,2 | --candidate-batch 1,25] [extra Hydra overrides ...]

``--workers 1,2`` runs the search once per worker count (``compute.workers``, tenas/parallel.py;
``--runs`` times each), prints each time, the speed-up of each count's best run over the first
count's (``ratio``: time with the first count / time with this one) and whether every run found
the same genotype and wrote the same ``candidates.csv``. Without it the config's ``compute.workers``
applies (null: the usable cores). ``--candidate-batch 1,25`` compares ``compute.candidate_batch`` the same
way (with ``compute.workers=1``): its κs equal one-at-a-time κs up to float rounding, so it reports the
largest relative difference of the ``ntk`` column instead of requiring identical files.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import pandas as pd
import torch
from hydra import compose, initialize_config_dir

from tenas.search import run_search

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def counts(option: str, text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(k < 1 for k in values):
        raise SystemExit(f"error: {option} {text!r}: expected comma-separated positive integers, e.g. 1,2")
    return values


def variants(args) -> list[tuple[str, list[str]]]:
    """(label, overrides) of each compared setting."""
    if args.workers and args.candidate_batch:
        raise SystemExit("error: --workers and --candidate-batch: compare one setting at a time")
    if args.workers:
        return [(f"workers={k}", [f"compute.workers={k}"]) for k in counts("--workers", args.workers)]
    if args.candidate_batch:
        return [(f"candidate_batch={k}", ["compute.workers=1", f"compute.candidate_batch={k}"])
                for k in counts("--candidate-batch", args.candidate_batch)]
    return [("config", [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", default=None, help="comma-separated compute.workers to compare, e.g. 1,2 (default: the config's)")
    parser.add_argument("--candidate-batch", default=None, help="comma-separated compute.candidate_batch to compare, e.g. 1,25")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides, e.g. +proxy.ntk.options.chunk_size=4")
    args = parser.parse_args()
    compared = variants(args)
    data, table = SHARED / "cifar10" / "cifar10_train_first4000.npz", SHARED / "nb201" / "nb201_hp200_test_acc.csv"
    if not data.is_file():
        raise SystemExit(f"error: the shared CIFAR-10 sample {data} is absent")
    overrides = ["ranking=te_nas", "dataset=npz", f"dataset.path={data}", f"device={args.device}", *args.overrides]
    if table.is_file():
        overrides.append(f"benchmark.path={table}")

    best, archs, frames = {}, [], []
    for label, extra in compared:
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
            cfg = compose(config_name="search", overrides=overrides + extra)
        walls = []
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as out:
                result = run_search(cfg, Path(out))
                frames.append(pd.read_csv(Path(out) / "candidates.csv"))
            wall, split = result["wall_time_s"], result["indicator_seconds"]
            rest = wall - split["ntk"] - split["linear_regions"]
            walls.append(wall)
            archs.append(result["arch"])
            accuracy = result.get("test_accuracies", {}).get("cifar10")
            print(
                f"bench_search {label} run {run + 1}: {wall:.1f}s = NTK {split['ntk']:.1f}s + #LR {split['linear_regions']:.1f}s + rest {rest:.1f}s; "
                f"{result['arch']}" + (f" (CIFAR-10 test {accuracy:.2f}%)" if accuracy is not None else ""),
                flush=True,
            )
        best[label] = min(walls)
        print(
            f"bench_search {label}: TE-NAS NAS-Bench-201 search, {cfg.search.repeats} repeats, proxies {list(cfg.ranking.proxies)}, "
            f"{torch.get_num_threads()} thread(s), {args.device}: best {min(walls):.1f}s, median {statistics.median(walls):.1f}s of {len(walls)} run(s)",
            flush=True,
        )
    if len(compared) > 1:
        first = next(iter(best))
        for label, wall in best.items():
            print(f"bench_search {label}: best {wall:.1f}s, ratio {best[first] / wall:.2f}x vs {first}")
        same_arch = len(set(archs)) == 1
        same_rounds = all(frame.equals(frames[0]) for frame in frames[1:])
        kappa = max(float(((f["ntk"] - frames[0]["ntk"]).abs() / frames[0]["ntk"].abs()).max()) for f in frames)
        print(f"bench_search: same genotype in every run: {'yes' if same_arch else 'NO'} ({', '.join(sorted(set(archs)))}); "
              f"identical candidates.csv: {'yes' if same_rounds else 'NO'}; largest relative κ difference: {kappa:.1e}")


if __name__ == "__main__":
    main()
