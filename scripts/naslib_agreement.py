"""Agreement of our proxies with NASLib's published zero-cost scores (NAS-Bench-Suite-Zero, NAS-Bench-201).

    python scripts/naslib_agreement.py --proxies synflow,snip --num-archs 60 [--dataset cifar10] [--out scores.csv]

For every requested proxy that is registered here and scored in the JSON file, the
file's architectures (the first ``--num-archs`` in file order) are scored with the
proxy's own study protocol (``conf/proxy/<name>.yaml`` through
:class:`tenas.scoring.ScoringRecipe`): the architecture's standalone network
``NB201Network(C, N, num_classes, candidate_ops=[[op] for op in ops], stem=...)``,
weights drawn by ``tenas.init.initialise(net, recipe.settings["init"], generator)`` and
inputs by ``recipe.draw(...)``, from a ``torch.Generator`` seeded with ``--seed`` plus
the architecture's position in the file (so a score does not depend on ``--num-archs``).
Architectures whose op tuple makes the cell output always zero get NaN from some proxies
(synflow, jacov); NASLib wrote 0 or -1e8 there. The correlations use the architectures
where both scores are finite.

Printed per proxy: n (architectures where both scores are finite), Spearman ρ of ours
vs NASLib's score, ours vs ``val_accuracy``, NASLib's vs ``val_accuracy`` (same n), and
our seconds per architecture (the proxy call only). With ``--out FILE.csv`` each
architecture's scores are appended as soon as they are computed and architectures
already in the file (same dataset and seed) are skipped, so a long run (all ~725) can be stopped and resumed.

The file's op tuples list the edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4) with ops numbered
skip_connect=0, none=1, nor_conv_3x3=2, nor_conv_1x1=3, avg_pool_3x3=4 (see
``../shared/data/README.md``). NASLib scored CIFAR-100 and ImageNet16-120 on their own
images; only CIFAR-10 images are at hand, so other ``--dataset`` values score CIFAR-10
images with that dataset's number of classes (an approximation; flops differ for
ImageNet16-120's 16x16 inputs).
"""
from __future__ import annotations

import argparse
import ast
import csv
import math
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

#: NASLib's op numbering in the file's tuples
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
FIELDS = ["proxy", "dataset", "seed", "key", "arch", "ours", "naslib", "val_accuracy", "seconds"]


def arch_of(key) -> str:
    """Our NAS-Bench-201 string of a file tuple (or its string form ``"(a, b, c, d, e, f)"``)."""
    t = ast.literal_eval(key) if isinstance(key, str) else tuple(key)
    if len(t) != 6:
        raise ValueError(f"expected six op indices, got {key!r}")
    o = [NASLIB_OPS[i] for i in t]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[3]}~1|+|{o[2]}~0|{o[4]}~1|{o[5]}~2|"


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3:
        return math.nan
    return float(spearmanr(a, b)[0])


def read_done(path: Path, dataset: str, seed: int) -> dict[tuple[str, str], dict]:
    """Rows already in ``path`` for this dataset and seed, by (proxy, key)."""
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != FIELDS:
            raise SystemExit(f"{path}: columns {reader.fieldnames} are not {FIELDS}; write to a new file")
        return {(row["proxy"], row["key"]): row for row in reader if row["dataset"] == dataset and int(row["seed"]) == seed}


def score_one(recipe, arch: str, num_classes: int, dataset, seed: int) -> tuple[float, float]:
    from search_spaces.nasbench201 import NB201Network, parse_arch
    from tenas.init import initialise

    net_opts = {"C": 16, "N": 5, "stem": True, **recipe.network_options()}
    net = NB201Network(net_opts["C"], net_opts["N"], num_classes, candidate_ops=[[op] for op in parse_arch(arch)], stem=net_opts["stem"])
    generator = torch.Generator().manual_seed(seed)
    initialise(net, recipe.settings["init"], generator)
    inputs, targets = recipe.draw(net, dataset, generator)
    start = time.perf_counter()
    value = recipe.score(net, inputs, targets)
    return value, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxies", required=True, help="comma-separated proxy names (registered here and present in the JSON)")
    parser.add_argument("--num-archs", type=int, default=None, help="score the first N architectures of the file (default: all)")
    parser.add_argument("--dataset", default="cifar10", choices=sorted(NUM_CLASSES))
    parser.add_argument("--data", default=str(REPO.parent / "shared/data/cifar10/cifar10_train_first4000.npz"))
    parser.add_argument("--json", default=str(REPO.parent / "shared/data/naslib/zc_nasbench201.json"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="CSV of per-architecture scores (appended; resumes)")
    args = parser.parse_args(argv)

    import json

    from tenas.data import load_npz
    from tenas.proxies import list_proxies
    from tenas.scoring import ScoringRecipe

    torch.set_num_threads(args.threads)
    with open(args.json) as f:
        table = json.load(f)[args.dataset]
    keys = list(table)[: args.num_archs] if args.num_archs else list(table)
    positions = {k: i for i, k in enumerate(table)}
    names = [p.strip() for p in args.proxies.split(",") if p.strip()]
    for name in names:
        if name not in list_proxies():
            parser.error(f"proxy {name!r} is not registered; known: {list_proxies()}")
        if not any(name in table[k] for k in keys):
            parser.error(f"proxy {name!r} has no scores in {args.json} [{args.dataset}]")
    if args.dataset != "cifar10":
        print(f"note: scoring CIFAR-10 images with {NUM_CLASSES[args.dataset]} classes (NASLib used {args.dataset} images)", file=sys.stderr)
    dataset = load_npz(args.data)
    num_classes = NUM_CLASSES[args.dataset]

    out = Path(args.out) if args.out else None
    done = read_done(out, args.dataset, args.seed) if out else {}
    writer_file = None
    if out:
        new = not out.is_file() or out.stat().st_size == 0
        out.parent.mkdir(parents=True, exist_ok=True)
        writer_file = out.open("a", newline="")
        writer = csv.DictWriter(writer_file, fieldnames=FIELDS)
        if new:
            writer.writeheader()
            writer_file.flush()

    print(f"{'proxy':<12} {'n':>4} {'rho(ours,naslib)':>17} {'rho(ours,acc)':>14} {'rho(naslib,acc)':>16} {'s/arch':>8}")
    try:
        for name in names:
            recipe = ScoringRecipe.load(name)
            rows = []
            for key in keys:
                record = table[key]
                if name not in record:
                    continue
                if (name, key) in done:
                    row = done[(name, key)]
                else:
                    arch = arch_of(key)
                    value, seconds = score_one(recipe, arch, num_classes, dataset, args.seed + positions[key])
                    row = {"proxy": name, "dataset": args.dataset, "seed": args.seed, "key": key, "arch": arch, "ours": value, "naslib": record[name]["score"],
                           "val_accuracy": record["val_accuracy"], "seconds": seconds}
                    if writer_file:
                        writer.writerow(row)
                        writer_file.flush()
                rows.append({k: float(row[k]) for k in ("ours", "naslib", "val_accuracy", "seconds")})
            ok = [r for r in rows if math.isfinite(r["ours"]) and math.isfinite(r["naslib"])]
            ours = [r["ours"] for r in ok]
            theirs = [r["naslib"] for r in ok]
            acc = [r["val_accuracy"] for r in ok]
            secs = float(np.mean([r["seconds"] for r in rows])) if rows else math.nan
            print(f"{name:<12} {len(ok):>4} {spearman(ours, theirs):>17.4f} {spearman(ours, acc):>14.4f} {spearman(theirs, acc):>16.4f} {secs:>8.3f}", flush=True)
    finally:
        if writer_file:
            writer_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
