"""``python -m tenas.evaluate``: how well training-free scores rank NAS-Bench-201 architectures.

A study samples ``study.num_archs`` architectures of the benchmark (without
replacement, seeded), scores the standalone network of each with every proxy
of ``study.proxies`` (mean over ``study.repeats`` repeats), each under its own
protocol (``conf/proxy/<name>.yaml``: network, initialisation, inputs, options;
changed per run with ``+proxy.<name>.<key>=value``), and reports Kendall τ and
Spearman ρ of each score against the benchmark's test accuracy on CIFAR-10,
CIFAR-100 and ImageNet16-120. With ``ranking=NAME`` (``conf/ranking/``) its
proxies are scored too, and their combination (``tenas.ranking``; higher =
better) is the score ``ranking``.

Architectures are scored by :mod:`tenas.arch_scorer`, as ``strategy=sample`` and
``strategy=evolve`` score them: repeat ``r`` of a proxy uses the same inputs for every
architecture (drawn up front from one generator seeded by ``seed``, proxy by proxy in
study order); the weights of architecture ``i`` (its NAS-Bench-201 index) in repeat ``r``
are drawn by the proxy's initialisation from a generator seeded by ``(seed, i, r)``. A
score therefore depends on the seed, the architecture and the settings only, not on the
sample size, the order of scoring, the worker or an interruption.

Outputs in the run folder: ``config.yaml`` (resolved), ``checkpoint.jsonl``
(one finished architecture per line, appended as scoring goes; a rerun of the
same command resumes from it), ``scores.csv`` (per architecture: benchmark
index, architecture, test accuracies, scores, seconds and device of the scoring), ``correlations.csv`` and
``correlations.json`` (τ and ρ per score and dataset, timing), and
``scatter_<score>.png``. Rerunning in the same folder with another
``study.num_archs`` reuses every architecture already scored.

Shards (a study on several machines): with ``study.num_shards=n study.shard=i`` a run
scores only the sample positions ``i, i+n, i+2n, ...`` (strided, so the slices are
balanced and a shard's slice of a larger ``study.num_archs`` starts with its slice of a
smaller one) into its own folder, with the same outputs for its slice; its ``study.json``
names the shard, so one folder never mixes shards. The shards run as a Hydra multirun
(``-m study.shard=0,1,...`` on any launcher). ``study.merge=true`` (same settings,
``hydra.sweep.dir=<the sweep>``) then finds the shard folders under that sweep by their
``study.json``, checks that every shard is there and complete, and writes into its own run
folder (``hydra.run.dir``, by default the unsharded study's folder) exactly what the
unsharded study writes there: ``checkpoint.jsonl`` (the shards' rows in sample order),
``study.json``, ``scores.csv``, the correlations and the plots. The merged folder is an
unsharded study's folder: running the unsharded command in it resumes with nothing left to
score. Merging reads the shards and never writes to them.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from tenas.benchmark import DATASETS
from tenas.data import benchmark_dataset_name
from tenas.cli import main_or_exit, run_or_exit
from tenas.errors import TenasError
from tenas.io import atomic_write_csv, atomic_write_json
from tenas.ranking import Ranking
from tenas.study.settings import PreparedStudy, prepare_study
from tenas.run_folder import RunFolder
from tenas.study.correlation import rank_correlations
from tenas.study.plots import save_scatter
from tenas.study.scoring import score_all
from tenas.study.shards import find_shards, shard_settings, shard_slice

log = logging.getLogger("tenas.evaluate")

RANKING = "ranking"


def sample_architectures(archs: list[str], num_archs: int, seed: int) -> list[tuple[int, str]]:
    """``num_archs`` distinct ``(benchmark index, arch)`` pairs in a seeded random order (all if ``num_archs`` >= size).

    The order is one seeded permutation of the benchmark, so the sample of a smaller
    ``num_archs`` is the start of the sample of a larger one.
    """
    if num_archs < 1:
        raise TenasError(f"study.num_archs must be at least 1, got {num_archs}")
    order = np.random.default_rng(seed).permutation(len(archs))[: min(num_archs, len(archs))]
    return [(int(i), archs[i]) for i in order]


def study_identity(cfg: DictConfig, recipes) -> dict:
    """The settings a study's scores depend on (``recipes``: its proxies' protocols, :func:`tenas.study.settings.study_recipes`):
    not the device, workers, threads or chunking, and
    not ``study.num_archs`` (a score does not depend on the sample size, and a larger sample
    starts with the smaller one, so a study can be grown or cut in its folder). A shard's
    identity names the shard (``shard``: index and num_shards); the unsharded study's has no
    ``shard`` (nor has a merge's: its folder is the unsharded study's)."""
    identity = {
        "seed": int(cfg.seed),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
        "benchmark": str(cfg.benchmark.path),
        "benchmark_dataset": benchmark_dataset_name(cfg.benchmark.get("dataset"), cfg.dataset.name),
        "study": {"proxies": [recipe.name for recipe in recipes], "repeats": int(cfg.study.repeats)},
        "proxy": {recipe.name: recipe.settings for recipe in recipes},
    }
    shard, num_shards, merge = shard_settings(cfg)
    if num_shards > 1 and not merge:
        identity["shard"] = {"index": shard, "num_shards": num_shards}
    return identity


def claim_folder(cfg: DictConfig, out_dir: Path, identity: dict) -> RunFolder:
    """The study's run folder, claimed for ``identity`` (a folder of other settings refused), with its ``config.yaml``."""
    folder = RunFolder(out_dir, "study")
    resolved = OmegaConf.to_container(cfg, resolve=True)
    resolved["proxy"] = identity["proxy"]
    folder.claim(identity, OmegaConf.to_yaml(OmegaConf.create(resolved)))
    return folder


