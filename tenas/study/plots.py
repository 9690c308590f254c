"""Scatter plots of a study's scores against accuracy."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tenas.benchmark import DATASETS
from tenas.io import atomic_save_figure


def save_scatter(frame: pd.DataFrame, score: str, correlations: pd.DataFrame, path: Path) -> None:
    """One panel per dataset: score against test accuracy, τ and ρ in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = frame[score].to_numpy(dtype=np.float64)
    positive = x[np.isfinite(x) & (x > 0)]
    log_x = len(positive) == np.isfinite(x).sum() and len(positive) > 0 and positive.max() / positive.min() > 100
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(4.2 * len(DATASETS), 3.6), constrained_layout=True)
    for ax, ds in zip(axes, DATASETS):
        c = correlations[correlations.dataset == ds].iloc[0]
        ax.scatter(x, frame[ds], s=6, alpha=0.5, linewidths=0)
        if log_x:
            ax.set_xscale("log")
        ax.set_xlabel(score)
        ax.set_ylabel(f"{ds} test accuracy (%)")
        ax.set_title(f"{ds}: τ={c.kendall_tau:.3f}  ρ={c.spearman_rho:.3f}  (n={c.n})", fontsize=9)
    atomic_save_figure(path, fig, dpi=110)
    plt.close(fig)
