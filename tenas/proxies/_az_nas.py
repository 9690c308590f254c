"""What the four AZ-NAS proxies share (Lee & Ham, CVPR 2024; reference: AZ-NAS repository,
``NB201/ZeroShotProxy/compute_az_nas_score.py`` and ``NB201/custom/tss_model.py``).

The reference computes all four scores from one forward (and one backward per pair of
stages) of a batch of 64 Gaussian-noise images through the Kaiming-fan-in-initialised
network in train mode. It reads the *stage features*: the stem output followed by the
output of every cell (``TinyNetwork.extract_cell_features``; for NAS-Bench-201 at N=5
that is the stem and 17 cells, the two residual reduction blocks included). Here the
features come from forward hooks, so any ``nn.Module`` can be scored:

Feature rule (:func:`feature_modules`):

- ``names`` given (the proxies' ``feature_modules`` option): the modules of those names
  in ``model.named_modules()``;
- otherwise, when the model has a ``cells`` attribute that is an ``nn.ModuleList`` or
  ``nn.Sequential`` (NB201Network, DartsNetwork): ``stem`` (when the model has one that
  holds parameters, i.e. not a stem-less network's ``nn.Identity``), then every element
  of ``cells``;
- otherwise: every direct child of the model whose output is a 4-D feature map.

The features are the hooked modules' outputs in the order they fire (a module called
twice contributes two features). Features are ``[batch, channels, *positions]``; each
spatial position of each sample is one observation of a ``channels``-dimensional vector.

The proxies read the features from a shared pass (:mod:`tenas.proxies._pass`): scored together,
the four take one forward, one vector-Jacobian product per stage pair and one eigendecomposition
per stage, as the reference; scored alone, each runs its own pass. FLOPs are counted by the pass's
hooks on every ``Conv1d``/``Conv2d``/``Linear`` call in the convention of NAS-Bench-201's
``get_model_infos`` (xautodl ``flop_benchmark``), which the reference's complexity score reads from
the benchmark: output positions x kernel area x in/groups x out channels (+ out channels x positions
for a bias) per convolution, in x out features (+ out for a bias) per row of a ``Linear``; pooling,
BatchNorm, activations and additions are not counted.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


#: Score of a degenerate network where the reference returns ``-inf`` (or NaN mapped to
#: ``-inf``): a feature map with no variance at all (an all-zero cell output), for
#: expressivity and progressivity; a pair of stages whose gradient map is exactly the
#: identity (a cell that reduces to a skip connection), for trainability. tenas turns
#: non-finite scores into NaN = missing, which would drop these networks from a study
#: or an ensemble instead of ranking them last, so a finite value below anything a real
#: network reaches is returned instead: every such network ties at the bottom, as in the
#: reference's ranking.
DEGENERATE = -1e12

#: the reference's ``log(p + 1e-8)`` and ``1 / (σ + 1e-6)`` guards
_LOG_EPS = 1e-8
_SIGMA_EPS = 1e-6


# ----------------------------------------------------------------------------- features
def feature_modules(model: nn.Module, names: Sequence[str] | None = None) -> list[nn.Module] | None:
    """The modules whose outputs are the stage features (rule in the module docstring);
    ``None`` means the fallback rule (direct children with 4-D outputs)."""
    if names is not None:
        table = dict(model.named_modules())
        missing = [n for n in names if n not in table]
        if missing:
            raise ValueError(f"feature_modules: no module named {missing} in {type(model).__name__}")
        return [table[n] for n in names]
    cells = getattr(model, "cells", None)
    if isinstance(cells, (nn.ModuleList, nn.Sequential)):
        modules = []
        stem = getattr(model, "stem", None)
        if isinstance(stem, nn.Module) and any(True for _ in stem.parameters()):
            modules.append(stem)
        return modules + list(cells)
    return None


def _first_tensor(output):
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    return None


def stage_features(model: nn.Module, inputs: torch.Tensor, names: Sequence[str] | None = None) -> list[torch.Tensor]:
    """The stage features of one train-mode forward of ``inputs`` through ``model``, in firing order,
    detached (what a shared pass records for the ``"features"`` need; the model left as found)."""
    from tenas.proxies._pass import shared_pass

    with shared_pass(model, inputs, needs={"features"}, feature_sets=[names]) as p:
        return [f.detach() for f in p.stage_features(names)]


def _rows(feature: torch.Tensor) -> torch.Tensor:
    """``[batch, channels, *positions]`` -> ``[batch * positions, channels]``."""
    return feature.movedim(1, -1).reshape(-1, feature.shape[1])


# ----------------------------------------------------------------------------- expressivity
def pca_entropy(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalue spectrum of the channel covariance of ``feature``.

    As the reference: rows = (sample, position), centred, Σ = XᵀX / n, eigenvalues s,
    p = s / Σs, H = -Σ p log(p + 1e-8). Computed in float64 (the reference: float32 on
    the GPU; only round-off differs). NaN when the feature has no variance (Σs = 0).
    """
    x = _rows(feature.detach()).double()
    x = x - x.mean(dim=0, keepdim=True)
    sigma = x.T @ x / x.shape[0]
    s = torch.linalg.eigvalsh(sigma)
    p = s / s.sum()
    return float(-(p * torch.log(p + _LOG_EPS)).sum())


