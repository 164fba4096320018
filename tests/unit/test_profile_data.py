"""Data loaders of `sim profile`: MNIST from the installed package, CIFAR and image folders from disk."""

import pickle

import numpy as np
import pytest

pytest.importorskip("torch")

from sim.profiling.data import DataError, load  # noqa: E402


def test_mnist_ships_in_a_package():
    d = load(None)
    assert d.x_train.shape == (60000, 28, 28, 1) and d.x_test.shape == (10000, 28, 28, 1)
    assert d.classes == 10 and set(np.unique(d.y_test)) == set(range(10)) and len(d.sha256()) == 64


def write_cifar10(root, n=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "labels": rng.integers(0, 10, n).tolist()}, f)


def test_cifar_in_torchvision_format(tmp_path):
    write_cifar10(tmp_path)
    d = load(str(tmp_path))
    assert d.x_train.shape == (100, 32, 32, 3) and d.x_test.shape == (20, 32, 32, 3) and d.classes == 10


def test_image_folder(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for c in ("cat", "dog"):
            (tmp_path / split / c).mkdir(parents=True)
            for k in range(3):
                Image.new("RGB", (50, 40), (k * 40, 0, 0)).save(tmp_path / split / c / f"{k}.png")
    d = load(str(tmp_path))
    assert d.x_train.shape == (6, 64, 64, 3) and d.classes == 2


def test_unreadable_folder(tmp_path):
    with pytest.raises(DataError, match="no cifar-100-python"):
        load(str(tmp_path))


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "impulse_noise", "contrast", "pixelate"])
def test_corruptions_are_reproducible_for_a_seed(name):
    from sim.profiling.train import corrupt

    imgs = load(None).x_test[:20]
    a, b = corrupt(imgs, name, 3, seed=5), corrupt(imgs, name, 3, seed=5)
    assert np.array_equal(a, b) and not np.array_equal(a, imgs.astype(np.float32))
