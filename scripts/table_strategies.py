"""Each search strategy's expected pick against the number of architectures it scores, from a score table.

    python scripts/table_strategies.py results/tables/nb201-cifar10-freerea.csv.gz --ranking freerea \\
        [--benchmark ../shared/data/nb201/nb201_hp200_test_acc.csv] [--dataset cifar10] [--truth test|valid12] \\
        [--strategies sample,evolve,evolve_freerea] [--seeds 100] [--budget 1000] [--out DIR] [OVERRIDE ...]

Every strategy runs ``--seeds`` real searches (``python -m tenas.search``'s ``run_search`` with
``scorer=table``, seeds 0..n-1) of ``--budget`` distinct architectures; trailing Hydra overrides (for example
``ranking.aggregation=log_rank`` or ``'ranking.proxies=[nwot,skip_prior]'``) change every search. A search of budget b scores the
first b architectures of a search of a larger budget, in the same order (``sample`` draws them in one
sequence; ``evolve``'s generations do not look at the budget), so the pick at each b is the best merit,
by the ranking over those b architectures, as a search of budget b computes it. The script checks this
on seed 0 of each strategy by running the search of every smaller budget and comparing the picks.

``--truth test`` reports the picks' 200-epoch benchmark test accuracy on ``--dataset``; ``--truth valid12``
their 12-epoch CIFAR-10 validation accuracy (``--valid``), the one to choose by. Writes ``picks.csv`` (one
row per strategy, seed and budget), ``summary.md`` (mean ± std over the seeds, ddof=1) and ``picks.png``
into ``--out``, and prints the summary.
"""
from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data" / "nb201"
STRATEGIES = {  # name: overrides of conf/search.yaml, the budget in {budget}
    "sample": ["strategy=sample", "strategy.num_samples={budget}"],
    "evolve": ["strategy=evolve", "strategy.budget={budget}"],  # Real et al.: population 64, tournament 10, 1 parent
    "evolve_freerea": ["strategy=evolve", "strategy.budget={budget}", "strategy.population_size=100", "strategy.sample_size=25",
                       "strategy.parents=2", "strategy.crossover=true"],  # FreeREA's evolution
}
GRID = (10, 20, 50, 100, 200, 300, 500, 1000, 2000, 5000)
TRUTH_DATASETS = {"cifar10": "cifar10_test", "cifar100": "cifar100_test", "imagenet16_120": "imagenet16_120_test"}


def search_config(args, strategy: str, budget: int, seed: int):
    from hydra import compose, initialize_config_dir

    from tenas import CONF_DIR

    overrides = [o.format(budget=budget) for o in STRATEGIES[strategy]]
    overrides += ["scorer=table", f"scorer.path={args.table}", f"ranking={args.ranking}", f"seed={seed}", f"benchmark.dataset={args.dataset}",
                  "device=cpu", *args.overrides]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides)


def run(args, strategy: str, budget: int, seed: int, work: Path) -> tuple[pd.DataFrame, str, float]:
    """One search: its candidates.csv (the architectures in the order scored), its chosen architecture, its seconds."""
    from tenas.search import run_search

    out = work / f"{strategy}-b{budget}-s{seed}"
    t0 = time.perf_counter()
    result = run_search(search_config(args, strategy, budget, seed), out)
    return pd.read_csv(out / "candidates.csv"), result["arch"], time.perf_counter() - t0


def picks(population: pd.DataFrame, ranking, budgets) -> dict[int, str]:
    """The architecture a search of each budget picks: the first best merit over its first b architectures."""
    from tenas.strategies import merits

    out = {}
    for b in budgets:
        rows = population.iloc[:b]
        out[b] = rows["arch"].iloc[int(np.argmax(merits(ranking, rows.to_dict("records"))))]
    return out


def truth_of(args) -> pd.Series:
    if args.truth == "valid12":
        frame = pd.read_csv(args.valid)
        return frame.set_index("arch_str")["cifar10_valid_12epoch"]
    frame = pd.read_csv(args.benchmark)
    return frame.set_index("arch_str")[TRUTH_DATASETS[args.dataset]]


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.groupby(["strategy", "budget"])["accuracy"].agg(["count", "mean", "std"]).reset_index()
    table["hit_top"] = frame.groupby(["strategy", "budget"])["is_table_argmax"].mean().to_numpy()
    return table


