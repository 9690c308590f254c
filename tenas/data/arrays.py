"""Images held as uint8 arrays (:class:`ArrayDataset`, with TE-NAS's augmentation) and the checks every
image file passes when it is read (:mod:`tenas.data` builds the datasets from them)."""
from __future__ import annotations

import math
from numbers import Real

import numpy as np
import torch

from tenas.errors import TenasError

CHANNELS = (1, 3)  # image channels a dataset may have (grayscale, RGB)
NPZ_FORMAT = "an .npz (np.savez) with 'x' uint8 N x H x W x C (C = 1 or 3) or N x H x W, and 'y' N integer labels"


def check_images(x: np.ndarray, where: str, what: str = "images") -> np.ndarray:
    """``x`` as uint8 ``N x H x W x C`` (an ``N x H x W`` array gains ``C = 1``); a one-line TenasError otherwise."""
    if x.dtype != np.uint8:
        raise TenasError(f"{where}: {what} have dtype {x.dtype}, must be uint8 (pixel values 0..255) N x H x W x C with C = 1 or 3")
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise TenasError(f"{where}: {what} have shape {x.shape}, must be N x H x W x C (C = 1 or 3) or N x H x W")
    if x.shape[-1] not in CHANNELS:
        hint = "; it looks channels-first (N x C x H x W): transpose to N x H x W x C" if x.shape[1] in CHANNELS else ""
        raise TenasError(f"{where}: {what} have shape {x.shape}: {x.shape[-1]} channels, must be N x H x W x C with C = 1 or 3{hint}")
    if 0 in x.shape:
        raise TenasError(f"{where}: {what} are empty (shape {x.shape}); need at least one image of at least 1 x 1 pixels")
    return x


def check_labels(y: np.ndarray, n: int, num_classes, where: str, what: str = "labels", images: str = "images") -> int:
    """Validate integer class labels for ``n`` images; return the number of classes (given, or max label + 1)."""
    if y.ndim != 1:
        raise TenasError(f"{where}: {what} have shape {y.shape}, must be a 1-D array of N integer class labels")
    if y.size == 0:
        raise TenasError(f"{where}: {what} are empty; need one integer class label per image")
    if y.dtype.kind not in "iu":
        raise TenasError(f"{where}: {what} have dtype {y.dtype}, must be integers (class indices 0..num_classes-1)")
    if len(y) != n:
        raise TenasError(f"{where}: {n} {images} but {len(y)} {what}; there must be one label per image")
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise TenasError(f"{where}: num_classes={num_classes!r} must be a positive integer (dataset.num_classes=null counts max label + 1)")
        num_classes = int(num_classes)
    low, high = int(y.min()), int(y.max())
    if low < 0:
        raise TenasError(f"{where}: {what} include {low}; labels must be class indices 0..num_classes-1, never negative")
    if num_classes is not None and high >= num_classes:
        raise TenasError(f"{where}: {what} include {high}, but num_classes={num_classes} allows only 0..{num_classes - 1}")
    return num_classes if num_classes is not None else high + 1


def check_stats(mean, std, channels: int, where: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``mean``/``std`` as ``channels`` finite floats each (``std`` > 0); a one-line TenasError otherwise."""
    out = []
    for key, values in (("mean", mean), ("std", std)):
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TenasError(f"{where}: dataset.{key}={values!r} must be a list of {channels} numbers (one per image channel)")
        values = tuple(values)
        if len(values) != channels:
            raise TenasError(f"{where}: dataset.{key} has {len(values)} value(s) for {channels}-channel images; give {channels} (one per channel)")
        if not all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise TenasError(f"{where}: dataset.{key}={list(values)!r} must hold {channels} finite numbers")
        if key == "std" and min(values) <= 0:
            raise TenasError(f"{where}: dataset.std={list(values)!r} must be > 0 for every channel (images are divided by it)")
        out.append(tuple(float(v) for v in values))
    return out[0], out[1]


class ArrayDataset:
    """Images held as a uint8 ``N x H x W x C`` array, with TE-NAS's training augmentation.

    ``sample(n, generator)`` draws ``n`` distinct images, pads by ``pad`` pixels
    (zeros), takes a random crop of the original size, flips horizontally with
    probability 1/2, and normalises by ``mean``/``std``: the CIFAR training
    transform of TE-NAS, vectorised and driven by ``generator`` only.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std, num_classes: int | None = None, augment: bool = True, pad: int = 4, name: str = "array",
                 array_names: tuple[str, str] = ("images", "labels")):
        images, labels = np.asarray(images), np.asarray(labels)
        what_x, what_y = array_names
        if images.ndim != 4:
            raise TenasError(f"{name}: {what_x} must be uint8 N x H x W x C, got {images.dtype} {images.shape}")
        check_images(images, name, what_x)
        num_classes = check_labels(labels, len(images), num_classes, name, what_y, what_x)
        mean, std = check_stats(mean, std, images.shape[-1], name)
        self.name = name
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()  # N C H W uint8
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.num_classes = num_classes
        self.augment, self.pad = augment, pad

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def sample(self, n: int, generator: torch.Generator, with_labels: bool = False):
        if n > len(self):
            raise TenasError(f"{self.name}: asked for a batch of {n} from {len(self)} images")
        idx = torch.randperm(len(self), generator=generator)[:n]
        return self.take(idx, generator, with_labels)

    def take(self, idx: torch.Tensor, generator: torch.Generator, with_labels: bool = False):
        """The images at ``idx``, augmented (when ``augment``) and normalised; with their labels if asked."""
        x = self.load_images(idx).float().div_(255.0)
        if self.augment:
            x = random_crop_flip(x, self.pad, generator)
        x = (x - self.mean) / self.std
        return (x, self.labels[idx]) if with_labels else x

    def load_images(self, idx: torch.Tensor) -> torch.Tensor:
        """uint8 ``N x C x H x W`` images at ``idx``."""
        return self.images[idx]


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    n, c, h, w = x.shape
    if pad > 0:
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        rows = (dy[:, None] + torch.arange(h)[None, :])  # n h
        cols = (dx[:, None] + torch.arange(w)[None, :])  # n w
        x = padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)
