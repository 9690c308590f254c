"""Shared fixtures: real data from ../shared/data (skipped with a reason when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        pytest.skip(f"shared data file {path} is absent (tests on real data need ../shared/data beside the repo)")
    return path


@pytest.fixture
def cifar10_npz() -> Path:
    return shared_file("cifar10/cifar10_train_first4000.npz")


@pytest.fixture
def nb201_csv() -> Path:
    return shared_file("nb201/nb201_hp200_test_acc.csv")


# ----------------------------------------------------------------------------- small stand-ins written to tmp_path
# For tests whose point is not the real data: they run (never skip) without ../shared/data.
CIFAR10_LIKE_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_LIKE_STD = (0.2470, 0.2435, 0.2616)
NB201_COLUMNS = ["index", "arch_str", "ops_nb201_order", "cifar10_test", "cifar100_test", "imagenet16_120_test"]


def write_fake_npz(path, num_samples: int = 64, image_size: int = 32, num_classes: int = 10, seed: int = 0) -> Path:
    """An npz in the shared CIFAR-10 sample's format (``x`` uint8 N x H x W x 3, ``y`` int labels) whose
    pixels have roughly CIFAR-10's per-channel mean and spread, so CIFAR-10 normalisation gives ~N(0, 1)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    mean = np.asarray(CIFAR10_LIKE_MEAN) * 255
    std = np.asarray(CIFAR10_LIKE_STD) * 255
    x = rng.normal(mean, std, size=(num_samples, image_size, image_size, 3)).clip(0, 255).round().astype(np.uint8)
    y = rng.integers(0, num_classes, size=num_samples)
    path = Path(path)
    np.savez(path, x=x, y=y)
    return path


def write_fake_nb201_table(path, rows: int = 40, seed: int = 0):
    """A CSV with the NAS-Bench-201 table's columns: ``rows`` distinct random cells, random accuracies."""
    import numpy as np
    import pandas as pd

    from search_spaces.nasbench201 import OP_NAMES, format_arch

    rng = np.random.default_rng(seed)
    cells = []
    while len(cells) < rows:
        ops = tuple(rng.integers(0, len(OP_NAMES), size=6))
        if ops not in cells:
            cells.append(ops)
    acc = rng.uniform(10, 94, size=(rows, 3)).round(4)
    table = pd.DataFrame({
        "index": range(rows),
        "arch_str": [format_arch([OP_NAMES[k] for k in ops]) for ops in cells],
        "ops_nb201_order": [int("".join(str(k) for k in ops)) for ops in cells],  # an int, as in the real table
        "cifar10_test": acc[:, 0], "cifar100_test": acc[:, 1], "imagenet16_120_test": acc[:, 2],
    })[NB201_COLUMNS]
    table.to_csv(path, index=False)
    return table


@pytest.fixture
def fake_cifar10_npz(tmp_path) -> Path:
    return write_fake_npz(tmp_path / "fake_cifar10.npz")


@pytest.fixture
def fake_nb201_csv(tmp_path) -> Path:
    write_fake_nb201_table(tmp_path / "fake_nb201.csv")
    return tmp_path / "fake_nb201.csv"
