"""The ``dataset`` section's settings, one table per dataset, and the checks that build the dataset (its
files opened and their contents checked) before any work."""
from __future__ import annotations

from tenas.data import build_dataset, search_dataset
from tenas.errors import TenasError
from tenas.schema import Setting, check_names, check_table, lookup


DATASETS = {
    "cifar10": (Setting("root", "path"), Setting("download", "bool", required=False), Setting("augment", "bool", required=False)),
    "cifar100": (Setting("root", "path"), Setting("download", "bool", required=False), Setting("augment", "bool", required=False)),
    "npz": (
        Setting("path", "path", hint="an .npz with x uint8 N x H x W x C and y integer labels"),
        Setting("test_path", "path", null=True, required=False),
        Setting("num_classes", "int", 1, null=True, required=False, hint="null = max label + 1"),
        Setting("augment", "bool", required=False),
    ),
    "synthetic": (
        Setting("num_samples", "int", 1),
        Setting("image_size", "int", 1, 1024),
        Setting("channels", "int", choices=(1, 3)),
        Setting("num_classes", "int", 1),
        Setting("seed", "int", 0, required=False),
        Setting("augment", "bool", required=False),
    ),
    "imagenet": (
        Setting("root", "path"),
        Setting("image_size", "int", 1, 1024),
        Setting("workers", "int", 1, hint="threads decoding the images of one batch"),
        Setting("augment", "bool", required=False),
    ),
    "imagenet16_120": (
        Setting("root", "path"),
        Setting("num_classes", "int", 1, 1000),
        Setting("augment", "bool", required=False),
    ),
}

#: The setting that names a dataset's files (what a load error is reported against).
DATASET_FILES = {"npz": "path", "cifar10": "root", "cifar100": "root", "imagenet": "root", "imagenet16_120": "root"}


def check_dataset(cfg, split: str = "train"):
    """The dataset section's table, then the dataset built (files opened and their contents checked)."""

    name = lookup(cfg, "dataset.name")
    check_names("dataset.name", name, DATASETS, "dataset")
    check_table(cfg, DATASETS[name], prefix="dataset.")
    key = "dataset." + ("test_path" if split == "test" else DATASET_FILES.get(name, "name"))
    if name == "synthetic":
        key = "dataset"
    try:
        return build_dataset(cfg.dataset, split=split)
    except TenasError as err:
        raise TenasError(f"{key}: {err}") from None

def check_search_dataset(cfg, space):
    """The dataset built and turned into the inputs of a search for ``benchmark.dataset`` (a mismatch refused)."""

    return search_dataset(cfg, space, check_dataset(cfg))[0]
