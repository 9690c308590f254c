"""Lazy training: the NTK and the parameters of wider networks move less during training.

Trains two-layer ReLU networks in NTK parameterisation (``tenas.ntk.TwoLayerReLU``)
of several widths with full-batch gradient descent on ``L = ½ Σ_i (f(x_i) - y_i)²``,
and records over training

* the relative NTK change ``‖Θ_t - Θ_0‖_F / ‖Θ_0‖_F`` on a fixed probe set (the
  first ``--probe-size`` training points, all parameters),
* the relative parameter change ``‖θ_t - θ_0‖ / ‖θ_0‖``,
* the training mean squared error.

Every width uses the same learning rate ``η = --lr-scale / λ_max(Θ∞)``, with Θ∞ the
analytic infinite-width kernel of the training set, so all widths follow nearly
the same function-space trajectory. The classical analysis (Jacot et al. 2018,
Lee et al. 2019) bounds both changes by O(width^-1/2). The parameter change
follows that rate; the NTK change falls faster, because the first-order changes
of the hidden units carry the random signs of their readout weights and largely
cancel in the kernel's average over units (Dyer & Gur-Ari 2019 find
dΘ/dt = O(1/width) for smooth activations). The summary prints both fitted
log-log slopes.

Data: ``cifar10`` (default) = the shared CIFAR-10 sample, images average-pooled
4x4 to 3x8x8 = 192 features, target +1 for vehicles (airplane, automobile, ship,
truck) and -1 for animals; ``synthetic`` = 16-dimensional Gaussian inputs with the
target ``sin(z_0) + 0.5 z_1`` of the theory notes. Inputs are scaled to unit norm.

    OMP_NUM_THREADS=1 python scripts/lazy_training.py    # ~20 s on a shared 2-core CPU
    python scripts/lazy_training.py --data synthetic --widths 32 128 --steps 20

Writes ``lazy_training.csv``, ``lazy_training.png`` and ``config.json`` into ``--out``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tenas.data import load_npz
from tenas.errors import TenasError
from tenas.io import atomic_save_figure, atomic_write_csv, atomic_write_json
from tenas.ntk import TwoLayerReLU, empirical_ntk, kernel_spectrum, two_layer_relu_ntk

REPO = Path(__file__).resolve().parents[1]
CIFAR10_SAMPLE = REPO.parent / "shared" / "data" / "cifar10" / "cifar10_train_first4000.npz"
VEHICLES = (0, 1, 8, 9)  # CIFAR-10 airplane, automobile, ship, truck


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", choices=("cifar10", "synthetic"), default="cifar10")
    p.add_argument("--data-path", type=Path, default=CIFAR10_SAMPLE, help="CIFAR-10 .npz (x uint8 NxHxWxC, y labels)")
    p.add_argument("--widths", type=int, nargs="+", default=[64, 256, 1024, 4096])
    p.add_argument("--seeds", type=int, default=2, help="networks (initialisations) per width")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, default=128)
    p.add_argument("--probe-size", type=int, default=32, help="training points on which Θ_t is measured")
    p.add_argument("--steps", type=int, default=300, help="full-batch gradient-descent steps")
    p.add_argument("--checkpoints", type=int, default=8, help="measurements over training (plus step 0)")
    p.add_argument("--lr-scale", type=float, default=1.0, help="η = lr_scale / λ_max of the analytic kernel of the training set (diverges above about 2)")
    p.add_argument("--out", type=Path, default=REPO / "results" / "lazy_training")
    args = p.parse_args(argv)
    if min(args.widths) < 1 or args.seeds < 1 or args.steps < 1 or args.checkpoints < 1:
        p.error("widths, --seeds, --steps and --checkpoints must be positive")
    if not 1 <= args.probe_size <= args.train_size:
        p.error("--probe-size must be between 1 and --train-size")
    return args


def load_data(args) -> tuple[torch.Tensor, torch.Tensor]:
    """Training inputs ``[n, d]`` (unit norm) and targets ``[n]``, float32."""
    generator = torch.Generator().manual_seed(args.seed)
    if args.data == "cifar10":
        if not Path(args.data_path).is_file():
            raise TenasError(f"CIFAR-10 sample not found at {args.data_path}; pass --data-path FILE or use --data synthetic")
        images, labels = load_npz(args.data_path, augment=False).sample(args.train_size, generator, with_labels=True)
        x = torch.nn.functional.avg_pool2d(images, 4).flatten(1)
        y = torch.where(torch.isin(labels, torch.tensor(VEHICLES)), 1.0, -1.0)
    else:
        z = torch.randn(args.train_size, 16, generator=generator)
        x, y = z, torch.sin(z[:, 0]) + 0.5 * z[:, 1]
    return x / x.norm(dim=1, keepdim=True), y.float()


def flat_parameters(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def train_one(x, y, width, seed, lr, args) -> list[dict]:
    """Train one network; one row per checkpoint."""
    net = TwoLayerReLU(x.shape[1], width, generator=torch.Generator().manual_seed(seed))
    probe = x[: args.probe_size]
    theta0, kernel0 = flat_parameters(net), empirical_ntk(net, probe, params=None, train=False)
    checkpoints = set(np.unique(np.linspace(0, args.steps, args.checkpoints + 1).round().astype(int)).tolist())
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    rows = []
    for step in range(args.steps + 1):
        optimizer.zero_grad()
        residual = net(x)[:, 0] - y
        if step in checkpoints:
            kernel = empirical_ntk(net, probe, params=None, train=False)
            rows.append(dict(
                width=width, seed=seed, step=step,
                train_mse=float((residual.detach() ** 2).mean()),
                ntk_change=float((kernel - kernel0).norm() / kernel0.norm()),
                param_change=float((flat_parameters(net) - theta0).norm() / theta0.norm()),
            ))
        if step < args.steps:
            (0.5 * (residual ** 2).sum()).backward()
            optimizer.step()
    return rows


def loglog_slope(widths, values) -> float:
    return float(np.polyfit(np.log(widths), np.log(values), 1)[0])


def plot(frame: pd.DataFrame, final: pd.DataFrame, slopes: dict, args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = frame[frame.step > 0].groupby(["width", "step"], as_index=False)[["ntk_change", "param_change", "train_mse"]].mean()
    fig, (changes, losses, scaling) = plt.subplots(1, 3, figsize=(14, 4))
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(args.widths)))
    for colour, (width, curve) in zip(colours, mean.groupby("width")):
        changes.plot(curve.step, curve.ntk_change, "-o", ms=3, color=colour, label=f"width {width}")
        changes.plot(curve.step, curve.param_change, "--", color=colour)
        losses.plot(curve.step, curve.train_mse, "-o", ms=3, color=colour, label=f"width {width}")
    changes.set(xlabel="gradient-descent step", ylabel="relative change", yscale="log",
                title="NTK ‖Θ_t−Θ_0‖/‖Θ_0‖ (solid), parameters (dashed)")
    changes.legend(fontsize=8)
    losses.set(xlabel="gradient-descent step", ylabel="training MSE", yscale="log", title=f"{args.data}: training loss")
    widths = final.width.to_numpy(dtype=float)
    for column, marker, label in (("ntk_change", "o", "NTK"), ("param_change", "s", "parameters")):
        scaling.loglog(widths, final[column], marker, label=f"{label}: fitted slope {slopes[column]:+.2f}")
    for column, power, style in (("param_change", -0.5, "-"), ("ntk_change", -1.0, ":")):
        reference = final[column].iloc[-1] * (widths / widths[-1]) ** power
        scaling.loglog(widths, reference, "k" + style, lw=1, alpha=0.5, label=f"width^{power:g}")
    scaling.set(xlabel="width m", ylabel=f"relative change after {args.steps} steps", title="change vs width")
    scaling.legend(fontsize=8)
    fig.tight_layout()
    atomic_save_figure(path, fig, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    try:
        x, y = load_data(args)
    except TenasError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    lr = args.lr_scale / kernel_spectrum(two_layer_relu_ntk(x)).lambda_max
    rows = []
    for w, width in enumerate(args.widths):
        for s in range(args.seeds):
            rows += train_one(x, y, width, args.seed + s + 1000 * w, lr, args)
    frame = pd.DataFrame(rows)
    final = frame[frame.step == args.steps].groupby("width", as_index=False)[["ntk_change", "param_change", "train_mse"]].mean()
    slopes = {c: loglog_slope(final.width, final[c]) for c in ("ntk_change", "param_change")} if len(final) > 1 else {c: math.nan for c in ("ntk_change", "param_change")}

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_csv(args.out / "lazy_training.csv", frame)
    atomic_write_json(args.out / "config.json", {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "lr": lr})
    plot(frame, final, slopes, args, args.out / "lazy_training.png")

    print(f"lazy training on {args.data}: n={args.train_size}, lr={lr:.4g}, {args.steps} GD steps, {args.seeds} seed(s) per width")
    print(final.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"log-log slope vs width: NTK change {slopes['ntk_change']:+.3f}, parameter change {slopes['param_change']:+.3f} (O(width^-1/2) bound: -0.5)")
    print(f"wrote {args.out}/lazy_training.csv, lazy_training.png ({time.time() - started:.0f} s)")
    print(json.dumps({"slope_ntk_change": slopes["ntk_change"], "slope_param_change": slopes["param_change"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
