"""Turn a proxy's protocol (``conf/proxy/<name>.yaml``) into scores: the network, the weights, the inputs.

A :class:`ScoringRecipe` is one proxy with its resolved settings. The search scores
alive-sets of a supernet built from ``settings["network"]`` (:class:`ProxyIndicator`);
the study scores each architecture's standalone network built from the same section
(``tenas.evaluate``). Both draw, per repeat, first the weights (``settings["init"]``) and
then the inputs (``settings["inputs"]``) from one ``torch.Generator``, so a seed fixes
every score.

Input kinds (``inputs.kind``), each ``batch_size`` samples per forward and
``num_batches`` forwards (a list of batches is passed when ``num_batches > 1``):

- ``images``: training images, augmented as the dataset augments and normalised;
- ``crops``: TE-NAS's linear-region inputs: per sample a random ``crop_size`` window of a
  random training image, with as many random colour channels as the network's first
  convolution reads, normalised;
- ``noise``: standard Gaussian noise of the images' shape;
- ``ones``: all-ones tensors of the images' shape.

A proxy registered with ``needs_targets`` also receives ``targets=``: the images' labels,
or uniformly random classes for inputs that are not images.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from search_spaces.base import AliveSet, Supernet
from tenas.init import initialise
from tenas.proxies import Proxy, get_proxy, proxy_settings

INPUT_KINDS = ("images", "crops", "noise", "ones")


@dataclass(frozen=True)
class ScoringRecipe:
    """One proxy and the protocol it is scored with (the merged settings of :func:`tenas.proxies.proxy_settings`)."""

    proxy: Proxy
    settings: dict = field(hash=False)

    @classmethod
    def load(cls, name: str, *overrides) -> "ScoringRecipe":
        """``name``'s settings, each of ``overrides`` (dicts or configs; ``None`` skipped) merged on top in turn."""
        from omegaconf import OmegaConf

        merged = OmegaConf.merge(*[OmegaConf.create(o) if not OmegaConf.is_config(o) else o for o in overrides if o]) if any(overrides) else None
        return cls(get_proxy(name), proxy_settings(name, merged))

    @property
    def name(self) -> str:
        return self.proxy.name

    def network_options(self) -> dict:
        """``C``, ``N``, ``stem`` of the scored network, those left ``None`` dropped (the space's default then)."""
        return {k: v for k, v in self.settings["network"].items() if v is not None}

    def check(self, net: nn.Module, dataset) -> None:
        """Raise ``ValueError`` (one line) when this protocol cannot run on ``net`` and ``dataset``."""
        from tenas.init import INIT_METHODS

        spec, where = self.settings["inputs"], f"proxy.{self.name}"
        if self.settings["init"] not in INIT_METHODS:
            raise ValueError(f"{where}.init: {self.settings['init']!r} is not one of {list(INIT_METHODS)}")
        if spec["kind"] not in INPUT_KINDS:
            raise ValueError(f"{where}.inputs.kind: {spec['kind']!r} is not one of {list(INPUT_KINDS)}")
        for key in ("batch_size", "num_batches"):
            if not isinstance(spec[key], int) or isinstance(spec[key], bool) or spec[key] < 1:
                raise ValueError(f"{where}.inputs.{key}: {spec[key]!r} is not a positive integer")
        if spec["batch_size"] < self.proxy.min_batch_size:
            raise ValueError(f"{where}.inputs.batch_size: {spec['batch_size']} is too small: {self.name} needs at least "
                             f"{self.proxy.min_batch_size} samples per forward")
        if spec["kind"] == "images" and spec["batch_size"] > len(dataset):
            raise ValueError(f"{where}.inputs.batch_size: {spec['batch_size']} is more than the dataset's {len(dataset)} images "
                             f"(allowed: {self.proxy.min_batch_size} to {len(dataset)})")
        if spec["kind"] == "crops":
            depth, height, width = dataset.image_shape
            size, channels = spec["crop_size"], input_channels(net)
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= min(height, width):
                raise ValueError(f"{where}.inputs.crop_size: {size!r} must be an integer from 1 to {min(height, width)} (the images are {height}x{width})")
            if channels > depth:
                raise ValueError(f"{where}: the network reads {channels} channels but the images have {depth}")
        if not isinstance(self.settings["options"], dict):
            raise ValueError(f"{where}.options: must be a mapping of keyword options")

    def draw(self, net: nn.Module, dataset, generator: torch.Generator) -> tuple[object, object]:
        """One repeat's inputs and targets (``None`` unless the proxy needs them), on the CPU."""
        spec = self.settings["inputs"]
        batches, targets = [], []
        for _ in range(int(spec["num_batches"])):
            x, y = draw_batch(spec, net, dataset, generator, self.proxy.needs_targets)
            batches.append(x)
            targets.append(y)
        if len(batches) == 1:
            return batches[0], targets[0]
        return batches, (targets if self.proxy.needs_targets else None)

    def score(self, net: nn.Module, inputs, targets) -> float:
        """The proxy on ``net`` with this repeat's inputs and targets (on ``net``'s device) and its options."""
        return self.proxy(net, inputs, **self._options(targets))

    def score_candidates(self, net: nn.Module, inputs, targets, alive_sets) -> list[float]:
        """:meth:`score` of supernet ``net`` under each of ``alive_sets``, in one batched computation."""
        return self.proxy.score_candidates(net, inputs, alive_sets, **self._options(targets))

    def can_batch(self, net: nn.Module) -> bool:
        """Whether :meth:`score_candidates` runs on ``net``: a batched proxy on a supernet that takes op masks."""
        return self.proxy.batched is not None and getattr(net, "supports_op_masks", False)

    def _options(self, targets) -> dict:
        options = dict(self.settings["options"])
        if self.proxy.needs_targets:
            options["targets"] = targets
        return options