def expressivity_profile(features: Sequence[torch.Tensor]) -> np.ndarray:
    """Per-stage PCA entropies (the reference's ``expressivity_scores``)."""
    return np.array([pca_entropy(f) for f in features], dtype=np.float64)


def expressivity_from_profile(profile: np.ndarray) -> float:
    """Sum of the per-stage entropies; :data:`DEGENERATE` when one is not finite or there is none."""
    if profile.size == 0 or not np.all(np.isfinite(profile)):
        return DEGENERATE
    return float(profile.sum())


def progressivity_from_profile(profile: np.ndarray) -> float:
    """Smallest gain of entropy between consecutive stages; :data:`DEGENERATE` when one entropy
    is not finite or there are fewer than two stages."""
    if profile.size < 2 or not np.all(np.isfinite(profile)):
        return DEGENERATE
    return float(np.min(profile[1:] - profile[:-1]))


# ----------------------------------------------------------------------------- trainability
def pair_score(sigma_max: float) -> float:
    """The reference's per-pair trainability ``-σ - 1/(σ + 1e-6) + 2`` (0 at σ = 1, below elsewhere)."""
    return -sigma_max - 1.0 / (sigma_max + _SIGMA_EPS) + 2.0


def gradient_map_sigma(g_in: torch.Tensor, g_out: torch.Tensor) -> float | None:
    """Largest singular value of ``M = G_inᵀ G_out / n`` (channels_in x channels_out).

    ``g_out`` is the random cotangent at the later stage, ``g_in`` its pull-back to the
    earlier stage. When the earlier stage has an integer multiple of the later one's
    resolution (a reduction), ``g_in`` is pixel-unshuffled first so that both have one row
    per (sample, output position), as the reference does. ``None`` when the shapes cannot
    be matched that way (the pair is then skipped).
    """
    if g_in.shape[0] != g_out.shape[0]:
        return None
    if g_in.shape[2:] != g_out.shape[2:]:
        if g_in.dim() != 4 or g_out.dim() != 4:
            return None
        (hi, wi), (ho, wo) = g_in.shape[2:], g_out.shape[2:]
        if ho == 0 or hi % ho or wi % wo or hi // ho != wi // wo:
            return None
        g_in = F.pixel_unshuffle(g_in, hi // ho)
    a, b = _rows(g_in).double(), _rows(g_out).double()
    mat = a.T @ b / b.shape[0]
    return float(torch.linalg.svdvals(mat).max())


def trainability_of(features: Sequence[torch.Tensor], generator: torch.Generator) -> float:
    """Mean over consecutive stage pairs of :func:`pair_score`, the pairs taken from the last
    backwards (the reference's order, which fixes the order of the random draws).

    Per pair: a Rademacher cotangent ``g_out`` (±1, drawn from ``generator`` on the CPU) at
    the later stage, ``g_in = (∂f_out/∂f_in)ᵀ g_out`` by one vector-Jacobian product, σ of
    :func:`gradient_map_sigma`. A pair where ``g_in`` equals ``g_out`` exactly (the later
    stage is the earlier one plus exact zeros) makes the score :data:`DEGENERATE` (the
    reference: -inf). A later stage that does not depend on the earlier one gives σ = 0.
    Pairs whose earlier stage carries no gradient, or whose shapes cannot be matched,
    are skipped; :data:`DEGENERATE` when no pair is left.
    """
    scores = []
    identity = False
    for i in reversed(range(1, len(features))):
        f_out, f_in = features[i], features[i - 1]
        if not (f_out.requires_grad and f_in.requires_grad):
            continue
        g_out = (torch.randint(0, 2, f_out.shape, generator=generator) * 2 - 1).to(f_out)
        (g_in,) = torch.autograd.grad(f_out, f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            identity = True
            continue
        sigma = gradient_map_sigma(g_in.detach(), g_out)
        if sigma is not None:
            scores.append(pair_score(sigma))
    if identity or not scores:
        return DEGENERATE
    return float(np.mean(scores))


# ----------------------------------------------------------------------------- from a shared pass
def profile_of(p, names: Sequence[str] | None) -> np.ndarray:
    """The per-stage entropy profile of pass ``p``'s stage features (computed once per pass and feature set)."""
    return p.memo(("az_profile", None if names is None else tuple(names)), lambda: expressivity_profile(p.stage_features(names)))


def log_rank_aggregate(scores: dict) -> np.ndarray:
    """AZ-NAS's non-linear rank aggregation (``NB201/tss_general.ipynb``): for each proxy rank the
    architectures ascending (average ranks for ties; rank N = the highest score, all AZ-NAS
    proxies being higher-is-better), then sum ``log(rank / N)`` over proxies. Higher = better;
    an architecture ranked first by every proxy gets 0."""
    from scipy.stats import rankdata

    columns = [np.asarray(v, dtype=np.float64) for v in scores.values()]
    n = len(columns[0])
    return np.sum([np.log(rankdata(c) / n) for c in columns], axis=0)
