"""ImageNet for search: an ImageFolder tree (``dataset=imagenet``) and the downsampled pickles (``dataset=imagenet16_120``).

``imagenet``: ``root/train`` and ``root/val`` hold one folder per class (the
torchvision ``ImageFolder`` layout); classes are numbered in sorted folder order.
Images are decoded only when drawn, converted to RGB and resized to
``image_size x image_size`` (bilinear), then padded-cropped and flipped: TE-NAS's
ImageNet search transform is ``Resize((32, 32))``, ``RandomCrop(32, padding=4)``,
``RandomHorizontalFlip`` with the ImageNet mean/std.

``imagenet16_120``: ``root`` holds the downsampled-ImageNet pickles
``train_data_batch_1`` .. ``train_data_batch_10`` and ``val_data``, each a dict
with ``data`` (N x 3·S·S uint8, channel-planar rows: all red, then green, then
blue; S = 16) and 1-based ``labels``. As NAS-Bench-201 does, only labels
1..``num_classes`` are kept and shifted to 0-based; training augmentation is a
2-pixel pad-crop and a flip.
"""
from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from tenas.data.arrays import ArrayDataset
from tenas.errors import TenasError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
IMAGENET16_MEAN = tuple(v / 255 for v in (122.68, 116.66, 104.01))
IMAGENET16_STD = tuple(v / 255 for v in (63.22, 61.26, 65.09))
IMAGENET16_TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_VAL = ("val_data",)


class ImageFolderDataset(ArrayDataset):
    """An ImageFolder tree read lazily (every image decoded and resized when drawn); same sampling API as :class:`ArrayDataset`."""

    def __init__(self, root, image_size: int = 32, pad: int = 4, augment: bool = True, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                 workers: int = 4, name: str = "imagenet"):
        from torchvision.datasets import ImageFolder

        try:
            folder = ImageFolder(str(root))
        except (FileNotFoundError, OSError) as err:
            raise TenasError(f"{name}: no images under {root} ({str(err).splitlines()[0]})") from None
        self.name, self.root, self.classes = name, Path(root), folder.classes
        self.paths = [path for path, _ in folder.samples]
        self.labels = torch.as_tensor([label for _, label in folder.samples], dtype=torch.long)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
        self.num_classes = len(self.classes)
        self.image_size, self.augment, self.pad, self.workers = int(image_size), augment, pad, max(1, int(workers))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (3, self.image_size, self.image_size)

    def _read(self, path: str) -> np.ndarray:
        from PIL import Image

        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((self.image_size, self.image_size), Image.BILINEAR))

    def load_images(self, idx: torch.Tensor) -> torch.Tensor:
        paths = [self.paths[i] for i in idx.tolist()]
        with ThreadPoolExecutor(self.workers) as pool:
            arrays = list(pool.map(self._read, paths))
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_imagenet(root, split: str = "train", image_size: int = 32, augment: bool = True, workers: int = 4) -> ImageFolderDataset:
    """``root/train`` or ``root/val`` (``split``) as an :class:`ImageFolderDataset`."""
    folder = Path(root).expanduser() / split
    if not folder.is_dir():
        raise TenasError(f"ImageNet not found: {folder} is not a folder (dataset.root=DIR must hold train/ and val/, one sub-folder per class)")
    return ImageFolderDataset(folder, image_size=image_size, augment=augment, workers=workers, name=f"imagenet-{split}")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only, so a foreign pickle cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as fh:
            entry = _ArrayUnpickler(fh, encoding="latin1").load()
        data, labels = np.asarray(entry["data"]), np.asarray(entry["labels"], dtype=np.int64)
    except Exception as err:  # not a pickle, wrong contents, disallowed class
        raise TenasError(f"{path}: not a downsampled-ImageNet batch ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    side = int(round((data.shape[-1] / 3) ** 0.5)) if data.ndim == 2 else 0
    if data.dtype != np.uint8 or side == 0 or 3 * side * side != data.shape[1] or len(labels) != len(data):
        raise TenasError(f"{path}: expected 'data' N x 3*S*S uint8 and N 'labels', got {data.dtype} {data.shape} and {labels.shape}")
    return data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1), labels


def load_imagenet16(root, num_classes: int = 120, split: str = "train", augment: bool = True) -> ArrayDataset:
    """The downsampled-ImageNet pickles under ``root`` restricted to labels 1..``num_classes`` (0-based afterwards)."""
    root = Path(root).expanduser()
    files = IMAGENET16_TRAIN if split == "train" else IMAGENET16_VAL
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise TenasError(f"ImageNet16 not found: {root / missing[0]} is missing (dataset.root=DIR must hold train_data_batch_1..10 and val_data)")
    images, labels = [], []
    for f in files:
        x, y = _read_batch(root / f)
        keep = (y >= 1) & (y <= num_classes)
        images.append(x[keep])
        labels.append(y[keep] - 1)
    x, y = np.concatenate(images), np.concatenate(labels)
    if len(x) == 0:
        raise TenasError(f"ImageNet16 under {root}: no {split} image has a label in 1..{num_classes}")
    return ArrayDataset(x, y, IMAGENET16_MEAN, IMAGENET16_STD, num_classes=num_classes, augment=augment, pad=2, name=f"imagenet16_{num_classes}-{split}")