def to_device(value, device):
    """A tensor, a list of tensors, or ``None``, moved to ``device``."""
    if value is None:
        return None
    if isinstance(value, list):
        return [v.to(device) for v in value]
    return value.to(device)


def draw_batch(spec: dict, net: nn.Module, dataset, generator: torch.Generator, with_targets: bool):
    """One batch of ``spec["kind"]`` inputs (see the module docstring) and its targets (or ``None``)."""
    kind, n = spec["kind"], int(spec["batch_size"])
    if kind == "images":
        if with_targets:
            return dataset.sample(n, generator, with_labels=True)
        return dataset.sample(n, generator), None
    if kind == "crops":
        x = random_crops(dataset, n, int(spec["crop_size"]), input_channels(net), generator)
    elif kind == "noise":
        x = torch.randn(n, *dataset.image_shape, generator=generator)
    elif kind == "ones":
        x = torch.ones(n, *dataset.image_shape)
    else:
        raise ValueError(f"unknown input kind {kind!r}; known: {list(INPUT_KINDS)}")
    y = torch.randint(dataset.num_classes, (n,), generator=generator) if with_targets else None
    return x, y


def input_channels(net: nn.Module) -> int:
    """Input channels of the first ``Conv2d`` in module order (a stem-less supernet's input width)."""
    first = next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)
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


class ProxyIndicator:
    """Scores alive-sets of one supernet with one proxy (see :class:`tenas.pruning.Indicator`).

    The supernet is built once from the recipe's ``network`` section; each repeat
    re-draws its weights and inputs, which the origin and every candidate of that
    repeat share, unless the protocol's ``schedule`` says otherwise (see
    :func:`tenas.pruning.score_candidates`). ``seconds`` is the wall time spent drawing and scoring.
    """

    def __init__(self, recipe: ScoringRecipe, space, dataset, device="cpu", candidate_batch: int = 1, net: Supernet | None = None):
        """``net``: the supernet, when built already (from the recipe's ``network`` section); built here otherwise."""
        from tenas.pruning import INPUT_SCHEDULES, SHARED_SCHEDULE, WEIGHT_SCHEDULES

        self.recipe, self.dataset, self.device = recipe, dataset, device
        self.name = recipe.name
        self.schedule = {**SHARED_SCHEDULE, **recipe.settings.get("schedule", {})}
        if self.schedule["weights"] not in WEIGHT_SCHEDULES or self.schedule["inputs"] not in INPUT_SCHEDULES:
            raise ValueError(f"proxy.{self.name}.schedule: {self.schedule} is not weights in {list(WEIGHT_SCHEDULES)}, inputs in {list(INPUT_SCHEDULES)}")
        if net is None:
            net = space.build_supernet(num_classes=dataset.num_classes, **recipe.network_options())
        self.net: Supernet = net.to(device)
        recipe.check(self.net, dataset)
        # alive-sets scored per batched computation; 1 (or a proxy or supernet without a batched
        # form): one at a time
        self.candidate_batch = int(candidate_batch) if recipe.can_batch(self.net) else 1
        self.inputs, self.targets = None, None
        self.seconds = 0.0

    def new_repeat(self, generator: torch.Generator) -> None:
        """Draw fresh weights, then fresh inputs."""
        self.new_weights(generator)
        self.new_inputs(generator)

    def new_weights(self, generator: torch.Generator) -> None:
        start = time.perf_counter()
        initialise(self.net, self.recipe.settings["init"], generator)
        self.seconds += time.perf_counter() - start

    def new_inputs(self, generator: torch.Generator) -> None:
        start = time.perf_counter()
        inputs, targets = self.recipe.draw(self.net, self.dataset, generator)
        self.inputs, self.targets = to_device(inputs, self.device), to_device(targets, self.device)
        self.seconds += time.perf_counter() - start

    def score(self, alive_sets: Sequence[AliveSet], progress: Callable[[int], None] | None = None) -> list[float]:
        start = time.perf_counter()
        scores = []
        if self.candidate_batch > 1:
            for first in range(0, len(alive_sets), self.candidate_batch):
                chunk = list(alive_sets[first : first + self.candidate_batch])
                scores.extend(self.recipe.score_candidates(self.net, self.inputs, self.targets, chunk))
                if progress:
                    progress(first + len(chunk) - 1)
        else:
            for i, alive in enumerate(alive_sets):
                with self.net.trying(alive):
                    scores.append(self.recipe.score(self.net, self.inputs, self.targets))
                if progress:
                    progress(i)
        self.seconds += time.perf_counter() - start
        return scores