def run_study(cfg: DictConfig, out_dir: Path, shards_dir: Path | None = None) -> dict:
    """Run (or resume) one correlation study in ``out_dir``; returns the contents of correlations.json.

    With ``study.num_shards`` > 1 it scores shard ``study.shard`` of the sample only; with
    ``study.merge=true`` it scores nothing and merges the shard folders found under
    ``shards_dir`` (the sweep of the shards) into the unsharded study in ``out_dir``.
    """
    study = prepare_study(cfg)  # every setting, file and name, before any work or output
    out_dir = Path(out_dir)
    shard, num_shards, merge = shard_settings(cfg)
    if merge:
        return merge_shards(cfg, study, out_dir, shards_dir)
    workers = max(1, int(cfg.compute.workers))
    # default: this process's thread budget (torch's, which follows OMP_NUM_THREADS, e.g. as a
    # joblib sweep job) shared among the workers
    threads = int(cfg.compute.threads or max(1, torch.get_num_threads() // workers))
    if workers == 1:
        torch.set_num_threads(threads)
    bench, ranking, recipes, plan = study.bench, study.ranking, study.recipes, study.plan
    sample = sample_architectures(bench.archs(), int(cfg.study.num_archs), int(cfg.seed))
    if num_shards > len(sample):
        raise TenasError(f"study.num_shards: got {num_shards}; allowed: at most the {len(sample)} architectures of the sample")
    sample = shard_slice(sample, shard, num_shards)
    identity = study_identity(cfg, recipes)
    checkpoint = claim_folder(cfg, out_dir, identity).checkpoint()
    todo = [(i, a) for i, a in sample if i not in checkpoint.rows]
    log.info(
        "study%s: %d architectures (%d done), proxies %s, %d repeat(s), device %s, %d worker(s) x %d thread(s)",
        f" shard {shard} of {num_shards}" if num_shards > 1 else "",
        len(sample), len(sample) - len(todo), ",".join(plan.proxies), plan.repeats, plan.device, workers, threads,
    )
    t0 = time.perf_counter()
    score_all(plan, todo, checkpoint, workers, threads, len(sample))
    elapsed = time.perf_counter() - t0
    rows = [checkpoint.rows[i] for i, _ in sample]
    return finish_study(out_dir, rows, bench, identity, list(plan.proxies), ranking,
                        {"scoring_wall_time_s": round(elapsed, 2), "workers": workers, "threads": threads})


def finish_study(out_dir: Path, rows: list[dict], bench, identity: dict, proxies: list[str], ranking: Ranking | None,
                 run_info: dict) -> dict:
    """Write a study's results from its checkpoint ``rows`` (in sample order): ``scores.csv``,
    ``correlations.csv``, ``correlations.json`` (``identity``, the correlations, ``run_info``)
    and the scatter plots; returns the contents of correlations.json."""
    frame = pd.DataFrame.from_records(rows)
    accuracies = pd.DataFrame.from_records([bench.test_accuracy(a) for a in frame["arch"]])
    frame = pd.concat([frame[["index", "arch"]], accuracies, frame.drop(columns=["index", "arch"])], axis=1)
    score_names = list(proxies)
    if ranking is not None:
        frame[RANKING] = ranking.combined_score({p: frame[p].to_numpy() for p in ranking.proxies})
        score_names.append(RANKING)
    atomic_write_csv(out_dir / "scores.csv", frame)

    table = pd.DataFrame.from_records(
        [{"score": s, "dataset": ds, **rank_correlations(frame[s], frame[ds])} for s in score_names for ds in DATASETS]
    )
    atomic_write_csv(out_dir / "correlations.csv", table)
    for name in score_names:
        save_scatter(frame, name, table[table.score == name], out_dir / f"scatter_{name}.png")
    result = {
        **identity,
        "num_archs": len(frame),
        "correlations": {s: {ds: rank_correlations(frame[s], frame[ds]) for ds in DATASETS} for s in score_names},
        "seconds_per_arch": float(frame["seconds"].mean()),
        "seconds_per_arch_by_proxy": {c[len("seconds_"):]: float(frame[c].mean()) for c in frame.columns if c.startswith("seconds_")},
        "device": ",".join(sorted(frame["device"].astype(str).unique())),  # where the rows were scored
        **run_info,
    }
    atomic_write_json(out_dir / "correlations.json", result)
    return result


def merge_shards(cfg: DictConfig, study: PreparedStudy, out_dir: Path, shards_dir: Path | None) -> dict:
    """Merge the ``study.num_shards`` shard folders under ``shards_dir`` into the unsharded study in ``out_dir``."""
    _, num_shards, _ = shard_settings(cfg)
    bench, ranking, recipes = study.bench, study.ranking, study.recipes
    sample = sample_architectures(bench.archs(), int(cfg.study.num_archs), int(cfg.seed))
    identity = study_identity(cfg, recipes)  # the unsharded study's
    folders = find_shards(shards_dir, identity, num_shards)
    rows: dict[int, dict] = {}
    wall_times = []
    for shard, folder in enumerate(folders):
        part = shard_slice(sample, shard, num_shards)
        stored = RunFolder(folder, "study").checkpoint(read_only=True).rows
        missing = [i for i, _ in part if i not in stored]
        if missing:
            raise TenasError(f"shard {shard} of {num_shards} ({folder}) is incomplete: {len(part) - len(missing)} of its "
                             f"{len(part)} architectures scored; rerun its job (same command) to finish it")
        rows.update((i, stored[i]) for i, _ in part)
        try:
            wall_times.append(json.loads((folder / "correlations.json").read_text()).get("scoring_wall_time_s"))
        except (OSError, json.JSONDecodeError):
            wall_times.append(None)
    checkpoint = claim_folder(cfg, out_dir, identity).checkpoint()
    checkpoint.extend([rows[i] for i, _ in sample if i not in checkpoint.rows])
    log.info("merged %d shards of %s: %d architectures, into %s", num_shards, shards_dir, len(sample), out_dir)
    return finish_study(out_dir, [checkpoint.rows[i] for i, _ in sample], bench, identity, [recipe.name for recipe in recipes], ranking, {
        "scoring_wall_time_s": 0.0,  # this run scored nothing
        "merged_from": [str(f) for f in folders],
        "shard_scoring_wall_time_s": wall_times,
    })


def report(result: dict) -> str:
    lines = [f"{result['num_archs']} architectures, {result['seconds_per_arch']:.2f} s/arch"]
    for score, per_ds in result["correlations"].items():
        cells = "  ".join(f"{ds}: τ={c['kendall_tau']:+.3f} ρ={c['spearman_rho']:+.3f}" for ds, c in per_ds.items())
        lines.append(f"  {score:>15}  {cells}")
    return "\n".join(lines)


def _run_in_hydra(cfg: DictConfig, out_dir: Path) -> dict:
    """``run_study``; a merge reads the shards of ``hydra.sweep.dir``."""
    from hydra.core.hydra_config import HydraConfig

    shards_dir = Path(HydraConfig.get().sweep.dir) if cfg.study.get("merge") else None
    return run_study(cfg, out_dir, shards_dir=shards_dir)


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> float | None:
    result, out_dir = run_or_exit(_run_in_hydra, cfg)
    print(report(result))
    print(f"outputs: {out_dir}")
    first = result["correlations"][next(iter(result["correlations"]))]
    return first["cifar10"]["kendall_tau"]


if __name__ == "__main__":
    main_or_exit(main, "evaluate")
