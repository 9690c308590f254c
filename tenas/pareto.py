"""Pareto fronts of merit against costs (``search.objectives=[merit,flops]``): the non-dominated set,
NSGA-II's sorting and crowding distance (Deb et al. 2002), the front's knee, and the hypervolume of a
two-objective front.

Every function takes points to *minimise*, one row per candidate and one column per objective (merit
enters negated). A point dominates another when it is no worse on every objective and better on one;
equal points do not dominate each other, so both stay on the front."""
from __future__ import annotations

import numpy as np


def _finite(points) -> np.ndarray:
    """The points as floats with a non-finite entry made the worst of its objective (+inf)."""
    p = np.asarray(points, dtype=np.float64)
    return np.where(np.isnan(p), np.inf, p)


def dominated_by(points) -> np.ndarray:
    """``D[i, j]``: point ``j`` dominates point ``i``."""
    p = _finite(points)
    no_worse = (p[None, :, :] <= p[:, None, :]).all(axis=-1)
    better = (p[None, :, :] < p[:, None, :]).any(axis=-1)
    return no_worse & better


def non_dominated(points) -> np.ndarray:
    """A mask of the points no other point dominates."""
    if len(points) == 0:
        return np.zeros(0, dtype=bool)
    return ~dominated_by(points).any(axis=1)


def front_ranks(points) -> np.ndarray:
    """NSGA-II's non-dominated sorting: 0 for the front, 1 for the front of the rest, and so on."""
    dominated = dominated_by(points)
    ranks = np.full(len(dominated), -1)
    left = np.ones(len(dominated), dtype=bool)
    rank = 0
    while left.any():
        front = left & ~(dominated & left[None, :]).any(axis=1)
        ranks[front] = rank
        left &= ~front
        rank += 1
    return ranks


def crowding_distance(points) -> np.ndarray:
    """NSGA-II's crowding distance of each point within its set: the sum over objectives of the gap
    between its two neighbours, over that objective's range; the extremes get infinity."""
    p = _finite(points)
    n, k = p.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(p[:, j], kind="stable")
        values = p[order, j]
        span = values[-1] - values[0]
        distance[order[[0, -1]]] = np.inf
        if span > 0 and np.isfinite(span):
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def nsga_order(points) -> np.ndarray:
    """Indices from best to worst by (front rank, larger crowding distance within the front), stable."""
    ranks = front_ranks(points)
    crowd = np.zeros(len(ranks))
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding_distance(np.asarray(points, dtype=np.float64)[members])
    return np.lexsort((-crowd, ranks))


def knee(points) -> int:
    """The index of the front's knee: with each objective scaled to [0, 1] over the points, the point
    nearest the ideal corner (the best of every objective); the first on ties. ``points`` is the front."""
    p = _finite(points)
    low, high = p.min(axis=0), p.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = np.where(np.isfinite(p), (p - low) / span, np.inf)
    return int(np.argmin(np.sqrt((scaled ** 2).sum(axis=1))))


def hypervolume_2d(points, reference) -> float:
    """The area dominated by two-objective ``points`` (both minimised) and bounded by ``reference``
    (points not better than it on both objectives add nothing)."""
    p = _finite(points)
    ref = np.asarray(reference, dtype=np.float64)
    p = p[(p < ref).all(axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    area, best_y = 0.0, ref[1]
    for x, y in p:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(area)
