"""AZ-NAS expressivity: summed PCA entropy of the stage features at initialisation (higher = better).

Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024;
reference ``NB201/ZeroShotProxy/compute_az_nas_score.py`` (AZ-NAS repository).

One forward of ``inputs`` (the protocol: 64 standard-Gaussian images) in train mode
(BatchNorm normalises with the batch's statistics), without gradients; nothing is
differentiated. The stage features are the stem output and every cell's output (the
rule, and the ``feature_modules`` option naming other modules, in
:mod:`tenas.proxies._az_nas`). For each feature ``[B, C, H, W]`` the B·H·W channel
vectors are centred, their covariance's eigenvalues normalised to a distribution p, and
its entropy ``-Σ p log(p + 1e-8)`` taken; the score is the sum over stages.

Deliberate differences from the reference: eigenvalues in float64 (round-off only); a
network with a stage of zero variance (e.g. an all-``none`` cell: 0/0) scores
``_az_nas.DEGENERATE`` (-1e12) where the reference returns -inf, so it ranks last
instead of becoming a missing value. A list of batches gives the mean of per-batch scores.
Pure: the model is left as found.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._az_nas import expressivity_from_profile, profile_of


@register_proxy("az_expressivity", higher_is_better=True, needs={"features"}, batches="mean")
def az_expressivity(p, *, feature_modules=None) -> float:
    """AZ-NAS expressivity: sum over stages of the entropy of the features' PCA spectrum (higher = better)."""
    return expressivity_from_profile(profile_of(p, feature_modules))
