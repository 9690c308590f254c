"""Choose a ranking for one dataset from a score table, on validation accuracies only (never the reported test).

    python scripts/choose_ranking.py results/tables/nb201-imagenet16_120-freerea.csv.gz --valid naslib --dataset ImageNet16-120
    python scripts/choose_ranking.py results/tables/nb201-cifar10-freerea.csv.gz --valid hp12
    python scripts/choose_ranking.py results/tables/nb201-cifar10-{freerea,az}.csv.gz --valid hp12

Tables of the same architectures scored with other proxies are joined on the architecture. Each candidate
(``CANDIDATES``: a set of proxies and an aggregation, fixed before any was tried; the second group was
added with the ``-az`` tables, before it was run) whose proxies the tables hold is computed over the whole
table, as a search of the whole space ranks. It is then judged by a
validation accuracy that is not reported:

- ``--valid hp12``: NAS-Bench-201's 12-epoch CIFAR-10 validation accuracy of all 15,625 architectures
  (``../shared/data/nb201/nb201_hp12_cifar10_valid.csv``);
- ``--valid naslib``: the validation accuracy on ``--dataset`` in NASLib's zero-cost file
  (``../shared/data/naslib/zc_nasbench201.json``, ~724 architectures per dataset; NAS-Bench-201's
  validation split, not its test split).

Printed per candidate, best first: the mean validation accuracy of the ``--top`` architectures it ranks
highest among those with a validation accuracy, that of its single best, and its Kendall τ with the
validation accuracy over them. Nothing here reads a test accuracy.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CANDIDATES = {  # name: (proxies, aggregation); FreeREA's ranking and its one-step variants
    "freerea": (["logsynflow", "nwot", "skip_prior"], "max_norm_sum"),
    "freerea, log_rank": (["logsynflow", "nwot", "skip_prior"], "log_rank"),
    "freerea + param_ops": (["logsynflow", "nwot", "skip_prior", "param_ops"], "max_norm_sum"),
    "freerea + longest_path": (["logsynflow", "nwot", "skip_prior", "longest_path"], "max_norm_sum"),
    "freerea + params": (["logsynflow", "nwot", "skip_prior", "params"], "max_norm_sum"),
    "freerea, synflow for logsynflow": (["synflow", "nwot", "skip_prior"], "max_norm_sum"),
    "freerea - logsynflow": (["nwot", "skip_prior"], "max_norm_sum"),
    "freerea - nwot": (["logsynflow", "skip_prior"], "max_norm_sum"),
    "freerea - skip_prior": (["logsynflow", "nwot"], "max_norm_sum"),
    # with meco, swap and AZ-NAS's proxies (the -az tables)
    "freerea + meco": (["logsynflow", "nwot", "skip_prior", "meco"], "max_norm_sum"),
    "freerea, meco for nwot": (["logsynflow", "meco", "skip_prior"], "max_norm_sum"),
    "meco + skip_prior": (["meco", "skip_prior"], "max_norm_sum"),
    "ensemble": (["meco", "swap", "az_progressivity", "az_trainability", "az_complexity"], "log_rank"),
    "ensemble + skip_prior": (["meco", "swap", "az_progressivity", "az_trainability", "az_complexity", "skip_prior"], "log_rank"),
    "az_nas + skip_prior": (["az_expressivity", "az_progressivity", "az_trainability", "az_complexity", "skip_prior"], "log_rank"),
    "freerea + ensemble, log_rank": (["logsynflow", "nwot", "skip_prior", "meco", "swap", "az_progressivity", "az_trainability",
                                      "az_complexity"], "log_rank"),
}


def validation(kind: str, dataset: str) -> pd.Series:
    if kind == "hp12":
        frame = pd.read_csv(SHARED / "nb201" / "nb201_hp12_cifar10_valid.csv")
        return frame.set_index("arch_str")["cifar10_valid_12epoch"]
    from tenas.table import read_naslib

    frame = read_naslib(SHARED / "naslib" / "zc_nasbench201.json", dataset)
    return frame.set_index("arch")["val_accuracy"]


def joined(paths) -> tuple[pd.DataFrame, str | None]:
    """The tables side by side, one row per architecture (columns the first holds are taken from it), or a
    problem when they do not hold the same architectures."""
    table = pd.read_csv(paths[0])
    for path in paths[1:]:
        other = pd.read_csv(path)
        if set(other["arch"]) != set(table["arch"]) or len(other) != len(table):
            return table, f"{path} holds other architectures than {paths[0]}"
        table = table.merge(other[["arch", *(c for c in other.columns if c not in table.columns)]], on="arch", validate="one_to_one")
    return table, None


def judge(table: pd.DataFrame, valid: pd.Series, top: int) -> pd.DataFrame:
    from tenas.ranking import Ranking

    known = table["arch"].isin(valid.index).to_numpy()
    rows = []
    for name, (proxies, aggregation) in CANDIDATES.items():
        if not set(proxies) <= set(table.columns):
            continue
        ranking = Ranking(name, tuple(proxies), aggregation)
        merit = np.asarray(ranking.combined_score({p: table[p].to_numpy(np.float64) for p in proxies}))
        order = np.argsort(-merit, kind="stable")
        picked = [table["arch"].iloc[i] for i in order if known[i]][:top]
        values = valid.loc[picked].to_numpy()
        tau = kendalltau(merit[known], valid.loc[table["arch"][known]].to_numpy())[0]
        rows.append({"candidate": name, f"top{top}_valid_mean": values.mean(), "top1_valid": values[0], "kendall_tau": tau,
                     "argmax_has_valid": bool(known[order[0]])})
    return pd.DataFrame(rows).sort_values([f"top{top}_valid_mean", "top1_valid"], ascending=False).reset_index(drop=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", type=Path, nargs="+", help="score tables of the same architectures (joined on the architecture)")
    ap.add_argument("--valid", default="hp12", help="hp12 | naslib")
    ap.add_argument("--dataset", default="cifar10", help="naslib only: cifar10 | cifar100 | ImageNet16-120")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args(argv)
    problem = None
    if args.valid not in ("hp12", "naslib"):
        problem = f"--valid: {args.valid!r}; allowed: hp12, naslib"
    elif args.valid == "naslib" and args.dataset not in ("cifar10", "cifar100", "ImageNet16-120"):
        problem = f"--dataset: {args.dataset!r}; allowed: cifar10, cifar100, ImageNet16-120"
    elif args.top < 1:
        problem = f"--top: {args.top}; allowed: at least 1"
    elif any(not path.is_file() for path in args.table):
        problem = f"{next(path for path in args.table if not path.is_file())}: no such file"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    table, problem = joined(args.table)
    if problem is None and not any(set(proxies) <= set(table.columns) for proxies, _ in CANDIDATES.values()):
        problem = f"{', '.join(map(str, args.table))}: no candidate's proxies are all there"
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    result = judge(table, validation(args.valid, args.dataset), args.top)
    what = "12-epoch CIFAR-10 validation" if args.valid == "hp12" else f"NASLib's {args.dataset} validation"
    print(f"{what} accuracy of each candidate's top architectures ({', '.join(path.name for path in args.table)})\n")
    print(result.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
