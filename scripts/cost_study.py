"""Searches under cost limits and Pareto fronts, on a whole-space score table (scorer=table), against the
benchmark's truth from the table of all 15,625 architectures.

    python scripts/cost_study.py results/tables/nb201-cifar10-az.csv.gz --ranking ensemble \
        --costs results/tables/nb201-cifar10-costs.csv.gz --out results/figures/cost_study/c10-ensemble

For each strategy and seed: (1) a search with ``search.objectives=[merit,flops]`` and ``--budget``
architectures; the hypervolume of its front, placed at the architectures' true accuracy, as a fraction of
the true accuracy-FLOPs front's (reference point: the space's lowest accuracy and largest FLOPs; and, stricter,
its median accuracy); (2) a search under ``search.limits.flops`` = ``--limit-fraction`` of the largest
architecture's FLOPs; the found architecture's accuracy against the best accuracy within the limit.
Writes ``summary.md``, ``runs.csv`` and ``fronts.png`` into ``--out``."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from table_strategies import SHARED, TRUTH_DATASETS as TRUTH  # the shared benchmark table and its accuracy columns

STRATEGIES = {"sample": ["strategy=sample", "strategy.num_samples={budget}"],
              "evolve": ["strategy=evolve", "strategy.budget={budget}"]}


def true_front(accuracy: np.ndarray, flops: np.ndarray) -> np.ndarray:
    """Indices of the accuracy-FLOPs front (higher accuracy, fewer FLOPs), by FLOPs: a sweep, not pairwise."""
    order = np.lexsort((-accuracy, flops))
    keep, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            keep.append(i)
            best = accuracy[i]
    return np.array(keep)


def search(args, strategy: str, seed: int, work: Path, kind: str, extra: list[str]) -> tuple[dict, Path]:
    from hydra import compose, initialize_config_dir

    from tenas import CONF_DIR
    from tenas.search import run_search

    if args.experiment:  # the preset's ranking and strategy, at --budget
        overrides = [f"+experiment={args.experiment}", f"strategy.budget={args.budget}"]
    else:
        overrides = [o.format(budget=args.budget) for o in STRATEGIES[strategy]] + [f"ranking={args.ranking}"]
    overrides += ["scorer=table", f"scorer.path={args.table}", f"seed={seed}", f"benchmark.dataset={args.dataset}",
                  f"benchmark.path={args.benchmark}", "device=cpu", *args.overrides, *extra]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="search", overrides=overrides)
    out = work / f"{strategy}-s{seed}-{kind}"
    return run_search(cfg, out), out


def main(argv=None) -> int:
    from tenas.pareto import hypervolume_2d

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", type=Path)
    ap.add_argument("--ranking", default="ensemble")
    ap.add_argument("--costs", type=Path, required=True, help="scripts/cost_table.py's table for the dataset")
    ap.add_argument("--benchmark", type=Path, default=SHARED / "nb201_hp200_test_acc.csv")
    ap.add_argument("--dataset", default="cifar10", help=" | ".join(TRUTH))
    ap.add_argument("--strategies", default="sample,evolve")
    ap.add_argument("--experiment", default=None, help="a preset (+experiment=NAME) instead of --ranking and --strategies")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--budget", type=int, default=500)
    ap.add_argument("--limit-fraction", type=float, default=0.5)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of every search (conf/search.yaml)")
    args = ap.parse_args(argv)
    for path in (args.table, args.costs, args.benchmark):
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 1
    if (args.dataset not in TRUTH or not set(args.strategies.split(",")) <= set(STRATEGIES) or not 0 < args.limit_fraction <= 1
            or args.seeds < 1 or args.budget < 1):
        print(f"error: --dataset one of {list(TRUTH)}, --strategies of {list(STRATEGIES)}, --limit-fraction in (0, 1], --seeds and --budget >= 1",
              file=sys.stderr)
        return 1
    truth = pd.read_csv(args.benchmark).set_index("arch_str")[TRUTH[args.dataset]]
    costs = pd.read_csv(args.costs).set_index("arch")
    if len(costs) != 15625 or not costs.index.isin(truth.index).all():
        print(f"error: {args.costs}: not a cost table of the 15,625 NAS-Bench-201 architectures", file=sys.stderr)
        return 1
    acc, flops = truth.loc[costs.index].to_numpy(), costs["flops"].to_numpy()
    front = true_front(acc, flops)
    refs = {"lowest": (-acc.min(), flops.max()), "median": (-np.median(acc), flops.max())}
    true_hv = {k: hypervolume_2d(np.column_stack([-acc[front], flops[front]]), ref) for k, ref in refs.items()}
    limit = args.limit_fraction * flops.max()
    best_feasible = acc[flops <= limit].max()
    rows, fronts = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in ([f"+experiment={args.experiment}"] if args.experiment else args.strategies.split(",")):
            for seed in range(args.seeds):
                found, out = search(args, strategy, seed, Path(tmp), "front", ["search.objectives=[merit,flops]"])
                pareto = pd.read_csv(out / "pareto.csv")
                points = np.column_stack([-truth.loc[pareto.arch].to_numpy(), costs.loc[pareto.arch, "flops"].to_numpy()])
                fronts[strategy, seed] = points
                limited, _ = search(args, strategy, seed, Path(tmp), "limit", [f"search.limits.flops={limit}"])
                rows.append({"strategy": strategy, "seed": seed, "front_size": len(pareto), "knee_accuracy": found["test_accuracy"],
                             **{f"hv_{k}": hypervolume_2d(points, ref) / true_hv[k] for k, ref in refs.items()},
                             "limited_accuracy": limited["test_accuracy"], "limited_flops": limited["costs"]["flops"],
                             "gap_to_best_feasible": best_feasible - limited["test_accuracy"], "seconds": found["wall_time_s"]})
                print(rows[-1], flush=True)
    runs = pd.DataFrame.from_records(rows)
    args.out.mkdir(parents=True, exist_ok=True)  # only once every search has run
    runs.to_csv(args.out / "runs.csv", index=False)
    table = runs.groupby("strategy").agg(["mean", "std"]).drop(columns="seed")
    lines = [f"{args.dataset}: {f'`+experiment={args.experiment}`' if args.experiment else f'ranking `{args.ranking}`'} on `{args.table.name}`, {args.budget} architectures per search, {args.seeds} seeds "
             f"(mean ± std). True front: {len(front)} architectures; hypervolume reference point (accuracy, MFLOPs): "
             f"lowest ({acc.min():.2f}, {flops.max():.1f}), median ({np.median(acc):.2f}, {flops.max():.1f}). "
             f"Limit: {limit:.1f} MFLOPs ({args.limit_fraction:g} of the largest, {flops.max():.1f}); best accuracy within it {best_feasible:.2f}.", ""]
    lines.append("| strategy | front size | HV / true (lowest ref) | HV / true (median ref) | knee's accuracy | accuracy under the limit | gap to the best feasible | s/search |")
    lines.append("|:--|--:|--:|--:|--:|--:|--:|--:|")
    for strategy in table.index:
        t = table.loc[strategy]
        fmt = lambda c, d=2: f"{t[(c, 'mean')]:.{d}f} ± {t[(c, 'std')]:.{d}f}"  # noqa: E731
        lines.append(f"| {strategy} | {t[('front_size', 'mean')]:.1f} | {fmt('hv_lowest', 3)} | {fmt('hv_median', 3)} | {fmt('knee_accuracy')} | "
                     f"{fmt('limited_accuracy')} | {fmt('gap_to_best_feasible')} | {t[('seconds', 'mean')]:.1f} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(acc, flops, front, fronts, args.out / "fronts.png", lines[0][:110])
    return 0


def plot(acc, flops, front, fronts, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.scatter(flops, acc, s=2, c="0.85", label="all 15,625")
    ax.step(flops[front], acc[front], where="post", c="k", lw=1.2, label="true front")
    for (strategy, seed), points in fronts.items():
        order = np.argsort(points[:, 1])
        ax.plot(points[order, 1], -points[order, 0], "o-", ms=3, lw=0.8, alpha=0.7, label=f"{strategy} seed {seed}")
    ax.set_xlabel("MFLOPs")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(np.percentile(acc, 5), acc.max() + 0.5)
    ax.set_title(title, fontsize=7)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
