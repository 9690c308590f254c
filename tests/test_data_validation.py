"""Every bad user data file fails at load with a one-line TenasError naming the file, the fault and what is allowed."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from tenas.data import build_dataset, load_npz
from tenas.errors import TenasError


def _good(n=4, shape=(8, 8, 3)):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n, dtype=np.int64) % 3


def savez(**arrays):
    def make(path):
        np.savez(path, **arrays)
    return make


def write_bytes(data: bytes):
    def make(path):
        path.write_bytes(data)
    return make


def _npy_renamed(path):
    with open(path, "wb") as fh:  # np.save on a handle keeps the name: an .npy under an .npz name
        np.save(fh, _good()[0])


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", "not an array")
        zf.writestr("y.npy", "nor this")


def _truncated_member(path):
    np.savez(path, x=X, y=Y)
    with zipfile.ZipFile(path) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", members["x.npy"][:200])  # header intact, pixels cut off
        zf.writestr("y.npy", members["y.npy"])


def _folder(path):
    path.mkdir()


def _missing(path):
    pass


X, Y = _good()
X1 = X[..., 0]  # grayscale N x H x W

# (id, how the file is made, load_npz keyword arguments, what the message must say)
BAD = [
    ("missing", _missing, {}, "not found"),
    ("folder", _folder, {}, "is a folder"),
    ("text_file", write_bytes(b"x,y\n1,2\n"), {}, "not an .npz dataset (not a zip archive)"),
    ("empty_file", write_bytes(b""), {}, "empty file"),
    ("npy_not_npz", _npy_renamed, {}, "single .npy array"),
    ("zip_not_npz", _zip_of_text, {}, "not a readable .npz"),
    ("truncated_member", _truncated_member, {}, "not a readable .npz"),
    ("no_x", savez(images=X, y=Y), {}, "'x' is missing"),
    ("no_y", savez(x=X, labels=Y), {}, "'y' is missing"),
    ("no_x_no_y", savez(a=X), {}, "'x' and 'y' are missing"),
    ("x_object", savez(x=np.array([X[0], X[1, :4]], dtype=object), y=Y[:2]), {}, "'x' is an object (pickled) array"),
    ("x_float", savez(x=X.astype(np.float32) / 255, y=Y), {}, "dtype float32, must be uint8"),
    ("x_int64", savez(x=X.astype(np.int64), y=Y), {}, "must be uint8"),
    ("x_2d", savez(x=X.reshape(4, -1), y=Y), {}, "must be N x H x W x C"),
    ("x_5d", savez(x=X[None], y=Y), {}, "must be N x H x W x C"),
    ("x_4_channels", savez(x=np.zeros((4, 8, 8, 4), np.uint8), y=Y), {}, "4 channels, must be N x H x W x C with C = 1 or 3"),
    ("x_channels_first", savez(x=X.transpose(0, 3, 1, 2).copy(), y=Y), {}, "channels-first"),
    ("x_no_images", savez(x=np.zeros((0, 8, 8, 3), np.uint8), y=np.zeros(0, np.int64)), {}, "are empty"),
    ("x_zero_width", savez(x=np.zeros((4, 8, 0, 3), np.uint8), y=Y), {}, "are empty"),
    ("y_float", savez(x=X, y=Y.astype(np.float64)), {}, "dtype float64, must be integers"),
    ("y_bool", savez(x=X, y=Y > 0), {}, "must be integers"),
    ("y_column", savez(x=X, y=Y[:, None]), {}, "must be a 1-D array"),
    ("y_empty", savez(x=X, y=np.zeros(0, np.int64)), {}, "'y' labels are empty"),
    ("y_short", savez(x=X, y=Y[:3]), {}, "4 'x' images but 3 'y' labels"),
    ("y_long", savez(x=X1, y=np.zeros(9, np.int64)), {}, "4 'x' images but 9 'y' labels"),
    ("y_negative", savez(x=X, y=np.array([0, 1, -1, 2])), {}, "include -1"),
    ("y_too_large", savez(x=X, y=np.array([0, 1, 5, 2])), {"num_classes": 3}, "include 5, but num_classes=3 allows only 0..2"),
    ("num_classes_zero", savez(x=X, y=Y), {"num_classes": 0}, "num_classes=0 must be a positive integer"),
    ("mean_length", savez(x=X, y=Y), {"mean": [0.5]}, "dataset.mean has 1 value(s) for 3-channel images"),
    ("std_length_gray", savez(x=X1, y=Y), {"std": [0.2, 0.2, 0.2]}, "dataset.std has 3 value(s) for 1-channel images"),
    ("std_zero", savez(x=X, y=Y), {"std": [0.2, 0.0, 0.2]}, "must be > 0"),
    ("std_negative", savez(x=X1, y=Y), {"std": [-0.1]}, "must be > 0"),
    ("mean_nan", savez(x=X, y=Y), {"mean": [0.5, float("nan"), 0.5]}, "finite numbers"),
    ("std_scalar", savez(x=X, y=Y), {"std": 0.25}, "must be a list of 3 numbers"),
]


@pytest.mark.parametrize("make, kwargs, expected", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_bad_file_is_a_one_line_error_naming_it(tmp_path, make, kwargs, expected):
    path = tmp_path / "data.npz"
    make(path)
    with pytest.raises(TenasError) as err:
        load_npz(path, **kwargs)
    message = str(err.value)
    assert expected in message
    assert str(path) in message
    assert "\n" not in message


def test_checks_apply_through_the_config(tmp_path):
    path = tmp_path / "user.npz"
    np.savez(path, x=X, y=Y)
    cfg = OmegaConf.create({"name": "npz", "path": str(path), "mean": None, "std": [0.2, 0.2, 0], "num_classes": None})
    with pytest.raises(TenasError, match="must be > 0") as err:
        build_dataset(cfg)
    assert str(path) in str(err.value)
    cfg.std = [0.2, 0.2, 0.2]
    cfg.num_classes = 2
    with pytest.raises(TenasError, match="num_classes=2"):
        build_dataset(cfg)
    cfg.num_classes = 3
    assert build_dataset(cfg).num_classes == 3


def test_valid_edge_cases_still_load(tmp_path):
    path = tmp_path / "gray.npz"
    np.savez(path, x=X1, y=Y.astype(np.uint8))  # grayscale N x H x W, unsigned labels
    ds = load_npz(path, num_classes=10)
    assert ds.image_shape == (1, 8, 8) and ds.num_classes == 10 and ds.labels.dtype == torch.long
    assert ds.sample(4, torch.Generator().manual_seed(0)).shape == (4, 1, 8, 8)
    np.savez(tmp_path / "rgb.npz", x=X, y=Y.astype(np.int32))
    ds = load_npz(tmp_path / "rgb.npz", mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    assert ds.num_classes == 3 and torch.equal(ds.labels, torch.as_tensor(Y))
