"""Which #LR protocol ranks NAS-Bench-201 best? Score one seeded sample under a grid of protocols.

Every variant is a set of changes to ``conf/proxy/linear_regions.yaml`` (the same keys as
``+proxy.linear_regions.<key>=value`` on the study's command line) and is scored through
``tenas.evaluate``'s own machinery (``study_recipes`` -> ``tenas.arch_scorer.build_plan`` ->
``score_architecture``), on the same seeded sample of architectures (``sample_architectures``
with ``--seed``) and the same seeded inputs and weights as ``python -m tenas.evaluate`` would
use, so a row here equals the study's number for that protocol.

Prints, per variant, Kendall τ and Spearman ρ with CIFAR-10 / CIFAR-100 / ImageNet16-120 test
accuracy, the mean score, how many samples were drawn and how many architectures hit the sample
count (saturation), and seconds per architecture; appends the rows to ``--out`` (CSV) as it goes.

    .venv/bin/python scripts/lr_protocols.py --num-archs 150 --variants te_nas,C3_stem,...
    .venv/bin/python scripts/lr_protocols.py --list
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from tenas.benchmark import DATASETS, load_benchmark  # noqa: E402
from tenas.data import build_dataset  # noqa: E402
from tenas.evaluate import sample_architectures  # noqa: E402
from tenas.study.settings import study_recipes  # noqa: E402
from tenas.study.correlation import rank_correlations  # noqa: E402
from search_spaces import get_space  # noqa: E402
from tenas.arch_scorer import build_plan, score_architecture  # noqa: E402

CELLS_ONLY = r"^cells\.\d+\.edges\."  # the ReLUs of the cells' conv ops (not reductions, not the final BN-ReLU)
NO_LAST = r"^cells\."  # cells and reduction blocks, not the final BN-ReLU
CELLS_AND_LAST = r"^(cells\.\d+\.edges\.|lastact\.)"  # the cells' and the final BN-ReLU, not the reductions'

# TE-NAS reference protocol (today's conf/proxy/linear_regions.yaml before this study)
TE_NAS = {"network": {"C": 1, "N": None, "stem": False}, "init": "kaiming",
          "inputs": {"kind": "crops", "crop_size": 3, "batch_size": 1000, "num_batches": 3}, "options": {}}


def _v(network=None, init=None, inputs=None, options=None):
    """A variant: TE-NAS's protocol with these sections changed key by key."""
    out = {}
    for key, value in (("network", network), ("init", init), ("inputs", inputs), ("options", options)):
        if value is not None:
            out[key] = value
    return out


def crops(size, batch, num=1):
    return {"kind": "crops", "crop_size": size, "batch_size": batch, "num_batches": num}


def images(batch, num=1):
    return {"kind": "images", "crop_size": None, "batch_size": batch, "num_batches": num}


VARIANTS = {
    # --- today's protocol and one-factor changes from it
    "te_nas": _v(),
    "te_nas_eval": _v(options={"train": False}),
    "te_nas_default_init": _v(init="default"),
    "te_nas_cells_relus": _v(options={"relus": CELLS_ONLY}),
    "te_nas_no_last_relu": _v(options={"relus": NO_LAST}),
    "te_nas_1x3000": _v(inputs=crops(3, 3000, 1)),
    "te_nas_3x300": _v(inputs=crops(3, 300, 3)),
    "te_nas_10x1000": _v(inputs=crops(3, 1000, 10)),
    "N2": _v(network={"N": 2}),
    "N5": _v(network={"N": 5}),
    "C3": _v(network={"C": 3}),  # 3 colour channels per crop, no stem
    "C1_stem": _v(network={"stem": True}),
    "C3_stem": _v(network={"C": 3, "stem": True}),
    "C8_stem": _v(network={"C": 8, "stem": True}),
    "C16_stem": _v(network={"C": 16, "stem": True}),
    "crop4": _v(inputs=crops(4, 1000, 3)),
    "crop8": _v(inputs=crops(8, 1000, 3)),
    "crop32": _v(inputs=crops(32, 1000, 3)),
    "crop8_3x100": _v(inputs=crops(8, 100, 3)),
    "crop32_3x100": _v(inputs=crops(32, 100, 3)),
    "images_C1_stem_1000": _v(network={"stem": True}, inputs=images(1000)),
    "images_C1_stem_3x100": _v(network={"stem": True}, inputs=images(100, 3)),
    # --- combinations (refinement)
    "C3_eval": _v(network={"C": 3}, options={"train": False}),
    "C3_cells_relus": _v(network={"C": 3}, options={"relus": CELLS_ONLY}),
    "N2_eval": _v(network={"N": 2}, options={"train": False}),
    "N5_eval": _v(network={"N": 5}, options={"train": False}),
    "N5_1x3000": _v(network={"N": 5}, inputs=crops(3, 3000, 1)),
    "C3_N5": _v(network={"C": 3, "N": 5}),
    "C3_N2": _v(network={"C": 3, "N": 2}),
    "C3_default_init": _v(network={"C": 3}, init="default"),
    "C3_stem_eval": _v(network={"C": 3, "stem": True}, options={"train": False}),
    "cells_relus_1x3000": _v(inputs=crops(3, 3000, 1), options={"relus": CELLS_ONLY}),
    "cells_relus_10x1000": _v(inputs=crops(3, 1000, 10), options={"relus": CELLS_ONLY}),
    "cells_relus_default_init": _v(init="default", options={"relus": CELLS_ONLY}),
    "cells_relus_eval": _v(options={"relus": CELLS_ONLY, "train": False}),
    "cells_and_last_relus": _v(options={"relus": CELLS_AND_LAST}),
    "N2_cells_relus": _v(network={"N": 2}, options={"relus": CELLS_ONLY}),
    "N3_cells_relus": _v(network={"N": 3}, options={"relus": CELLS_ONLY}),
    "N5_cells_relus": _v(network={"N": 5}, options={"relus": CELLS_ONLY}),
    "N5_10x1000": _v(network={"N": 5}, inputs=crops(3, 1000, 10)),
    "N5_cells_relus_10x1000": _v(network={"N": 5}, inputs=crops(3, 1000, 10), options={"relus": CELLS_ONLY}),
    "C16_stem_cells_relus": _v(network={"C": 16, "stem": True}, options={"relus": CELLS_ONLY}),
    "C8_stem_N5": _v(network={"C": 8, "N": 5, "stem": True}),
    "crop4_cells_relus": _v(inputs=crops(4, 1000, 3), options={"relus": CELLS_ONLY}),
}


