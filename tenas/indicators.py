"""Indicators the pruning loop scores alive-sets with (see :class:`tenas.pruning.Indicator`)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from search_spaces.base import AliveSet, Supernet
from tenas.init import kaiming_init_
from tenas.ntk import ntk_condition_number


class NTKIndicator:
    """κ of the supernet's NTK on one batch of ``batch_size`` training images (train-mode BN).

    Each repeat re-draws Kaiming-normal weights and a batch; the origin and all
    candidates of that repeat share both.
    """

    name = "ntk"

    def __init__(self, supernet: Supernet, dataset, batch_size: int = 32, device="cpu", chunk_size: int | None = 32):
        self.net = supernet.to(device)
        self.dataset, self.batch_size, self.device, self.chunk_size = dataset, batch_size, device, chunk_size
        self.inputs = None

    def new_repeat(self, generator: torch.Generator) -> None:
        kaiming_init_(self.net, generator)
        self.inputs = self.dataset.sample(self.batch_size, generator).to(self.device)

    def score(self, alive_sets: Sequence[AliveSet], progress: Callable[[int], None] | None = None) -> list[float]:
        scores = []
        for i, alive in enumerate(alive_sets):
            with self.net.trying(alive):
                scores.append(ntk_condition_number(self.net, self.inputs, chunk_size=self.chunk_size))
            if progress:
                progress(i)
        return scores
