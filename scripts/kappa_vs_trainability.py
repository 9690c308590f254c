"""Does a low NTK condition number at initialisation mean fast training? (TE-NAS's premise)

Samples ``--archs`` NAS-Bench-201 architectures (ops drawn uniformly per edge from
a seeded generator), builds each as a small standalone network
(``search_spaces.nasbench201.network_for_arch``, width ``--C``, ``--N`` cells per
stage), Kaiming-initialises it, and measures κ = λ_max/λ_min of its empirical
NTK with ``tenas.ntk_condition_number`` (train-mode BatchNorm, class-summed
logits, parameters named ``*weight*``) on one fixed batch of ``--ntk-batch``
images. It then trains that same initialisation with SGD (momentum 0.9,
constant ``--lr``, cross-entropy, ``--steps`` mini-batches of ``--batch-size``,
the same batch order for every architecture) and records the training loss
after the budget: mean cross-entropy of the network in eval mode on
``--eval-size`` images of its training pool. The summary reports Kendall's τ
and Spearman's ρ between κ and that loss (positive = the premise holds:
higher κ, slower training), over all architectures and over those whose κ is
not degenerate (a kernel of rank < batch size, e.g. a cell whose output is cut
off from its input by ``none`` ops, gets the fallback κ = 1e5). When the
NAS-Bench-201 ground truth CSV is present, the 200-epoch CIFAR-10 test accuracy
of each architecture is added, with its rank correlation to κ.

Images come from the shared CIFAR-10 sample, average-pooled to
``--image-size`` (default 16x16, to keep it to minutes on a CPU), no augmentation.

    OMP_NUM_THREADS=1 python scripts/kappa_vs_trainability.py     # ~2 min on 2 shared CPU cores

Writes ``kappa_vs_trainability.csv``, ``.png`` and ``config.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import kendalltau, spearmanr

from search_spaces.nasbench201 import OP_NAMES, format_arch, network_for_arch
from tenas import ntk_condition_number
from tenas.data import load_npz
from tenas.errors import TenasError
from tenas.init import kaiming_init_
from tenas.io import atomic_save_figure, atomic_write_csv, atomic_write_json

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", type=int, default=40, help="number of sampled architectures")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--C", type=int, default=8, help="channels of the first stage")
    p.add_argument("--N", type=int, default=1, help="cells per stage")
    p.add_argument("--image-size", type=int, default=16, help="images are average-pooled from 32 to this size")
    p.add_argument("--ntk-batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=100, help="SGD steps of the training budget")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--train-size", type=int, default=2000, help="training pool: the first images of the sample")
    p.add_argument("--eval-size", type=int, default=500, help="pool images on which the final loss is measured")
    p.add_argument("--data-path", type=Path, default=SHARED / "cifar10" / "cifar10_train_first4000.npz")
    p.add_argument("--benchmark-csv", type=Path, default=SHARED / "nb201" / "nb201_hp200_test_acc.csv")
    p.add_argument("--out", type=Path, default=REPO / "results" / "kappa_vs_trainability")
    args = p.parse_args(argv)
    if min(args.archs, args.C, args.N, args.steps, args.batch_size, args.ntk_batch) < 1 or args.lr <= 0:
        p.error("--archs, --C, --N, --steps, --batch-size, --ntk-batch and --lr must be positive")
    if 32 % args.image_size:
        p.error("--image-size must divide 32 (8, 16 or 32)")
    if max(args.eval_size, args.ntk_batch, args.batch_size) > args.train_size:
        p.error("--eval-size, --ntk-batch and --batch-size must not exceed --train-size")
    return args


def load_pool(args) -> tuple[torch.Tensor, torch.Tensor]:
    """The training pool: normalised images ``[train_size, 3, s, s]`` and labels."""
    if not Path(args.data_path).is_file():
        raise TenasError(f"CIFAR-10 sample not found at {args.data_path}; pass --data-path FILE (.npz with x uint8 NxHxWxC, y)")
    dataset = load_npz(args.data_path, augment=False)
    if args.train_size > len(dataset):
        raise TenasError(f"--train-size {args.train_size} exceeds the {len(dataset)} images of {args.data_path}")
    index = torch.arange(args.train_size)
    images = (dataset.images[index].float() / 255.0 - dataset.mean) / dataset.std
    return torch.nn.functional.avg_pool2d(images, 32 // args.image_size), dataset.labels[index]


def sample_archs(count: int, seed: int) -> list[str]:
    generator = torch.Generator().manual_seed(seed)
    draws = torch.randint(len(OP_NAMES), (count, 6), generator=generator)
    return [format_arch(OP_NAMES[i] for i in row.tolist()) for row in draws]


def kappa_at_init(net, batch) -> tuple[float, bool]:
    """κ of the network's NTK on ``batch`` and whether it was degenerate (fallback value)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kappa = ntk_condition_number(net, batch)
    return kappa, any(issubclass(w.category, RuntimeWarning) for w in caught)


