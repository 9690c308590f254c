"""AZ-NAS trainability: how close to 1 the spectral norm of each stage-to-stage gradient map is (higher = better).

Lee & Ham, CVPR 2024; reference ``NB201/ZeroShotProxy/compute_az_nas_score.py``.

One forward of ``inputs`` (64 standard-Gaussian images) in train mode (BatchNorm with
batch statistics); the stage features are the stem and cell outputs (rule and
``feature_modules`` option in :mod:`tenas.proxies._az_nas`). For each consecutive pair
(f_in, f_out), from the last pair backwards: a Rademacher (±1) cotangent ``g_out`` the
shape of f_out, drawn from a local ``torch.Generator`` seeded with ``seed``; ``g_in`` =
its vector-Jacobian product back to f_in (what is differentiated: f_out with respect to
f_in, no parameter gradients are formed); if f_in has a multiple of f_out's resolution
it is pixel-unshuffled; ``M = G_inᵀ G_out / n`` over the n (sample, position) rows; σ =
largest singular value of M; pair score ``-σ - 1/(σ + 1e-6) + 2`` (0 at σ = 1, negative
otherwise). The score is the mean over pairs.

The reference computes the exact SVD of the small channel matrix M (no power iteration);
so do we. Deliberate differences: a pair whose ``g_in`` equals ``g_out`` exactly (a cell
reducing to a skip connection; reference: -inf) gives ``_az_nas.DEGENERATE`` (-1e12) for
the network, which then ranks last instead of becoming missing; random draws come from
the local generator, not the global RNG; M and its SVD in float64. A list of batches
gives the mean of per-batch scores (one generator across them). Pure: model, .grad and
global RNG left as found.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._az_nas import trainability_of


@register_proxy("az_trainability", higher_is_better=True, needs={"features_grad"}, batches="mean")
def az_trainability(p, *, feature_modules=None, seed: int = 0) -> float:
    """AZ-NAS trainability: mean over stage pairs of -σ - 1/σ + 2, σ the spectral norm of the gradient map (higher = better)."""
    return trainability_of(p.stage_features(feature_modules), p.generator(seed))
