"""The parameters and FLOPs of every NAS-Bench-201 architecture's benchmark network (C=16, N=5) for one
benchmark dataset, measured as a search under ``search.limits`` measures them (tenas.costs.CostModel).

    python scripts/cost_table.py cifar10 results/tables/nb201-cifar10-costs.csv.gz

Columns: ``arch``, ``params`` (M), ``flops`` (M multiply-adds of one input)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm

from search_spaces import get_space
from tenas.costs import CostModel
from tenas.data import BENCHMARK_DATASETS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", help=" | ".join(BENCHMARK_DATASETS))
    ap.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    if args.dataset not in BENCHMARK_DATASETS:
        print(f"error: dataset: {args.dataset!r}; allowed: {' | '.join(BENCHMARK_DATASETS)}", file=sys.stderr)
        return 1
    if not args.out.parent.is_dir():
        print(f"error: out: no folder {args.out.parent}", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    spec = BENCHMARK_DATASETS[args.dataset]
    space = get_space("nasbench201")
    model = CostModel(space, spec["classes"], (3, spec["size"], spec["size"]))
    t0 = time.perf_counter()
    rows = [{"arch": arch, **model(space.alive_set_for(arch), ["params", "flops"])} for arch in tqdm(space.all_archs(), mininterval=30)]
    pd.DataFrame.from_records(rows).to_csv(args.out, index=False, float_format="%.6g")
    print(f"{len(rows)} architectures in {time.perf_counter() - t0:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
