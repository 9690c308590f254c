"""EPE-NAS (Lopes et al., 2021): per-class correlations of input Jacobians (higher = better).

One forward of the batch, then the gradient of the sum of all logits with respect to the
input, one row ``J_i`` per sample (NASLib's ``get_batch_jacobian``). For each class ``c`` seen in
``targets``, ``s_c = Σ log(|corr(J_i, J_j)| + 1e-5)`` over the Pearson correlation matrix of that
class's rows (a class with one sample: its 1x1 "matrix" ``[1]``). With at most 100 classes the
score is ``Σ_c |s_c|``; with more (ImageNet16-120) each ``s_c`` is divided by its class size and
the score is ``Σ_c Σ_c' |s_c - s_c'| / #classes`` (the reference's two branches, chosen by the
number of logits).

- differentiated: the logits' sum, with respect to the inputs only (parameters untouched);
- parameters: all, as given (NAS-Bench-Suite-Zero: PyTorch's default init);
- BatchNorm: train mode (batch statistics, so samples are coupled, as in NASLib);
- inputs: one batch of training images with their labels (``needs_targets``); a list of batches
  gives the mean of the per-batch scores;
- direction: higher is better;
- degenerate: a constant Jacobian row (e.g. an output that ignores the input) makes its correlations
  NaN, so the score is NaN, as in the reference.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tenas.proxies._registry import register_proxy
from tenas.proxies._activations import as_list
from tenas.proxies._common import logits
from tenas.state import untouched

EPS = 1e-5


def input_jacobian(model: nn.Module, x: torch.Tensor) -> tuple[np.ndarray, int]:
    """Rows ``d Σ logits / d x_i`` (float64 ``[n, input size]``) and the number of logits."""
    x = x.detach().clone().requires_grad_(True)
    y = logits(model(x))
    (grad,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    return grad.reshape(x.shape[0], -1).to("cpu", torch.float64).numpy(), int(y.shape[-1])


def per_class_score(jacobian: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """EPE-NAS's score of Jacobian rows grouped by label (see the module docstring)."""
    scores = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for c in np.unique(labels):
            rows = jacobian[labels == c]
            corr = np.corrcoef(rows) if rows.shape[0] > 1 else np.ones((1, 1))
            s = float(np.sum(np.log(np.abs(corr) + EPS)))
            if num_classes > 100:
                s /= corr.shape[0]
            scores[c] = s
    values = np.array(list(scores.values()))
    if num_classes <= 100:
        return float(np.sum(np.abs(values)))
    return float(np.sum(np.abs(values[:, None] - values[None, :])) / len(values))


@register_proxy("epe_nas", higher_is_better=True, needs_targets=True)
def epe_nas(model: nn.Module, inputs, *, targets) -> float:
    """EPE-NAS score: per-class log-|correlation| sums of the input Jacobians (train-mode BN, needs labels)."""
    batches, labels = as_list(inputs), as_list(targets)
    scores = []
    with untouched(model, train=True):
        for x, y in zip(batches, labels):
            jacobian, num_classes = input_jacobian(model, x)
            scores.append(per_class_score(jacobian, y.detach().cpu().numpy(), num_classes))
    return sum(scores) / len(scores)
