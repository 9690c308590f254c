"""Scoring a study's sampled architectures, in one or several processes, each finished row appended to the
study's checkpoint (the scoring itself is :mod:`tenas.arch_scorer`'s, the search's too)."""
from __future__ import annotations

import sys

from tenas.arch_scorer import ArchitectureScorer, ScoringPlan
from tenas.run_folder import Checkpoint


def score_all(plan: ScoringPlan, todo, checkpoint: Checkpoint, workers: int, threads: int, total: int) -> None:
    """Score the ``(index, arch)`` pairs of ``todo`` in ``workers`` processes of ``threads`` torch threads each
    (``compute.workers``, ``compute.threads``; one: in this process), appending each finished row to ``checkpoint`` under the architecture's benchmark index."""
    from tqdm import tqdm

    index_of = {arch: index for index, arch in todo}
    bar = tqdm(total=total, initial=total - len(todo), unit="arch", desc="scoring", dynamic_ncols=True, file=sys.stderr)
    try:
        with ArchitectureScorer(plan, workers, threads) as scorer:
            for row in scorer.stream(arch for _, arch in todo):
                checkpoint.append({"index": index_of[row["arch"]], **row})
                bar.update()
    finally:
        bar.close()