def train_and_evaluate(net, images, labels, order, args) -> tuple[float, float]:
    """SGD for ``len(order)`` steps, then (cross-entropy, accuracy) in eval mode on the first eval_size images."""
    optimizer = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
    net.train()
    for batch in order:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(images[batch]), labels[batch]).backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        logits = net(images[: args.eval_size])
    target = labels[: args.eval_size]
    return float(torch.nn.functional.cross_entropy(logits, target)), float((logits.argmax(1) == target).float().mean())


def correlations(x, y) -> dict:
    if len(x) < 3:
        return {"n": len(x), "kendall_tau": float("nan"), "spearman_rho": float("nan")}
    return {"n": len(x), "kendall_tau": float(kendalltau(x, y).statistic), "spearman_rho": float(spearmanr(x, y).statistic)}


def plot(frame: pd.DataFrame, stats: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("final_loss", f"training loss after {args.steps} SGD steps", stats["loss"])]
    if "nb201_cifar10_test" in frame:
        panels.append(("nb201_cifar10_test", "NB201 CIFAR-10 test accuracy (%)", stats["benchmark"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    ok = ~frame.degenerate
    # degenerate kernels carry the fallback κ; draw them just right of the others instead of at 1e5
    edge = 2 * frame.kappa[ok].max() if ok.any() else 1.0
    for ax, (column, label, stat) in zip(axes[0], panels):
        ax.scatter(frame.kappa[ok], frame[column][ok], s=18, label="architectures")
        if (~ok).any():
            ax.scatter(np.full(int((~ok).sum()), edge), frame[column][~ok], s=24, marker="x", color="red", label="degenerate κ (drawn at the edge)")
        ax.set(xscale="log", xlabel="κ of the NTK at initialisation (train-mode BN)", ylabel=label,
               title=f"τ = {stat['kendall_tau']:+.2f}, ρ = {stat['spearman_rho']:+.2f} (non-degenerate, n = {stat['n']})")
        ax.legend(fontsize=8)
    fig.suptitle(f"{len(frame)} NAS-Bench-201 architectures, C={args.C}, N={args.N}, {args.image_size}x{args.image_size} CIFAR-10", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    atomic_save_figure(path, fig, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    try:
        images, labels = load_pool(args)
    except TenasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    data_generator = torch.Generator().manual_seed(args.seed)
    ntk_batch = images[torch.randperm(len(images), generator=data_generator)[: args.ntk_batch]]
    order = [torch.randperm(len(images), generator=data_generator)[: args.batch_size] for _ in range(args.steps)]
    rows = []
    for i, arch in enumerate(sample_archs(args.archs, args.seed)):
        net = network_for_arch(arch, C=args.C, N=args.N, num_classes=10)
        kaiming_init_(net, torch.Generator().manual_seed(args.seed * 100_003 + i))
        kappa, degenerate = kappa_at_init(net, ntk_batch)
        loss, accuracy = train_and_evaluate(net, images, labels, order, args)
        rows.append(dict(arch=arch, kappa=kappa, degenerate=degenerate, final_loss=loss, final_accuracy=accuracy))
        print(f"[{i + 1:>3}/{args.archs}] κ={kappa:10.4g}{' (degenerate)' if degenerate else ''}  loss={loss:.3f}  {arch}", flush=True)
    frame = pd.DataFrame(rows)
    if Path(args.benchmark_csv).is_file():
        truth = pd.read_csv(args.benchmark_csv, usecols=["arch_str", "cifar10_test"]).set_index("arch_str").cifar10_test
        frame["nb201_cifar10_test"] = frame.arch.map(truth)

    ok = frame[~frame.degenerate]
    stats = {"loss_all": correlations(frame.kappa, frame.final_loss), "loss": correlations(ok.kappa, ok.final_loss)}
    if "nb201_cifar10_test" in frame:
        stats["benchmark"] = correlations(ok.kappa, ok.nb201_cifar10_test)
        stats["benchmark_vs_loss"] = correlations(ok.final_loss, ok.nb201_cifar10_test)

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(args.out / "kappa_vs_trainability.csv", frame)
    atomic_write_json(args.out / "config.json", {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()})
    atomic_write_json(args.out / "correlations.json", stats)
    plot(frame, stats, args, args.out / "kappa_vs_trainability.png")

    print(f"\n{len(frame)} architectures ({int(frame.degenerate.sum())} with degenerate κ), {args.steps} SGD steps each")
    names = {"loss_all": "κ vs loss, all", "loss": "κ vs loss, non-degenerate", "benchmark": "κ vs NB201 test acc", "benchmark_vs_loss": "loss vs NB201 test acc"}
    for key, s in stats.items():
        print(f"  {names[key]:<28} n={s['n']:>3}  Kendall τ={s['kendall_tau']:+.3f}  Spearman ρ={s['spearman_rho']:+.3f}")
    print(f"wrote {args.out}/kappa_vs_trainability.csv, .png, correlations.json ({time.time() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
