import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tenas.data import build_dataset, load_npz
from tenas.errors import TenasError
from tests.conftest import write_fake_npz


@pytest.fixture
def cifar10_like_npz(tmp_path):
    """A small npz in the shared CIFAR-10 sample's format, with CIFAR-10-like pixel statistics (no real data needed)."""
    return write_fake_npz(tmp_path / "cifar10_like.npz", num_samples=200, image_size=32)


def test_npz_batches_are_augmented_normalised_and_seeded(cifar10_like_npz):
    ds = load_npz(cifar10_like_npz)
    assert len(ds) == 200 and ds.num_classes == 10 and ds.image_shape == (3, 32, 32)
    a = ds.sample(32, torch.Generator().manual_seed(5))
    b = ds.sample(32, torch.Generator().manual_seed(5))
    c = ds.sample(32, torch.Generator().manual_seed(6))
    assert a.shape == (32, 3, 32, 32) and torch.equal(a, b) and not torch.equal(a, c)
    # normalised with CIFAR-10 statistics: roughly zero mean, unit spread (padding adds some zeros)
    assert abs(float(a.mean())) < 0.3 and 0.7 < float(a.std()) < 1.3


def test_crop_and_flip_move_real_pixels(cifar10_like_npz):
    raw = load_npz(cifar10_like_npz, augment=False)
    aug = load_npz(cifar10_like_npz)
    x0, y0 = raw.sample(64, torch.Generator().manual_seed(1), with_labels=True)
    x1, y1 = aug.sample(64, torch.Generator().manual_seed(1), with_labels=True)
    assert torch.equal(y0, y1)  # same images drawn
    assert not torch.allclose(x0, x1)
    # every augmented image is a shifted (and maybe flipped) window of its original
    for i in range(8):
        match = False
        for flipped in (x1[i], x1[i].flip(2)):
            for dy in range(-4, 5):
                for dx in range(-4, 5):
                    a = flipped[:, max(dy, 0):32 + min(dy, 0), max(dx, 0):32 + min(dx, 0)]
                    b = x0[i][:, max(-dy, 0):32 + min(-dy, 0), max(-dx, 0):32 + min(-dx, 0)]
                    match |= torch.allclose(a, b)
        assert match


def test_bad_npz_files(tmp_path):
    with pytest.raises(TenasError, match="not found"):
        load_npz(tmp_path / "none.npz")
    np.savez(tmp_path / "nox.npz", images=np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(TenasError, match="'x' and 'y'"):
        load_npz(tmp_path / "nox.npz")
    np.savez(tmp_path / "float.npz", x=np.zeros((2, 4, 4, 3), np.float32), y=np.zeros(2))
    with pytest.raises(TenasError, match="uint8"):
        load_npz(tmp_path / "float.npz")
    with pytest.raises(TenasError, match="dataset.path"):
        build_dataset(OmegaConf.create({"name": "npz", "path": None}))
    with pytest.raises(TenasError, match="unknown dataset"):
        build_dataset(OmegaConf.create({"name": "mnist"}))


@pytest.mark.parametrize("download", [True, False])
def test_offline_without_data_is_a_one_line_error(tmp_path, monkeypatch, download):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr(urllib.request.OpenerDirector, "open", offline)
    cfg = OmegaConf.create({"name": "cifar10", "root": str(tmp_path / "data"), "download": download})
    with pytest.raises(TenasError) as err:
        build_dataset(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert "dataset.root=" in message and "dataset=npz" in message
