"""Seconds per architecture of a ranking's proxies scored together (shared passes) and one at a time.

For each ``--rankings`` entry (``conf/ranking/<name>.yaml``), on the same seeded sample of
NAS-Bench-201 architectures as ``python -m tenas.evaluate`` draws, in one process and one thread:

- **together**: the study's own path (``build_plan`` -> ``score_architecture``): one network per
  protocol group, one initialisation per repeat, the proxies of one draw scored in shared passes;
- **one at a time**: for every proxy its own network, initialisation and passes, on the same draws
  (what a study did before shared passes);
- **plain fwd+bwd**: one train-mode forward and backward (``sum`` of the logits) of the same network
  and the first protocol's inputs (C=16, N=5, 64 noise images for AZ-NAS), the floor of any proxy set
  that needs activations and gradients.

The stages of "together" are timed apart (building the network, initialising it, scoring; the
inputs are drawn once per study and shared by every architecture, so drawing is timed once per
plan). Printed: seconds per architecture of each, and the ratios together / one at a time and
together's scoring / plain fwd+bwd; and the largest relative difference between the two paths' scores.

    .venv/bin/python scripts/bench_scoring.py --rankings az_nas,ensemble --num-archs 20
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from tenas.benchmark import load_benchmark  # noqa: E402
from tenas.data import build_dataset  # noqa: E402
from tenas.evaluate import sample_architectures  # noqa: E402
from tenas.study.settings import study_recipes  # noqa: E402
from tenas.init import initialise  # noqa: E402
from tenas.proxies._common import logits  # noqa: E402
from tenas.ranking import list_rankings  # noqa: E402
from tenas.arch_scorer import build_plan, protocol_groups, score_architecture, weight_seed  # noqa: E402
from search_spaces import get_space  # noqa: E402


def compose_cfg(args, ranking: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("evaluate", overrides=[
            "dataset=npz", f"dataset.path={args.data}", f"benchmark.path={args.benchmark}", f"seed={args.seed}",
            f"study.num_archs={args.num_archs}", f"ranking={ranking}", "study.repeats=1", "study.proxies=[]",
        ])


def one_at_a_time(plan, arch: str) -> dict:
    """Every proxy with its own network, initialisation and passes, on the same draws and weights as the plan."""
    out = {}
    for net_key, inits in protocol_groups(plan.recipes):
        for init, draws in inits:
            for inputs_key, group in draws:
                inputs, targets = plan.inputs[(net_key, inputs_key)][0]
                for recipe in group:
                    net = plan.network(recipe, arch)
                    initialise(net, init, torch.Generator().manual_seed(weight_seed(plan.seed, plan.space.arch_key(arch), 0)))
                    out[recipe.name] = recipe.score(net, inputs, targets)
    return out


def timed_stages(plan, arch: str) -> dict:
    """Seconds of building, initialising and scoring in the study's grouped path, for one architecture."""
    from tenas.proxies import score

    stages = {"build": 0.0, "init": 0.0, "score": 0.0}
    for net_key, inits in protocol_groups(plan.recipes):
        t = time.perf_counter()
        first = next(r for _, draws in inits for _, group in draws for r in group)
        net = plan.network(first, arch)
        stages["build"] += time.perf_counter() - t
        for init, draws in inits:
            t = time.perf_counter()
            initialise(net, init, torch.Generator().manual_seed(weight_seed(plan.seed, plan.space.arch_key(arch), 0)))
            stages["init"] += time.perf_counter() - t
            for inputs_key, group in draws:
                inputs, targets = plan.inputs[(net_key, inputs_key)][0]
                t = time.perf_counter()
                score(net, inputs, [r.name for r in group], targets, {r.name: r.settings["options"] for r in group})
                stages["score"] += time.perf_counter() - t
    return stages


def plain_forward_backward(plan, arch: str) -> float:
    """One train-mode forward and backward of the first shared-pass proxy's network on its draw."""
    for net_key, inits in protocol_groups(plan.recipes):
        for _, draws in inits:
            for inputs_key, group in draws:
                if any(r.proxy.needs for r in group):
                    net = plan.network(group[0], arch).train()
                    inputs = plan.inputs[(net_key, inputs_key)][0][0]
                    x = inputs[0] if isinstance(inputs, list) else inputs
                    t = time.perf_counter()
                    logits(net(x)).sum().backward()
                    return time.perf_counter() - t
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rankings", default="az_nas,ensemble")
    parser.add_argument("--num-archs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/cifar10/cifar10_train_first4000.npz")
    parser.add_argument("--benchmark", type=Path, default=ROOT.parent / "shared/data/nb201/nb201_hp200_test_acc.csv")
    args = parser.parse_args()
    for path in (args.data, args.benchmark):
        if not path.is_file():
            sys.exit(f"error: {path}: no such file")
    rankings = args.rankings.split(",")
    unknown = [r for r in rankings if r not in list_rankings()]
    if unknown:
        sys.exit(f"error: --rankings: unknown {unknown}; allowed: {list_rankings()}")
    if args.num_archs < 1:
        sys.exit(f"error: --num-archs: must be >= 1, got {args.num_archs}")
    torch.set_num_threads(1)
    bench = load_benchmark(args.benchmark)
    sample = sample_architectures(bench.archs(), args.num_archs, args.seed)
    print("| ranking | proxies | together s/arch (build / init / score) | one at a time s/arch | ratio | "
          "plain fwd+bwd s | score / fwd+bwd | max rel. diff |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for ranking in rankings:
        cfg = compose_cfg(args, ranking)
        recipes = study_recipes(cfg)
        dataset = build_dataset(cfg.dataset)
        t = time.perf_counter()
        plan = build_plan(int(cfg.seed), 1, recipes, get_space("nasbench201"), dataset, "cpu")
        draw_seconds = time.perf_counter() - t
        together, alone, stages, plain, diff = [], [], [], [], 0.0
        for _, arch in sample:
            t = time.perf_counter()
            row = score_architecture(plan, arch)
            together.append(time.perf_counter() - t)
            t = time.perf_counter()
            single = one_at_a_time(plan, arch)
            alone.append(time.perf_counter() - t)
            stages.append(timed_stages(plan, arch))
            plain.append(plain_forward_backward(plan, arch))
            for name, value in single.items():
                diff = max(diff, abs(value - row[name]) / max(abs(value), 1e-30))
        mean = {k: float(np.mean([s[k] for s in stages])) for k in stages[0]}
        print(f"| {ranking} | {', '.join(plan.proxies)} | {np.mean(together):.3f} ({mean['build']:.3f} / {mean['init']:.3f} / "
              f"{mean['score']:.3f}) | {np.mean(alone):.3f} | {np.mean(together) / np.mean(alone):.2f} | {np.mean(plain):.3f} | "
              f"{mean['score'] / np.mean(plain):.2f} | {diff:.1e} |")
        print(f"<!-- {ranking}: inputs of the whole study drawn once in {draw_seconds:.2f} s; {len(sample)} architectures, seed {args.seed} -->")


if __name__ == "__main__":
    main()
