"""``strategy=sample`` (NASWOT / AZ-NAS protocol): draw ``num_samples`` distinct random architectures,
score them all, return the one of highest merit.

The architectures come from one generator seeded by ``seed`` (a stream apart from the scoring's), so the
sample of a smaller ``num_samples`` is the start of a larger one's; a rerun in the same folder scores only
what its ``checkpoint.jsonl`` lacks, and a larger ``num_samples`` extends a smaller one."""
from __future__ import annotations

import logging

import pandas as pd
import torch

from tenas.schema import Setting
from tenas.strategies._registry import StrategyResult, StrategyRun, register_strategy
from tenas.strategies._common import CHUNK_SIZE, architecture_fields, choose, draw_distinct, merits, stored_scores

log = logging.getLogger("tenas.strategies")


@register_strategy("sample", settings=(Setting("num_samples", "int", 1, default=1000, hint="distinct architectures scored", identity=False), CHUNK_SIZE), table=True)
def sample(run: StrategyRun, settings: dict) -> StrategyResult:
    """Score ``settings["num_samples"]`` distinct random architectures (``chunk_size`` at a time, each
    appended to the checkpoint) and return the highest-merit one (the first drawn on ties) and the table
    of all (``index`` in draw order, ``arch``, each proxy's score, ``merit``, ``chosen``), or with cost
    objectives the front's chosen point (:func:`tenas.strategies._common.choose`). Only architectures
    within ``search.limits`` are drawn."""
    n = settings["num_samples"]
    scorer, checkpoint, chunk = run.start(settings)
    archs = draw_distinct(run.space, n, torch.Generator().manual_seed(int(run.seed)), run.feasible)
    scores: list[dict | None] = [stored_scores(checkpoint, i, text, scorer.names) for i, (text, _) in enumerate(archs)]
    todo = [i for i, s in enumerate(scores) if s is None]
    log.info("sample: %d architectures (%d already scored), %d repeat(s)", len(archs), len(archs) - len(todo), scorer.repeats)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        for i, s in zip(part, scorer([archs[i][1] for i in part])):
            scores[i] = s
        checkpoint.extend([{"index": i, "arch": archs[i][0], **scores[i]} for i in part])
        if run.progress:
            run.progress(f"sample: {len(archs) - len(todo) + start + len(part)}/{len(archs)} architectures scored")
    frame = pd.DataFrame.from_records([{"index": i, "arch": text, **scores[i]} for i, (text, _) in enumerate(archs)])
    frame["merit"] = merits(run.ranking, scores)
    best = choose(run, frame, [alive for _, alive in archs])
    return StrategyResult(archs[best][1], frame, architecture_fields("sample", settings, frame, run.ranking))
