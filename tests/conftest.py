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
