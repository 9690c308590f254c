"""AZ-NAS progressivity: the smallest gain of PCA entropy from one stage to the next (higher = better).

Lee & Ham, CVPR 2024; reference ``NB201/ZeroShotProxy/compute_az_nas_score.py``.

Same single forward as ``az_expressivity`` (train-mode BatchNorm, no gradients, nothing
differentiated; inputs: 64 standard-Gaussian images): the per-stage PCA entropies
``e_0 .. e_K`` of the stem and cell outputs (rule and ``feature_modules`` option in
:mod:`tenas.proxies._az_nas`); the score is ``min_k (e_k - e_{k-1})``, which rewards
networks whose every stage adds expressivity. It can be negative.

Deliberate differences: float64 eigenvalues; a stage of zero variance (reference: NaN,
mapped to -inf) or fewer than two stages gives ``_az_nas.DEGENERATE`` (-1e12), so such
networks rank last instead of becoming missing. A list of batches gives the mean of
per-batch scores. Pure: the model is left as found.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy
from tenas.proxies._az_nas import profile_of, progressivity_from_profile


@register_proxy("az_progressivity", higher_is_better=True, needs={"features"}, batches="mean")
def az_progressivity(p, *, feature_modules=None) -> float:
    """AZ-NAS progressivity: minimum over consecutive stages of the gain in PCA entropy (higher = better)."""
    return progressivity_from_profile(profile_of(p, feature_modules))
