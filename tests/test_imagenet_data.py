import os
import pickle

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

from tenas import CONF_DIR
from tenas.data import build_dataset
from tenas.data.imagenet import IMAGENET16_MEAN, IMAGENET16_STD, IMAGENET_MEAN, IMAGENET_STD
from tenas.errors import TenasError
from tests.conftest import REPO, shared_file

CLASSES = ("n01440764", "n01443537", "n01484850")


def compose_dataset(overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="search", overrides=overrides).dataset


@pytest.fixture
def imagenet_tree(tmp_path):
    """root/{train,val}/<wnid>/*.JPEG|png from real CIFAR-10 images, some enlarged to odd sizes."""
    data = np.load(shared_file("cifar10/cifar10_train_first4000.npz"))
    x = data["x"]
    k = 0
    for split, per_class in (("train", 4), ("val", 2)):
        for c, wnid in enumerate(CLASSES):
            folder = tmp_path / split / wnid
            folder.mkdir(parents=True)
            for i in range(per_class):
                image = Image.fromarray(x[k])
                if i % 2:  # a larger, non-square JPEG, as real ImageNet files are
                    image.resize((48, 40), Image.BICUBIC).save(folder / f"{wnid}_{i}.JPEG", quality=95)
                else:
                    image.save(folder / f"{wnid}_{i}.png")
                k += 1
    return tmp_path, x


def test_imagefolder_tree_is_read_resized_and_labelled_by_class_folder(imagenet_tree):
    root, x = imagenet_tree
    cfg = compose_dataset(["dataset=imagenet", f"dataset.root={root}"])
    ds = build_dataset(cfg)
    assert len(ds) == 12 and ds.num_classes == 3 and ds.image_shape == (3, 32, 32)
    batch, labels = ds.sample(8, torch.Generator().manual_seed(0), with_labels=True)
    assert batch.shape == (8, 3, 32, 32) and torch.isfinite(batch).all() and set(labels.tolist()) <= {0, 1, 2}
    assert ds.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    # without augmentation a 32x32 png comes back exactly, normalised with the ImageNet statistics
    plain = build_dataset(compose_dataset(["dataset=imagenet", f"dataset.root={root}", "dataset.augment=false"]))
    first = plain.take(torch.tensor([0]), torch.Generator())
    expected = (torch.from_numpy(x[0]).permute(2, 0, 1).float() / 255 - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    torch.testing.assert_close(first[0], expected)
    # the enlarged JPEGs are resized back to image_size
    small = build_dataset(compose_dataset(["dataset=imagenet", f"dataset.root={root}", "dataset.image_size=16"]))
    assert small.sample(4, torch.Generator().manual_seed(1)).shape == (4, 3, 16, 16)
    val = build_dataset(cfg, split="test")
    assert len(val) == 6 and not val.augment and val.labels.tolist() == [0, 0, 1, 1, 2, 2]


def test_imagenet_paths_that_are_wrong_give_one_line_errors(tmp_path):
    with pytest.raises(TenasError, match="ImageNet not found: .*train is not a folder") as err:
        build_dataset(compose_dataset(["dataset=imagenet", f"dataset.root={tmp_path / 'nowhere'}"]))
    assert "\n" not in str(err.value)
    (tmp_path / "train" / "n01").mkdir(parents=True)
    (tmp_path / "train" / "n01" / "readme.txt").write_text("no images here")
    with pytest.raises(TenasError, match="no images under") as err:
        build_dataset(compose_dataset(["dataset=imagenet", f"dataset.root={tmp_path}"]))
    assert "\n" not in str(err.value)


def write_batch(path, images_hwc, labels, **extra):
    rows = images_hwc.transpose(0, 3, 1, 2).reshape(len(images_hwc), -1)  # channel-planar rows
    with open(path, "wb") as fh:
        pickle.dump({"data": rows, "labels": list(labels), **extra}, fh)


@pytest.fixture
def imagenet16_root(tmp_path):
    """The published layout: train_data_batch_1..10 and val_data, 1-based labels over 1000 classes."""
    x = np.load(shared_file("imagenet16/imagenet_val_20_16x16.npz"))["x"]
    labels = []
    for i in range(1, 11):
        batch_labels = [i * 11, 120 + i * 3]  # one kept (<= 120), one dropped per batch
        write_batch(tmp_path / f"train_data_batch_{i}", x[2 * i - 2: 2 * i], batch_labels, mean=np.zeros(768))
        labels += batch_labels
    write_batch(tmp_path / "val_data", x, [1 + 60 * (i % 3) for i in range(20)])
    return tmp_path, x, labels


def test_imagenet16_pickles_are_filtered_to_120_classes(imagenet16_root):
    root, x, labels = imagenet16_root
    cfg = compose_dataset(["dataset=imagenet16_120", f"dataset.root={root}"])
    ds = build_dataset(cfg)
    kept = [i for i, label in enumerate(labels) if label <= 120]
    assert len(ds) == 10 and ds.num_classes == 120 and ds.image_shape == (3, 16, 16)
    assert ds.labels.tolist() == [labels[i] - 1 for i in kept]
    assert np.array_equal(ds.images.permute(0, 2, 3, 1).numpy(), x[kept])  # channel-planar rows decoded to the same pixels
    batch = ds.sample(4, torch.Generator().manual_seed(0))
    assert batch.shape == (4, 3, 16, 16) and ds.pad == 2
    assert torch.allclose(ds.mean.flatten(), torch.tensor(IMAGENET16_MEAN)) and torch.allclose(ds.std.flatten(), torch.tensor(IMAGENET16_STD))
    val = build_dataset(cfg, split="test")
    assert len(val) == 14 and set(val.labels.tolist()) == {0, 60} and not val.augment  # label 121 dropped


def test_imagenet16_problems_give_one_line_errors(imagenet16_root, tmp_path_factory):
    root, x, _ = imagenet16_root
    cfg = compose_dataset(["dataset=imagenet16_120", f"dataset.root={root}"])
    os.remove(root / "train_data_batch_7")
    with pytest.raises(TenasError, match="train_data_batch_7 is missing"):
        build_dataset(cfg)
    with open(root / "train_data_batch_7", "wb") as fh:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, fh)
    with pytest.raises(TenasError, match="expected 'data' N x 3\\*S\\*S uint8"):
        build_dataset(cfg)
    marker = tmp_path_factory.mktemp("marker") / "ran"

    class Evil:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    with open(root / "train_data_batch_7", "wb") as fh:
        pickle.dump({"data": Evil(), "labels": [1]}, fh)
    with pytest.raises(TenasError, match="refusing to load") as err:
        build_dataset(cfg)
    assert not marker.exists() and "\n" not in str(err.value)
