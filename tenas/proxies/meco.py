"""MeCo (Jiang et al., NeurIPS 2023): sum over layers of the minimum eigenvalue of the channel
correlation matrix of the feature map (higher = better).

Every module of the model gets a forward hook (as in the reference, containers included, so a
``Sequential`` and its last child both count). For each tensor output with a feature map per sample
(``dim >= 3``), the *first sample's* map is reshaped to ``[channels, positions]``; its Pearson
correlation matrix across channels (NaN/inf entries — constant channels — set to 0) contributes its
smallest eigenvalue. The score is the sum of the contributions that are finite. Outputs without a
per-sample map (logits, pooled vectors) contribute 0 in the reference (a ``[F, 1]`` matrix has an
all-NaN, hence all-zero, correlation), so they are skipped here.

Deliberate differences: the correlation and ``eigvalsh`` (the matrix is symmetric) are computed in
float64, where the reference takes the real part of float32 ``eig``; tuple outputs are skipped (the
reference would read their first element as a batch).

- differentiated: nothing (one forward, no gradients);
- parameters: as given (MeCo's NAS-Bench-201 script: PyTorch's default init);
- BatchNorm: train mode (a fresh network's mode in the reference);
- inputs: the reference scores NAS-Bench-201 with one CIFAR-10 training image (batch size 1); only
  the first sample's feature maps are read (the others still shape train-mode BN statistics); a list
  of batches gives the mean of the per-batch scores;
- direction: higher is better;
- degenerate: layers with all-constant channels contribute 0 (an all-``none`` cell gives a sum over
  the remaining layers), never NaN.
"""
from __future__ import annotations

import torch
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list, forward_hooks
from tenas.state import untouched


def min_correlation_eigenvalue(feature: torch.Tensor) -> float:
    """Smallest eigenvalue of the Pearson correlation (rows = channels) of one sample's map ``[C, ...]``."""
    rows = feature.detach().reshape(feature.shape[0], -1).to("cpu", torch.float64)
    if rows.shape[1] < 2:  # one position: every correlation is NaN -> the zero matrix
        return 0.0
    if rows.shape[0] == 1:
        return 1.0 if rows.std() > 0 else 0.0
    corr = torch.corrcoef(rows)
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros((), dtype=corr.dtype))
    return float(torch.linalg.eigvalsh(corr)[0])


@register_proxy("meco", higher_is_better=True)
def meco(model: nn.Module, inputs) -> float:
    """MeCo: Σ over every module's feature map (first sample) of the min eigenvalue of its channel correlation matrix."""
    scores = []
    with untouched(model, train=True), torch.no_grad():
        for x in as_list(inputs):
            values: list[float] = []

            def hook(module, args, output):
                if isinstance(output, torch.Tensor) and output.dim() >= 3:
                    values.append(min_correlation_eigenvalue(output[0]))

            with forward_hooks(list(model.modules()), hook):
                model(x)
            values_t = torch.tensor(values, dtype=torch.float64)
            scores.append(float(values_t[torch.isfinite(values_t)].sum()))
    return sum(scores) / len(scores)
