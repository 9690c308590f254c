"""Datasets for scoring: each draws augmented, normalised batches from a seeded generator.

``build_dataset(cfg)`` dispatches on ``cfg.name``: ``cifar10``/``cifar100``
(torchvision; downloaded on first use when ``download`` is true), ``npz`` (user
data: ``x`` uint8 N x H x W x C with C = 1 or 3, or N x H x W; ``y`` N integer
labels in 0..num_classes-1; checked at load, see :func:`load_npz`), ``synthetic`` (random
images, for smoke runs), ``imagenet`` and ``imagenet16_120`` (see
:mod:`tenas.data.imagenet`). ``split="test"`` gives the held-out images without
augmentation (retraining's final accuracy).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from tenas.data.arrays import NPZ_FORMAT, ArrayDataset, check_images
from tenas.errors import TenasError

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
def load_npz(path, mean=None, std=None, num_classes=None, augment=True, name="npz") -> ArrayDataset:
    """User arrays from an .npz file, checked before use (a one-line TenasError naming the file and the fix).

    Checked: the file exists and is an .npz archive holding ``x`` and ``y``; ``x`` is uint8
    ``N x H x W x C`` with C = 1 or 3 (or ``N x H x W``, grayscale) and not empty; ``y`` is a 1-D
    integer array with one label per image, none negative, all below ``num_classes`` when given;
    ``mean``/``std``, when given, have one finite value per channel and ``std`` > 0.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise TenasError(f"dataset file not found: {path} (set dataset.path=FILE, {NPZ_FORMAT})")
    if not path.is_file():
        raise TenasError(f"{path}: is a folder, not a dataset file (dataset.path=FILE takes {NPZ_FORMAT})")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(6)
        kind = "a single .npy array" if head == b"\x93NUMPY" else ("an empty file" if not head else "not a zip archive")
        raise TenasError(f"{path}: not an .npz dataset ({kind}); dataset.path takes {NPZ_FORMAT}")
    try:
        with np.load(path, allow_pickle=False) as data:
            files = list(data.files)
            missing = [key for key in ("x", "y") if key not in files]
            if missing:
                raise TenasError(f"{path}: an npz dataset needs arrays 'x' and 'y', but {' and '.join(repr(k) for k in missing)} "
                                 f"{'is' if len(missing) == 1 else 'are'} missing (the file holds {files}); allowed: {NPZ_FORMAT}")
            arrays = {}
            for key in ("x", "y"):
                try:
                    arrays[key] = data[key]
                except ValueError as err:
                    if "allow_pickle" not in str(err):
                        raise
                    # an object array needs pickle, which user data never gets
                    raise TenasError(f"{path}: '{key}' is an object (pickled) array; allowed: {NPZ_FORMAT}") from None
                if not isinstance(arrays[key], np.ndarray):  # a zip member that is not a .npy array
                    raise TenasError(f"{path}: not a readable .npz file ('{key}' is not a .npy array inside the zip); allowed: {NPZ_FORMAT}")
    except TenasError:
        raise
    except Exception as err:  # a zip, but not readable as npz (corrupt member, not .npy inside, ...)
        raise TenasError(f"{path}: not a readable .npz file ({type(err).__name__}: {' '.join(str(err).split())[:160]}); allowed: {NPZ_FORMAT}") from None
    x = check_images(arrays["x"], str(path), "'x' images")
    y = arrays["y"]
    channels = x.shape[-1]
    mean = mean if mean is not None else (CIFAR10_MEAN if channels == 3 else (0.5,) * channels)
    std = std if std is not None else (CIFAR10_STD if channels == 3 else (0.25,) * channels)
    return ArrayDataset(x, y, mean, std, num_classes=num_classes, augment=augment, name=str(path), array_names=("'x' images", "'y' labels"))


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


# ----------------------------------------------------------------------------- per-dataset search
#: The NAS-Bench-201 datasets a search can be for: classes, input resolution, pad of the pad-crop augmentation,
#: and the name the benchmark's ground truth uses (tenas.benchmark.DATASETS).
BENCHMARK_DATASETS = {
    "cifar10": {"classes": 10, "size": 32, "pad": 4, "benchmark": "cifar10"},
    "cifar100": {"classes": 100, "size": 32, "pad": 4, "benchmark": "cifar100"},
    "imagenet16_120": {"classes": 120, "size": 16, "pad": 2, "benchmark": "ImageNet16-120"},
}


