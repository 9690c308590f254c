"""The proxy table of results/README.md: each proxy's rank correlation with NAS-Bench-201 test accuracy,
its agreement with NASLib's published scores, its cost, and the published figure beside it.

    python scripts/proxy_table.py --study results/evaluate/study-A [--study DIR ...] \
        --naslib results/naslib/agreement.csv --benchmark ../shared/data/nb201/nb201_hp200_test_acc.csv

A study folder may be finished or still running: its ``checkpoint.jsonl`` rows are read as they are
(a study scores architectures in its seeded sample order, so a partial study is the start of its
sample). ``--naslib`` is the per-architecture CSV of ``scripts/naslib_agreement.py`` (the ~725
architectures of NASLib's file, NAS-Bench-Suite-Zero protocol). For each proxy the table uses the
sample that scored it on the most architectures (a study or the NASLib architectures). Kendall τ and Spearman ρ are against the
benchmark's 200-epoch test accuracy on CIFAR-10 / CIFAR-100 / ImageNet16-120; every proxy is scored
on CIFAR-10 images.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tenas.study.correlation import rank_correlations  # noqa: E402
from tenas.proxies import get_proxy, list_proxies  # noqa: E402

DATASETS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}

#: Published rank correlations with NAS-Bench-201 CIFAR-10 accuracy (see ../shared/reference/RESULTS.md).
PUBLISHED = {
    "params": "τ 0.578 (AZ-NAS table)",
    "flops": "τ 0.578 (AZ-NAS table, as #params)",
    "synflow": "τ 0.571 (AZ-NAS table); ρ 0.736 (NASLib)",
    "nwot": "τ 0.557 (AZ-NAS table); ρ 0.787 (NASLib)",
    "zico": "τ 0.589 (AZ-NAS table)",
    "meco": "ρ 0.89 (MeCo paper, NATS-TSS C10)",
    "linear_regions": "τ 0.50 (TE-NAS Fig. 3); 0.539 (FreeREA cache)",
    "ntk": "τ −0.42 on CIFAR-100 (TE-NAS Fig. 1)",
    "az_expressivity": "AZ-NAS ensemble τ 0.741",
    "az_progressivity": "AZ-NAS ensemble τ 0.741",
    "az_trainability": "AZ-NAS ensemble τ 0.741",
    "az_complexity": "AZ-NAS ensemble τ 0.741",
}


def study_rows(folder: Path, benchmark: pd.DataFrame) -> tuple[list[str], pd.DataFrame]:
    identity = json.loads((folder / "study.json").read_text())
    rows = [json.loads(line) for line in (folder / "checkpoint.jsonl").read_text().splitlines() if line.endswith("}")]
    frame = pd.DataFrame.from_records(rows).merge(benchmark, left_on="index", right_on="index")
    return identity["study"]["proxies"], frame


def correlations(values, frame) -> dict:
    return {ds: rank_correlations(values, frame[column]) for ds, column in DATASETS.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--study", action="append", default=[], type=Path, help="a study folder (repeatable)")
    parser.add_argument("--naslib", type=Path, help="per-architecture CSV of scripts/naslib_agreement.py")
    parser.add_argument("--benchmark", type=Path, required=True, help="NAS-Bench-201 CSV table")
    args = parser.parse_args(argv)
    benchmark = pd.read_csv(args.benchmark)
    by_arch = benchmark.set_index("arch_str")

    # each proxy's samples: (where, scores, their benchmark rows, seconds per architecture)
    samples: dict[str, list[tuple[str, pd.Series, pd.DataFrame, float | None]]] = {}
    for folder in args.study:
        proxies, frame = study_rows(folder, benchmark)
        for p in proxies:
            if p in frame:
                seconds = frame[f"seconds_{p}"].mean() if f"seconds_{p}" in frame else None
                samples.setdefault(p, []).append((f"study {folder.name}", frame[p], frame, seconds))
    agreement = {}
    if args.naslib:
        naslib = pd.read_csv(args.naslib)
        naslib = naslib[(naslib["dataset"] == "cifar10") & (naslib["seed"] == 0)]
        for p, part in naslib.groupby("proxy"):
            part = part.drop_duplicates("key")
            ours, theirs = part["ours"].to_numpy(float), part["naslib"].to_numpy(float)
            agreement[p] = {
                "n": len(part),
                "ours_vs_naslib": rank_correlations(ours, theirs)["spearman_rho"],
                "ours_vs_val": rank_correlations(ours, part["val_accuracy"])["spearman_rho"],
                "naslib_vs_val": rank_correlations(theirs, part["val_accuracy"])["spearman_rho"],
            }
            frame = by_arch.loc[part["arch"]].reset_index()
            samples.setdefault(p, []).append(("NASLib's archs", pd.Series(ours), frame, float(part["seconds"].mean())))
    sources = {p: max(found, key=lambda sample: int(np.isfinite(sample[1].to_numpy(float)).sum())) for p, found in samples.items()}

    print("| proxy | better | n | sample | τ C10 / C100 / IN16 | ρ C10 / C100 / IN16 | ρ with NASLib's scores (n) | ρ with NASLib val. acc.: ours / NASLib's | s/arch (1 CPU core) | published |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for p in list_proxies():
        if p not in sources:
            print(f"| `{p}` | {'higher' if get_proxy(p).higher_is_better else 'lower'} | 0 | not measured | | | | | | {PUBLISHED.get(p, '')} |")
            continue
        where, values, frame, seconds = sources[p]
        c = correlations(values.to_numpy(float), frame)
        n = c["cifar10"]["n"]
        tau = " / ".join(f"{c[d]['kendall_tau']:+.3f}" for d in DATASETS)
        rho = " / ".join(f"{c[d]['spearman_rho']:+.3f}" for d in DATASETS)
        a = agreement.get(p)
        agree = f"{a['ours_vs_naslib']:.3f} ({a['n']})" if a else "—"
        val = f"{a['ours_vs_val']:+.3f} / {a['naslib_vs_val']:+.3f}" if a else "—"
        cost = f"{seconds:.2f}" if seconds is not None and np.isfinite(seconds) else "—"
        better = "higher" if get_proxy(p).higher_is_better else "lower"
        print(f"| `{p}` | {better} | {n} | {where} | {tau} | {rho} | {agree} | {val} | {cost} | {PUBLISHED.get(p, '—')} |")


if __name__ == "__main__":
    main()
