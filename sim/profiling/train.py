"""Training and evaluation helpers shared by ``sim profile exits`` and ``adaptation``."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from sim.profiling.data import Dataset

CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "contrast", "pixelate")


def to_tensor(x: np.ndarray) -> torch.Tensor:
    """uint8 or float (N, H, W, C) in [0, 255] -> float (N, C, H, W), centred."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).permute(0, 3, 1, 2) / 255.0
    return (t - 0.5) / 0.5


IMPULSE_AMOUNT = (0.03, 0.06, 0.09, 0.17, 0.27)  # ImageNet-C impulse noise, severities 1..5


def impulse_noise(x: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """ImageNet-C impulse noise (salt and pepper, equal odds, on a fraction of the values),
    with a seeded generator: ``corrupt-tta`` calls scikit-image's ``random_noise`` without
    one, which makes that corruption irreproducible."""
    y = np.asarray(x, dtype=np.float64) / 255.0
    hit = rng.random(y.shape) < IMPULSE_AMOUNT[severity - 1]
    salt = rng.random(y.shape) < 0.5
    y[hit & salt], y[hit & ~salt] = 1.0, 0.0
    return y * 255


def corrupt(images: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """ImageNet-C corruption formulas (package ``corrupt-tta``, impulse noise here) applied
    image by image, reproducibly for a seed.

    Grey images are expanded to three channels for the formulas and averaged back."""
    import corrupt_tta

    rng = np.random.default_rng(seed)
    fn = (lambda img, sev: impulse_noise(img, sev, rng)) if corruption == "impulse_noise" \
        else corrupt_tta.corruption_dict[corruption]
    np.random.seed(seed)  # the other formulas draw from numpy's global generator
    grey = images.shape[-1] == 1
    out = np.empty(images.shape, dtype=np.float32)
    for i, img in enumerate(images):
        x = np.repeat(img, 3, axis=-1) if grey else img
        y = np.asarray(fn(x, severity), dtype=np.float32)
        out[i] = y.mean(axis=-1, keepdims=True) if grey else y
    return np.clip(out, 0, 255)


def condition_seed(seed: int, corruption: str, severity: int) -> int:
    return (seed * 1_000_003 + sum(map(ord, corruption)) * 101 + severity) % (2**32)


def train_epoch(forward: Callable, opt, x: torch.Tensor, y: torch.Tensor, batch: int, g: torch.Generator,
                sched=None) -> float:
    """One pass over ``x`` in an order drawn from ``g``: a cross-entropy step of ``opt`` per
    batch (and of ``sched``, if given); returns the summed loss."""
    order = torch.randperm(len(x), generator=g)
    total = 0.0
    for k in range(0, len(x), batch):
        idx = order[k:k + batch]
        opt.zero_grad()
        loss = F.cross_entropy(forward(x[idx]), y[idx])
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
        total += float(loss.detach()) * len(idx)
    return total


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int, lr: float = 2e-3,
        batch: int = 128, forward: Callable | None = None, params=None,
        progress: Callable[[str], None] | None = None, label: str = "") -> None:
    """Cross-entropy training with Adam and a cosine learning-rate decay to zero (so the
    final weights do not depend on the last few noisy steps); ``forward(xb)`` defaults
    to ``model(xb)``."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params if params is not None else model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    forward = forward or model
    model.train()
    for epoch in range(epochs):
        total = train_epoch(forward, opt, x, y, batch, g, sched)
        if progress:
            progress(f"{label} epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}")
    model.eval()


@torch.inference_mode()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[k:k + batch]) for k in range(0, len(x), batch)])


def entropy_nats(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(1)


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the precision-recall curve, as the mean precision at each positive."""
    n_pos = int(positive.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = positive[order].astype(np.float64)
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((precision * hits).sum() / n_pos)


def mean_average_precision(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean over classes present of one-vs-rest average precision."""
    aps = [average_precision(probs[:, c], labels == c) for c in range(probs.shape[1]) if (labels == c).any()]
    return float(np.mean(aps))


def split(data: Dataset, train_n: int, val_n: int, test_n: int, seed: int):
    """Disjoint train / validation subsets of the training set and a test subset."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data.x_train))
    tr, va = order[:train_n], order[train_n:train_n + val_n]
    te = np.sort(rng.permutation(len(data.x_test))[:test_n])
    return tr, va, te
