"""Datasets for scoring: each draws augmented, normalised batches from a seeded generator.

``build_dataset(cfg)`` dispatches on ``cfg.name``: ``cifar10``/``cifar100``
(torchvision; downloaded on first use when ``download`` is true), ``npz`` (user
data: ``x`` uint8 N x H x W x C, ``y`` integer labels), ``synthetic`` (random
images, for smoke runs), ``imagenet`` and ``imagenet16_120`` (see
:mod:`tenas.data.imagenet`). ``split="test"`` gives the held-out images without
augmentation (retraining's final accuracy).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tenas.errors import TenasError

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


class ArrayDataset:
    """Images held as a uint8 ``N x H x W x C`` array, with TE-NAS's training augmentation.

    ``sample(n, generator)`` draws ``n`` distinct images, pads by ``pad`` pixels
    (zeros), takes a random crop of the original size, flips horizontally with
    probability 1/2, and normalises by ``mean``/``std``: the CIFAR training
    transform of TE-NAS, vectorised and driven by ``generator`` only.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, mean, std, num_classes: int | None = None, augment: bool = True, pad: int = 4, name: str = "array"):
        images = np.asarray(images)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise TenasError(f"{name}: images must be uint8 N x H x W x C, got {images.dtype} {images.shape}")
        if len(labels) != len(images):
            raise TenasError(f"{name}: {len(images)} images but {len(labels)} labels")
        self.name = name
        self.images = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()  # N C H W uint8
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        channels = self.images.shape[1]
        if len(mean) != channels or len(std) != channels:
            raise TenasError(f"{name}: mean/std have {len(mean)} entries for {channels}-channel images")
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.num_classes = int(num_classes) if num_classes else int(self.labels.max()) + 1
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


def load_npz(path, mean=None, std=None, num_classes=None, augment=True, name="npz") -> ArrayDataset:
    path = Path(path).expanduser()
    if not path.is_file():
        raise TenasError(f"dataset file not found: {path} (set dataset.path=FILE, an .npz with 'x' uint8 NxHxWxC and 'y' labels)")
    try:
        with np.load(path) as data:
            x, y = data["x"], data["y"]
    except KeyError as err:
        raise TenasError(f"{path}: an npz dataset needs arrays 'x' and 'y' (missing {err})") from None
    except Exception as err:  # not a zip/npz
        raise TenasError(f"{path}: not a readable .npz file ({err})") from None
    if x.ndim == 3:
        x = x[..., None]
    channels = x.shape[-1]
    mean = tuple(mean) if mean is not None else (CIFAR10_MEAN if channels == 3 else (0.5,) * channels)
    std = tuple(std) if std is not None else (CIFAR10_STD if channels == 3 else (0.25,) * channels)
    return ArrayDataset(x, y, mean, std, num_classes=num_classes, augment=augment, name=str(path))


def load_cifar(name: str, root, download: bool = True, augment: bool = True, train: bool = True) -> ArrayDataset:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    root = Path(root).expanduser()
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as err:  # URLError offline, RuntimeError when absent and download=False
        raise TenasError(
            f"{name} not found under {root} and could not be downloaded ({type(err).__name__}); "
            f"point dataset.root=DIR at an extracted copy, or use dataset=npz dataset.path=FILE for local arrays"
        ) from None
    mean, std = (CIFAR10_MEAN, CIFAR10_STD) if name == "cifar10" else (CIFAR100_MEAN, CIFAR100_STD)
    return ArrayDataset(ds.data, np.asarray(ds.targets), mean, std, num_classes=len(ds.classes), augment=augment, name=name)


def synthetic(num_samples: int = 512, image_size: int = 32, channels: int = 3, num_classes: int = 10, seed: int = 0) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(num_samples, image_size, image_size, channels), dtype=np.uint8)
    y = rng.integers(0, num_classes, size=num_samples)
    return ArrayDataset(x, y, (0.5,) * channels, (0.29,) * channels, num_classes=num_classes, name="synthetic")


def build_dataset(cfg, split: str = "train") -> ArrayDataset:
    """Build the dataset a config names (``cfg.name`` plus that kind's options); ``split`` is ``train`` or ``test``."""
    name = cfg.get("name")
    train = split == "train"
    augment = cfg.get("augment", True) and train
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, cfg.get("root", "data"), download=cfg.get("download", True), augment=augment, train=train)
    if name == "npz":
        key = "path" if train else "test_path"
        if not cfg.get(key):
            raise TenasError(f"dataset=npz needs dataset.{key}=FILE (an .npz with 'x' uint8 NxHxWxC and 'y' labels)")
        return load_npz(cfg.get(key), cfg.get("mean"), cfg.get("std"), cfg.get("num_classes"), augment=augment)
    if name == "synthetic":
        seed = cfg.get("seed", 0) + (0 if train else 1)
        data = synthetic(cfg.get("num_samples", 512), cfg.get("image_size", 32), cfg.get("channels", 3), cfg.get("num_classes", 10), seed)
        data.augment = augment
        return data
    if name in ("imagenet", "imagenet16_120"):
        from tenas.data.imagenet import load_imagenet, load_imagenet16

        if name == "imagenet":
            return load_imagenet(cfg.get("root"), "train" if train else "val", cfg.get("image_size", 32), augment, cfg.get("workers", 4))
        return load_imagenet16(cfg.get("root"), cfg.get("num_classes", 120), "train" if train else "val", augment)
    raise TenasError(f"unknown dataset {name!r}; choose cifar10, cifar100, npz, synthetic, imagenet or imagenet16_120")
