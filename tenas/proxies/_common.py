"""What proxy implementations share: reading logits."""
from __future__ import annotations

import torch


def logits(output) -> torch.Tensor:
    """The logits of a model's output: the last element of a tuple/list (auxiliary heads first), as ``[n, classes]``."""
    if isinstance(output, (tuple, list)):
        output = output[-1]
    return output if output.dim() == 2 else output.reshape(output.shape[0], -1)