def benchmark_dataset_name(setting, dataset_name: str) -> str:
    """``benchmark.dataset`` as given, or by default the dataset's own name when it is one of
    :data:`BENCHMARK_DATASETS` (``dataset=cifar100`` searches for CIFAR-100), else ``cifar10``."""
    if setting is not None:
        return str(setting)
    return dataset_name if dataset_name in BENCHMARK_DATASETS else "cifar10"


def for_benchmark(data: ArrayDataset, target: str) -> tuple[ArrayDataset, str | None]:
    """``data`` as the inputs of a search for benchmark dataset ``target``, and a one-line note when it is a
    stand-in (``None`` when it already is that dataset's shape).

    The networks then get ``target``'s class count (the images' labels are kept: a stand-in's labels,
    CIFAR-10's 0..9 for CIFAR-100, are valid classes of the larger head), and images of another size are
    resized to ``target``'s resolution once (a box filter down, as ImageNet16 was made from ImageNet: CIFAR-10
    at 16 px for ImageNet16-120 is the mean of each 2x2 block; bilinear up), padded by ``target``'s pad for
    augmentation. Refused (``TenasError``): a target that is not a benchmark dataset,
    labels of more classes than the target has, and a dataset read lazily whose images are another size.
    """
    if target not in BENCHMARK_DATASETS:
        raise TenasError(f"benchmark.dataset: {target!r} is not a NAS-Bench-201 dataset; allowed: {list(BENCHMARK_DATASETS)}")
    spec = BENCHMARK_DATASETS[target]
    if data.num_classes > spec["classes"]:
        raise TenasError(f"benchmark.dataset: {target} has {spec['classes']} classes, but {data.name}'s labels are of "
                         f"{data.num_classes}; search it for a benchmark dataset with as many classes or more")
    channels, height, width = data.image_shape
    changes = []
    if data.num_classes != spec["classes"]:
        changes.append(f"{data.num_classes}-class labels in a {spec['classes']}-class network")
    if (height, width) != (spec["size"], spec["size"]):
        if not hasattr(data, "images") or type(data) is not ArrayDataset:
            raise TenasError(f"benchmark.dataset: {target} takes {spec['size']}x{spec['size']} images, but {data.name} gives "
                             f"{height}x{width}; set the dataset's image size to {spec['size']}")
        size = (spec["size"], spec["size"])
        smaller = spec["size"] < min(height, width)  # box filter down (how ImageNet16 was made), bilinear up
        x = torch.nn.functional.interpolate(data.images.float(), size=size, mode="area") if smaller else \
            torch.nn.functional.interpolate(data.images.float(), size=size, mode="bilinear", align_corners=False)
        images = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        changes.append(f"{height}x{width} images resized to {spec['size']}x{spec['size']}")
    else:
        images = data.images.permute(0, 2, 3, 1).numpy()
    if not changes:
        return data, None
    view = ArrayDataset(images, data.labels.numpy(), data.mean.flatten().tolist(), data.std.flatten().tolist(), num_classes=spec["classes"],
                        augment=data.augment, pad=spec["pad"] if (height, width) != (spec["size"], spec["size"]) else data.pad,
                        name=f"{data.name} as {target}")
    return view, f"{data.name} stands in for {target}: {', '.join(changes)}"


def search_target(cfg, space) -> str | None:
    """The benchmark dataset a search or study on ``space`` is for (``cfg.benchmark.dataset``, see
    :func:`benchmark_dataset_name`); ``None`` for a space without a benchmark, which refuses a ``benchmark.dataset``."""
    setting = (cfg.get("benchmark") or {}).get("dataset")
    if not space.has_benchmark:
        if setting is not None:
            raise TenasError(f"benchmark.dataset: {space.name} has no benchmark to search for; allowed: null")
        return None
    return benchmark_dataset_name(setting, cfg.dataset.name)


def search_dataset(cfg, space, data: ArrayDataset) -> tuple[ArrayDataset, str | None, str | None]:
    """The inputs of a search or study on ``space`` for its :func:`search_target`: ``(dataset, benchmark dataset,
    stand-in note)``. A space without a benchmark searches the dataset as it is."""
    target = search_target(cfg, space)
    if target is None:
        return data, None, None
    view, note = for_benchmark(data, target)
    return view, target, note
