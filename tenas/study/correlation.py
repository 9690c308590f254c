"""Rank correlation of scores with accuracies."""
from __future__ import annotations

import numpy as np


def rank_correlations(scores, accuracies) -> dict:
    """Kendall τ (τ-b: ties in either variable handled) and Spearman ρ (Pearson of average ranks).

    Pairs where either value is not finite are left out; ``n`` is the number used.
    With fewer than 3 pairs, or a constant variable, τ and ρ are NaN.
    """
    from scipy import stats

    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(accuracies, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    n = int(keep.sum())
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"kendall_tau": float("nan"), "spearman_rho": float("nan"), "n": n}
    tau = stats.kendalltau(x, y, variant="b").statistic
    rho = stats.spearmanr(x, y).statistic
    return {"kendall_tau": float(tau), "spearman_rho": float(rho), "n": n}
