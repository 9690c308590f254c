"""Choose a search preset without the reported numbers: the 12-epoch CIFAR-10 validation accuracy of what it finds.

    python scripts/choose_recommended.py results/search/select [--valid ../shared/data/nb201/nb201_hp12_cifar10_valid.csv]
        [--runs 'seed10[0-3]' ...]

``ROOT/<candidate>/<run>/genotype.json`` are searches of each candidate preset (on seeds that are never
reported). For each candidate this prints the runs, the mean and the worst 12-epoch CIFAR-10 validation
accuracy of the architectures found (NAS-Bench-201's ``hp=12`` training, not the 200-epoch test accuracy that
is reported), the distinct architectures found and the mean seconds per search, best candidate first (by the
mean, then the worst). ``--runs`` keeps only the runs whose folder name matches one of its glob patterns (the
seeds of one round of selection). Nothing here reads a test accuracy.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

import pandas as pd

DEFAULT_VALID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201" / "nb201_hp12_cifar10_valid.csv"


def candidates(root: Path, valid: pd.Series, runs: tuple[str, ...] = ("*",)) -> pd.DataFrame:
    rows = []
    for path in sorted(root.glob("*/*/genotype.json")):
        if not any(fnmatch.fnmatchcase(path.parent.name, pattern) for pattern in runs):
            continue
        result = json.loads(path.read_text())
        rows.append({"candidate": path.parent.parent.name, "run": path.parent.name, "arch": result["arch"],
                     "valid12": float(valid.loc[result["arch"]]), "seconds": result.get("wall_time_s")})
    if not rows:
        raise SystemExit(f"error: no <candidate>/<run>/genotype.json under {root} with a run matching {' or '.join(runs)}")
    runs = pd.DataFrame.from_records(rows)
    table = runs.groupby("candidate").agg(runs=("run", "size"), valid12_mean=("valid12", "mean"), valid12_min=("valid12", "min"),
                                          archs=("arch", "nunique"), seconds=("seconds", "mean"))
    return table.sort_values(["valid12_mean", "valid12_min"], ascending=False)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--valid", type=Path, default=DEFAULT_VALID)
    parser.add_argument("--runs", action="append", help="glob over run folder names (repeatable; default: all)")
    args = parser.parse_args(argv)
    if not args.valid.is_file():
        sys.exit(f"error: --valid: {args.valid} is not a file (NAS-Bench-201's 12-epoch CIFAR-10 validation table)")
    valid = pd.read_csv(args.valid).set_index("arch_str")["cifar10_valid_12epoch"]
    print(candidates(args.root, valid, tuple(args.runs or ["*"])).to_markdown(floatfmt=".3f"))


if __name__ == "__main__":
    main()