def plot(summary: pd.DataFrame, ceiling: float, optimum: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, part in summary.groupby("strategy", sort=False):
        ax.plot(part["budget"], part["mean"], marker="o", label=name)
        ax.fill_between(part["budget"], part["mean"] - part["std"], part["mean"] + part["std"], alpha=0.2)
    ax.axhline(ceiling, color="k", ls="--", lw=1, label="ranking's argmax over the table")
    ax.axhline(optimum, color="gray", ls=":", lw=1, label="benchmark optimum")
    ax.set_xscale("log")
    ax.set_xlabel("architectures scored")
    ax.set_ylabel("accuracy of the pick (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("table", type=Path)
    ap.add_argument("--ranking", default="freerea")
    ap.add_argument("--benchmark", type=Path, default=SHARED / "nb201_hp200_test_acc.csv")
    ap.add_argument("--valid", type=Path, default=SHARED / "nb201_hp12_cifar10_valid.csv")
    ap.add_argument("--dataset", default="cifar10", help="the benchmark dataset searched for: " + " | ".join(TRUTH_DATASETS))
    ap.add_argument("--truth", default="test", help="test (200-epoch test accuracy, to report) | valid12 (12-epoch CIFAR-10 validation, to choose by)")
    ap.add_argument("--strategies", default="sample,evolve,evolve_freerea")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides of every search (conf/search.yaml)")
    args = ap.parse_intermixed_args(argv)
    strategies = args.strategies.split(",")
    problems = [f"--strategies: {s!r}; allowed: {', '.join(STRATEGIES)}" for s in strategies if s not in STRATEGIES]
    if args.dataset not in TRUTH_DATASETS:
        problems.append(f"--dataset: {args.dataset!r}; allowed: {', '.join(TRUTH_DATASETS)}")
    if args.truth not in ("test", "valid12"):
        problems.append(f"--truth: {args.truth!r}; allowed: test, valid12")
    if args.truth == "valid12" and args.dataset != "cifar10":
        problems.append("--truth valid12: the 12-epoch validation accuracy is CIFAR-10's; use --dataset cifar10")
    if args.seeds < 2 or args.budget < 10:
        problems.append(f"--seeds {args.seeds} / --budget {args.budget}; allowed: at least 2 seeds and a budget of at least 10")
    for path in (args.table, args.valid if args.truth == "valid12" else args.benchmark):
        if not path.is_file():
            problems.append(f"{path}: no such file")
    if problems:
        print(f"error: {problems[0]}", file=sys.stderr)
        return 2
    from tenas.errors import TenasError
    from hydra.errors import HydraException

    from tenas.search import prepare_search
    from tenas.strategies import merits

    logging.disable(logging.WARNING)  # the searches' own log lines
    try:
        cfg = search_config(args, strategies[0], args.budget, 0)
        prepared = prepare_search(cfg)
        ranking, table = prepared.ranking, prepared.table  # as the searches rank, and the table they read
    except (TenasError, HydraException, ValueError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    truth = truth_of(args)
    merit = merits(ranking, table.frame.to_dict("records"))  # over the whole table: what a search of all of it picks
    best_arch = table.frame["arch"].iloc[int(np.argmax(merit))]
    ceiling, optimum = float(truth.loc[best_arch]), float(truth.max())
    budgets = [b for b in GRID if b < args.budget] + [args.budget]
    rows, seconds = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in strategies:
            spent = []
            for seed in range(args.seeds):
                try:
                    population, chosen, wall = run(args, strategy, args.budget, seed, Path(tmp))
                except TenasError as err:
                    print(f"error: {err}", file=sys.stderr)
                    return 2
                spent.append(wall)
                found = picks(population, ranking, budgets)
                if found[args.budget] != chosen:
                    raise SystemExit(f"error: {strategy} seed {seed}: the full search chose {chosen}, its pick over the population is {found[args.budget]}")
                for small in budgets[:-1] if seed == 0 else []:  # a smaller search scores a prefix of this one and picks the same
                    _, chosen_small, _ = run(args, strategy, small, seed, Path(tmp))
                    if chosen_small != found[small]:
                        raise SystemExit(f"error: {strategy}: a search of budget {small} chose {chosen_small}, the prefix pick is {found[small]}")
                rows += [{"strategy": strategy, "seed": seed, "budget": b, "arch": a, "accuracy": float(truth.loc[a]), "is_table_argmax": a == best_arch}
                         for b, a in found.items()]
            seconds[strategy] = float(np.mean(spent))
    frame = pd.DataFrame(rows)
    summary = summarize(frame)
    out = args.out or REPO / "results" / "figures" / "table_strategies" / f"{args.table.name.split('.')[0]}-{args.ranking}-{args.truth}"
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / "picks.csv", index=False)
    what = "12-epoch CIFAR-10 validation accuracy" if args.truth == "valid12" else f"{args.dataset} 200-epoch test accuracy"
    pivot = summary.assign(cell=[f"{m:.2f} ± {s:.2f}" for m, s in zip(summary["mean"], summary["std"])]).pivot(index="strategy", columns="budget", values="cell")
    pivot = pivot.loc[strategies]
    pivot["s/search"] = [f"{seconds[s]:.2f}" for s in strategies]
    label = " ".join([args.ranking, *args.overrides])  # the ranking and whatever the overrides change in every search
    text = (f"{what} of the pick, mean ± std over {args.seeds} seeds; ranking `{label}` on `{args.table.name}`; "
            f"its argmax over the table: {ceiling:.2f}; the benchmark optimum: {optimum:.2f}\n\n"
            + pivot.to_markdown() + "\n\nshare of searches picking the table's argmax:\n\n"
            + summary.pivot(index="strategy", columns="budget", values="hit_top").loc[strategies].round(2).to_markdown() + "\n")
    (out / "summary.md").write_text(text)
    plot(summary, ceiling, optimum, out / "picks.png", f"ranking {label} on {args.table.name} ({args.seeds} seeds)")
    print(text)
    print(f"outputs: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
