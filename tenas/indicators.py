"""Indicators the pruning loop scores alive-sets with (see :class:`tenas.pruning.Indicator`).

Each keeps ``seconds``: the wall time spent in its ``new_repeat`` and ``score``
calls, so a search can say where its time went.
"""
from __future__ import annotations

import time
from typing import Callable, Sequence

import torch

from search_spaces.base import AliveSet, Supernet
from tenas.init import kaiming_init_
from tenas.ntk import ntk_condition_number
from tenas.proxies.linear_regions import count_linear_regions


class SupernetIndicator:
    """Scores alive-sets one by one on ``self.net`` (each subclass's ``score_current``), timing itself."""

    net: Supernet
    seconds: float

    def score(self, alive_sets: Sequence[AliveSet], progress: Callable[[int], None] | None = None) -> list[float]:
        start = time.perf_counter()
        scores = []
        for i, alive in enumerate(alive_sets):
            with self.net.trying(alive):
                scores.append(self.score_current())
            if progress:
                progress(i)
        self.seconds += time.perf_counter() - start
        return scores

    def score_current(self) -> float:
        raise NotImplementedError


class NTKIndicator(SupernetIndicator):
    """κ of the supernet's NTK on one batch of ``batch_size`` training images (train-mode BN).

    Each repeat re-draws Kaiming-normal weights and a batch; the origin and all
    candidates of that repeat share both.
    """

    name = "ntk"

    def __init__(self, supernet: Supernet, dataset, batch_size: int = 32, device="cpu", chunk_size: int | None = 8):
        self.net = supernet.to(device)
        self.dataset, self.batch_size, self.device, self.chunk_size = dataset, batch_size, device, chunk_size
        self.inputs = None
        self.seconds = 0.0

    def new_repeat(self, generator: torch.Generator) -> None:
        start = time.perf_counter()
        kaiming_init_(self.net, generator)
        self.inputs = self.dataset.sample(self.batch_size, generator).to(self.device)
        self.seconds += time.perf_counter() - start

    def score_current(self) -> float:
        return ntk_condition_number(self.net, self.inputs, chunk_size=self.chunk_size)


class LinearRegionIndicator(SupernetIndicator):
    """#LR of a thin supernet (no stem) over ``num_batches`` x ``batch_size`` random crops.

    Each sample is a crop of ``crop_size x crop_size`` pixels of a random training
    image, with as many random colour channels as the network's first convolution
    reads (TE-NAS: width 1, one channel, 3x3, 3 batches of 1000); each batch is one
    train-mode forward. Each repeat re-draws Kaiming-normal weights and the crops;
    the origin and all candidates of that repeat share both.
    """

    name = "linear_regions"

    def __init__(self, thin_supernet: Supernet, dataset, crop_size: int = 3, batch_size: int = 1000, num_batches: int = 3, device="cpu"):
        if min(crop_size, batch_size, num_batches) < 1:
            raise ValueError(f"linear regions: crop_size, batch_size and num_batches must be positive, got {crop_size}, {batch_size}, {num_batches}")
        self.net = thin_supernet.to(device)
        self.channels = input_channels(thin_supernet)
        depth, height, width = dataset.images.shape[1:]
        if crop_size > min(height, width) or self.channels > depth:
            raise ValueError(f"linear regions: cannot cut {self.channels}x{crop_size}x{crop_size} crops from {depth}x{height}x{width} images")
        self.dataset, self.crop_size, self.batch_size, self.num_batches, self.device = dataset, crop_size, batch_size, num_batches, device
        self.batches: list[torch.Tensor] = []
        self.seconds = 0.0

    def new_repeat(self, generator: torch.Generator) -> None:
        start = time.perf_counter()
        kaiming_init_(self.net, generator)
        self.batches = [
            random_crops(self.dataset, self.batch_size, self.crop_size, self.channels, generator).to(self.device) for _ in range(self.num_batches)
        ]
        self.seconds += time.perf_counter() - start

    def score_current(self) -> float:
        return float(count_linear_regions(self.net, self.batches))


def input_channels(net: torch.nn.Module) -> int:
    """Input channels of the first ``Conv2d`` in module order (a stem-less supernet's input width)."""
    first = next((m for m in net.modules() if isinstance(m, torch.nn.Conv2d)), None)
    if first is None:
        raise ValueError(f"{type(net).__name__} has no Conv2d layer to infer its input channels from")
    return first.in_channels


def random_crops(dataset, n: int, size: int, channels: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` normalised crops ``[n, channels, size, size]``: for each, a random image (distinct
    images while ``n`` <= dataset size), a random ``size x size`` window and ``channels`` distinct
    random colour channels (in channel order), normalised by the dataset's mean and std.

    ``dataset`` needs ``images`` (uint8 ``N x C x H x W``), ``mean`` and ``std`` (per channel).
    """
    images = dataset.images
    count, depth, height, width = images.shape
    if size > min(height, width) or channels > depth:
        raise ValueError(f"cannot cut {channels}x{size}x{size} crops from {depth}x{height}x{width} images")
    idx = torch.randperm(count, generator=generator)[:n] if n <= count else torch.randint(count, (n,), generator=generator)
    top = torch.randint(height - size + 1, (n,), generator=generator)
    left = torch.randint(width - size + 1, (n,), generator=generator)
    chan = torch.rand(n, depth, generator=generator).argsort(1)[:, :channels].sort(1).values
    rows = top[:, None] + torch.arange(size)
    cols = left[:, None] + torch.arange(size)
    crops = images[idx[:, None, None, None], chan[:, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
    mean = dataset.mean.reshape(-1)[chan][:, :, None, None]
    std = dataset.std.reshape(-1)[chan][:, :, None, None]
    return (crops.float() / 255.0 - mean) / std
