"""Choose the proxies and aggregation of ``ranking=ensemble`` on one half of a study, report them on the other.

    python scripts/choose_ensemble.py results/evaluate/study-A --benchmark ../shared/data/nb201/nb201_hp200_test_acc.csv

Reads the study's ``checkpoint.jsonl`` (finished or still running: a study scores its seeded sample in
order), splits the scored architectures by sample position (even positions select, odd positions report),
tries every combination of up to ``--max-proxies`` of the study's proxies under each aggregation of
``tenas.ranking``, ranks the combinations by Kendall τ with CIFAR-10 test accuracy on the selection half,
and prints the best ones with their τ on the report half (never used to choose) and on CIFAR-100 and
ImageNet16-120, beside AZ-NAS's four proxies with log-rank on the same halves.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tenas.study.correlation import rank_correlations  # noqa: E402
from tenas.ranking import AGGREGATIONS, Ranking, get_ranking  # noqa: E402

ACCURACY = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "ImageNet16-120": "imagenet16_120_test"}


def tau(ranking: Ranking, part: pd.DataFrame, dataset: str = "cifar10") -> float:
    merit = ranking.combined_score({p: part[p].to_numpy(float) for p in ranking.proxies})
    return rank_correlations(merit, part[ACCURACY[dataset]])["kendall_tau"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--max-proxies", type=int, default=5)
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args(argv)
    proxies = json.loads((args.study / "study.json").read_text())["study"]["proxies"]
    rows = [json.loads(line) for line in (args.study / "checkpoint.jsonl").read_text().splitlines() if line.endswith("}")]
    frame = pd.DataFrame.from_records(rows).merge(pd.read_csv(args.benchmark), on="index")
    select, report = frame.iloc[0::2], frame.iloc[1::2]
    print(f"{len(frame)} architectures scored: {len(select)} select, {len(report)} report; proxies {proxies}")
    tried = []
    for k in range(1, args.max_proxies + 1):
        for combo in itertools.combinations(proxies, k):
            for aggregation in AGGREGATIONS:
                ranking = Ranking("ensemble", combo, aggregation)
                tried.append((tau(ranking, select), ranking))
    tried.sort(key=lambda t: -t[0])
    print("| proxies | aggregation | τ C10, selection half | τ C10 / C100 / IN16, report half |")
    print("| --- | --- | --- | --- |")
    az = get_ranking("az_nas")
    for chosen_tau, ranking in tried[: args.top] + ([(tau(az, select), az)] if set(az.proxies) <= set(proxies) else []):
        reported = " / ".join(f"{tau(ranking, report, ds):.3f}" for ds in ACCURACY)
        print(f"| {', '.join(ranking.proxies)}{' (az_nas)' if ranking is az else ''} | {ranking.aggregation} | {chosen_tau:.3f} | {reported} |")


if __name__ == "__main__":
    main()
