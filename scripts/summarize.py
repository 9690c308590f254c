"""Summarize a Hydra multirun folder of searches or correlation studies into CSV and Markdown tables.

    python scripts/summarize.py results/multirun/<time> [--out DIR]

Every job folder holding a ``genotype.json`` (``python -m tenas.search``) or a
``correlations.json`` (``python -m tenas.evaluate``) is one run. A run's *setting*
is its command-line overrides (``.hydra/overrides.yaml``) less the seed, the
ranking, the dataset, file paths and compute-only keys.

Searches: ``summary_runs.csv`` (one row per run: seed, ranking, found architecture as
one line of its space's notation, its benchmark test accuracies, search seconds) and ``summary.csv`` (per ranking,
dataset and setting: runs, mean and sample standard deviation (ddof=1) of each
accuracy, mean search seconds). Studies: ``summary.csv`` (one row per run:
each proxy's protocol as ``<proxy>.<key>`` columns, Kendall τ and Spearman ρ of every
score on every dataset, seconds per architecture). ``summary.md`` holds the same tables in Markdown.
All files are written atomically into the multirun folder (or ``--out``).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

from tenas.benchmark import DATASETS
from tenas.export import architecture_from_json
from tenas.io import atomic_write_csv, atomic_write_text


def setting_of(job_dir: Path) -> str:
    """The job's overrides that define its setting, sorted and space-separated ('' for none).

    Left out: the seed, ranking and dataset (columns of their own), file paths
    (``*.path``, ``*.root``), and keys that change no result (``device``,
    ``compute.*``, ``hydra*``).
    """
    path = job_dir / ".hydra" / "overrides.yaml"
    kept = []
    for override in (yaml.safe_load(path.read_text()) if path.is_file() else None) or []:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in ("seed", "ranking", "dataset", "device") or key.startswith(("hydra", "compute.")) or key.endswith((".path", ".root")):
            continue
        kept.append(override)
    return " ".join(sorted(kept))


def search_runs(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        result = json.loads(path.read_text())
        accuracy = result.get("test_accuracies", {})
        rows.append({
            "job": path.parent.name,
            "setting": setting_of(path.parent),
            "ranking": result.get("ranking"),
            "dataset": result.get("dataset"),
            "searched_for": result.get("benchmark_dataset", "cifar10"),
            "test_accuracy": result.get("test_accuracy", float("nan")),
            "seed": result.get("seed"),
            "arch": architecture_from_json(result).text(),
            **{ds: accuracy.get(ds, float("nan")) for ds in DATASETS},
            "search_s": result.get("wall_time_s"),
        })
    return pd.DataFrame.from_records(rows).sort_values(["ranking", "dataset", "searched_for", "setting", "seed"], kind="stable").reset_index(drop=True)


def aggregate_searches(runs: pd.DataFrame) -> pd.DataFrame:
    """Per ranking, dataset, benchmark dataset searched for and setting: runs, mean and std (ddof=1) of the test
    accuracy on the dataset searched for and on each benchmark dataset, mean seconds."""
    rows = []
    for (ranking, dataset, target, setting), group in runs.groupby(["ranking", "dataset", "searched_for", "setting"], sort=True, dropna=False):
        row = {"ranking": ranking, "dataset": dataset, "searched_for": target, "setting": setting, "runs": len(group),
               "seeds": ",".join(str(s) for s in group["seed"])}
        for ds in ("test_accuracy", *DATASETS):
            row[f"{ds}_mean"] = group[ds].mean()
            row[f"{ds}_std"] = group[ds].std(ddof=1)
        row["search_s_mean"] = group["search_s"].mean()
        rows.append(row)
    return pd.DataFrame.from_records(rows)


def flatten(settings: dict, prefix: str) -> dict:
    """Nested settings as ``{prefix + "a.b": value}``."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def study_runs(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        result = json.loads(path.read_text())
        row = {"job": path.parent.name, "setting": setting_of(path.parent), "seed": result["seed"], "num_archs": result["num_archs"], "repeats": result["study"]["repeats"]}
        for proxy, protocol in result["proxy"].items():
            row.update(flatten(protocol, f"{proxy}."))
        for score, per_dataset in result["correlations"].items():
            for ds, c in per_dataset.items():
                row[f"tau_{score}_{ds}"] = c["kendall_tau"]
                row[f"rho_{score}_{ds}"] = c["spearman_rho"]
        row["s_per_arch"] = result["seconds_per_arch"]
        row["device"] = result.get("device")
        rows.append(row)
    return pd.DataFrame.from_records(rows).sort_values(["setting", "seed"], kind="stable").reset_index(drop=True)


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".3f") -> str:
    """A GitHub Markdown table of ``frame`` (pandas' ``to_markdown``, i.e. tabulate): floats through
    ``floatfmt``, NaN as an em dash, pipes inside cells (architecture strings) escaped."""
    escaped = frame.apply(lambda col: col.map(lambda v: v.replace("|", "\\|") if isinstance(v, str) else v))
    return escaped.to_markdown(index=False, tablefmt="github", floatfmt=floatfmt, missingval="—") + "\n"