def compose_cfg(data: Path, bench: Path, seed: int, num_archs: int, variant: dict):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "dataset=npz", f"dataset.path={data}", f"benchmark.path={bench}", f"seed={seed}",
            f"study.num_archs={num_archs}", "study.proxies=[linear_regions]", "study.repeats=1",
        ])
    OmegaConf.set_struct(cfg, False)
    # the variant replaces the file's protocol entirely (TE-NAS's base + its changes), so the grid
    # does not depend on which protocol conf/proxy/linear_regions.yaml holds today
    cfg.proxy = OmegaConf.create({"linear_regions": OmegaConf.merge(OmegaConf.create(TE_NAS), OmegaConf.create(variant))})
    return cfg


def run_variant(name, variant, args, bench, sample, dataset):
    cfg = compose_cfg(args.data, args.benchmark, args.seed, len(sample), variant)
    recipes = study_recipes(cfg)
    plan = build_plan(int(cfg.seed), 1, recipes, get_space("nasbench201"), dataset, "cpu")
    scores, seconds = [], []
    for _, arch in sample:
        row = score_architecture(plan, arch)
        scores.append(row["linear_regions"])
        seconds.append(row["seconds"])
    scores = np.asarray(scores)
    spec = recipes[0].settings["inputs"]
    samples = int(spec["batch_size"]) * int(spec["num_batches"])
    out = {"variant": name, "n": len(sample), "protocol": OmegaConf.to_yaml(OmegaConf.create(recipes[0].settings)).replace("\n", "; ").strip("; "),
           "samples": samples, "mean_lr": float(np.mean(scores)), "saturated": int((scores >= samples).sum()),
           "s_per_arch": float(np.mean(seconds))}
    for ds in DATASETS:
        acc = [bench.test_accuracy(a)[ds] for _, a in sample]
        c = rank_correlations(scores, acc)
        out[f"tau_{ds}"], out[f"rho_{ds}"] = c["kendall_tau"], c["spearman_rho"]
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--num-archs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default="all", help="comma-separated names (see --list) or 'all'")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cifar10/cifar10_train_first4000.npz")
    parser.add_argument("--benchmark", type=Path, default=ROOT.parent / "shared/data/nb201/nb201_hp200_test_acc.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "results/lr_protocols.csv")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--list", action="store_true", help="print the variants and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, v in VARIANTS.items():
            print(f"{name:>24}  {v}")
        return
    names = list(VARIANTS) if args.variants == "all" else [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; see --list")
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", "model has no nn.ReLU", RuntimeWarning)  # disconnected archs: one region
    bench = load_benchmark(args.benchmark)
    sample = sample_architectures(bench.archs(), args.num_archs, args.seed)
    dataset = build_dataset(compose_cfg(args.data, args.benchmark, args.seed, args.num_archs, {}).dataset)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    new = not args.out.exists()
    header = ["variant", "n", *[f"{m}_{ds}" for ds in DATASETS for m in ("tau", "rho")], "s_per_arch", "samples", "saturated", "mean_lr", "protocol"]
    print(f"{'variant':>24} {'n':>4}  " + "  ".join(f"{ds[:8]:>8} τ/ρ    " for ds in DATASETS) + "  s/arch  sat  mean#LR")
    with open(args.out, "a", newline="") as fh:
        writer = csv.DictWriter(fh, header)
        if new:
            writer.writeheader()
        for name in names:
            t0 = time.perf_counter()
            try:
                r = run_variant(name, VARIANTS[name], args, bench, sample, dataset)
            except Exception as err:  # e.g. a crop too small for the network's two stride-2 reductions
                print(f"{name:>24}  failed: {type(err).__name__}: {str(err).splitlines()[0]}", flush=True)
                continue
            writer.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})
            fh.flush()
            cells = "  ".join(f"{r[f'tau_{ds}']:+.3f}/{r[f'rho_{ds}']:+.3f}" for ds in DATASETS)
            print(f"{name:>24} {r['n']:>4}  {cells}  {r['s_per_arch']:6.3f}  {r['saturated']:>3}  {r['mean_lr']:.0f}"
                  f"   ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
