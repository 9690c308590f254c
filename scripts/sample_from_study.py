"""What ``strategy=sample`` finds with a ranking, estimated from a finished correlation study's scores.

    python scripts/sample_from_study.py results/evaluate/study-A --rankings az_nas,ensemble --size 125 [--half odd]

The study's sample (``scores.csv``, in its seeded order) is cut into disjoint consecutive slices of
``--size`` architectures; in each slice the ranking's combined score (computed within the slice, as a
sample search ranks its own architectures) picks one architecture, and the script prints the mean ± sample
std of the picks' benchmark test accuracies over the slices. Each slice plays one seed of
``python -m tenas.search strategy=sample strategy.num_samples=SIZE ranking=NAME``; the difference is that
the study drew each architecture's weights from its own seed, not from a search seed. ``--half odd`` keeps
only the odd sample positions (the half ``scripts/choose_ensemble.py`` never chooses on), so a ranking chosen
on the even half is not judged on the architectures it was chosen on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tenas.ranking import ranking_from_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DATASETS = ("cifar10", "cifar100", "ImageNet16-120")


def picks(scores: pd.DataFrame, ranking, size: int) -> pd.DataFrame:
    """The architecture the ranking puts first in each consecutive slice of ``size`` rows."""
    chosen = []
    for start in range(0, len(scores) - size + 1, size):
        part = scores.iloc[start : start + size]
        combined = ranking.combined_score({p: part[p].to_numpy(float) for p in ranking.proxies})
        chosen.append(part.iloc[int(np.nanargmax(combined))])
    return pd.DataFrame(chosen)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study folder with scores.csv")
    parser.add_argument("--rankings", default="az_nas,ensemble", help="comma-separated presets of conf/ranking")
    parser.add_argument("--size", type=int, default=125, help="architectures per simulated sample search")
    parser.add_argument("--half", choices=("all", "odd"), default="all", help="odd: only the odd sample positions")
    args = parser.parse_args(argv)
    path = args.study / "scores.csv"
    if not path.is_file():
        raise SystemExit(f"error: {path}: not found (run the study first)")
    if args.size < 1:
        raise SystemExit(f"error: --size {args.size}: expected a positive integer")
    scores = pd.read_csv(path)
    if args.half == "odd":
        scores = scores.iloc[1::2].reset_index(drop=True)
    print(f"{len(scores)} architectures, slices of {args.size}")
    print("| ranking | searches | CIFAR-10 | CIFAR-100 | ImageNet16-120 |")
    print("| --- | --- | --- | --- | --- |")
    for name in args.rankings.split(","):
        preset = REPO / "conf" / "ranking" / f"{name}.yaml"
        if not preset.is_file():
            raise SystemExit(f"error: --rankings: no preset {preset}")
        ranking = ranking_from_config(OmegaConf.load(preset))
        missing = [p for p in ranking.proxies if p not in scores]
        if missing:
            raise SystemExit(f"error: --rankings: the study did not score {missing} of {name}")
        chosen = picks(scores, ranking, args.size)
        if chosen.empty:
            raise SystemExit(f"error: --size {args.size}: more than the {len(scores)} architectures")
        cells = " | ".join(f"{chosen[d].mean():.2f} ± {chosen[d].std():.2f}" for d in DATASETS)
        print(f"| {name} | {len(chosen)} | {cells} |")


if __name__ == "__main__":
    main()