def mean_std_table(agg: pd.DataFrame) -> pd.DataFrame:
    """The aggregate with 'mean ± std' cells (mean alone for a single run)."""
    out = agg[["ranking", "dataset", "searched_for", "setting", "runs"]].copy()
    for ds in ("test_accuracy", *DATASETS):
        out[ds] = [f"{m:.2f}" if s != s else f"{m:.2f} ± {s:.2f}" for m, s in zip(agg[f"{ds}_mean"], agg[f"{ds}_std"])]
    out["search s"] = agg["search_s_mean"].round(1)
    return out


def summarize(multirun_dir, out_dir=None) -> dict[str, Path]:
    """Write the summary files of ``multirun_dir``; returns their paths by name."""
    multirun_dir = Path(multirun_dir)
    out_dir = Path(out_dir) if out_dir else multirun_dir
    if not multirun_dir.is_dir():
        raise SystemExit(f"error: {multirun_dir} is not a folder")
    searches = sorted(multirun_dir.glob("*/genotype.json"))
    studies = sorted(multirun_dir.glob("*/correlations.json"))
    if not searches and not studies:
        raise SystemExit(f"error: no */genotype.json or */correlations.json under {multirun_dir} (is it a multirun folder?)")
    written, sections = {}, [f"# Summary of {multirun_dir}\n"]
    if searches:
        runs = search_runs(searches)
        agg = aggregate_searches(runs)
        written["summary_runs.csv"] = atomic_write_csv(out_dir / "summary_runs.csv", runs)
        written["summary.csv"] = atomic_write_csv(out_dir / "summary.csv", agg)
        sections += [
            "## Searches: NAS-Bench-201 test accuracy (%) of the found architecture, mean ± std (ddof=1) over seeds\n",
            markdown_table(mean_std_table(agg), ".1f"),
            "\n## Runs\n",
            markdown_table(runs, ".2f"),
        ]
    if studies:
        table = study_runs(studies)
        name = "summary_studies.csv" if searches else "summary.csv"
        written[name] = atomic_write_csv(out_dir / name, table)
        shown = table.drop(columns=["setting"])
        sections += [
            "\n## Correlation studies: Kendall τ per score and dataset\n",
            markdown_table(shown[[c for c in shown.columns if not c.startswith("rho_")]]),
            "\n## Spearman ρ\n",
            markdown_table(shown[["job"] + [c for c in shown.columns if c.startswith("rho_")]]),
        ]
    written["summary.md"] = atomic_write_text(out_dir / "summary.md", "\n".join(sections))
    return written


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multirun_dir", help="a Hydra multirun folder (results/multirun/<time>)")
    parser.add_argument("--out", default=None, help="folder for the summary files (default: the multirun folder)")
    args = parser.parse_args(argv)
    written = summarize(args.multirun_dir, args.out)
    print((Path(written["summary.md"])).read_text())
    print("written: " + ", ".join(str(p) for p in written.values()), file=sys.stderr)


if __name__ == "__main__":
    main()
