"""AZ-NAS complexity: FLOPs of one forward of one sample (higher = better).

Lee & Ham, CVPR 2024: the complexity proxy is the network's FLOPs, read in the NB201
notebook (``NB201/tss_general.ipynb``) from the benchmark API, i.e. xautodl's
``get_model_infos`` on the C=16/N=5 network. We count the same way on the given model:
Conv1d/Conv2d multiply-accumulates (+ a bias term per output element), Linear in x out
(+ bias), nothing for BatchNorm, pooling, activations or additions (so our NB201 numbers
are the benchmark's FLOPs x 1e6, up to float rounding). Nothing is differentiated. Alone: one
forward of the first sample of ``inputs`` in eval mode (BatchNorm with running statistics);
scored with other shared-pass proxies, the hooks count during their train-mode forward of the
batch (the count depends on neither values nor mode); supernet cells run unfused so that every
convolution is called and counted. AZ-NAS ranks FLOPs ascending in its
aggregation, so more FLOPs = better. Never degenerate (a network without convolutions
or linear layers scores 0). Pure: the model is left as found.
"""
from __future__ import annotations

from tenas.proxies._registry import register_proxy


@register_proxy("az_complexity", higher_is_better=True, needs={"flops"})
def az_complexity(p) -> float:
    """AZ-NAS complexity: FLOPs per sample, NAS-Bench-201 convention (higher = better)."""
    return p.flops_per_sample()
