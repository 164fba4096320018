"""A mergeable latency sketch with a stated relative error (DDSketch's log mapping).

Bucket ``i`` holds the values in ``(gamma^(i-1), gamma^i]`` with
``gamma = (1 + alpha) / (1 - alpha)``; a quantile is answered with the bucket's
representative ``2 gamma^i / (gamma + 1)``, within relative error ``alpha`` of the
exact rank-``floor(q (n - 1))`` order statistic.  Counts are integers, so sketches merge
by addition and the answer does not depend on the order values were added in.
Values at or below ``min_s`` fall in a bucket of their own (answered as 0); values above
``max_s`` are clamped to the last bucket.  One row of counts per key (group x exit).
"""

from __future__ import annotations

import math

import numpy as np

ALPHA = 0.005  # relative accuracy of every latency quantile the simulator reports
MIN_S, MAX_S = 1e-9, 1e9


class LatencySketch:
    def __init__(self, keys: int, alpha: float = ALPHA, min_s: float = MIN_S, max_s: float = MAX_S):
        self.alpha = alpha
        self.gamma = (1 + alpha) / (1 - alpha)
        self.ln_gamma = math.log(self.gamma)
        self.min_s = min_s
        self.offset = math.floor(math.log(min_s) / self.ln_gamma)  # bucket 0: values <= min_s
        self.buckets = math.ceil(math.log(max_s) / self.ln_gamma) - self.offset + 1
        self.counts = np.zeros((keys, self.buckets), dtype=np.int64)

    def index(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            i = np.ceil(np.log(np.maximum(v, self.min_s)) / self.ln_gamma) - self.offset
        i = np.where(v > self.min_s, np.clip(i, 1, self.buckets - 1), 0)
        return i.astype(np.int64)

    def add(self, keys: np.ndarray | int, values: np.ndarray) -> None:
        """Count ``values`` under ``keys`` (an array of the same length, or one key)."""
        if len(values) == 0:
            return
        if np.ndim(keys):  # only the rows of the keys present (the sketch has a row per group and exit)
            keys = np.asarray(keys, dtype=np.int64)
            lo, hi = int(keys.min()), int(keys.max())
            cell = (keys - lo) * self.buckets + self.index(values)
            self.counts[lo:hi + 1] += np.bincount(cell, minlength=(hi - lo + 1) * self.buckets).reshape(
                hi - lo + 1, self.buckets)
        else:
            self.counts[int(keys)] += np.bincount(self.index(values), minlength=self.buckets)

    def value(self, bucket: int) -> float:
        return 0.0 if bucket == 0 else 2 * self.gamma ** (bucket + self.offset) / (self.gamma + 1)

    def quantiles(self, qs, keys=None) -> list[float | None]:
        """Quantiles (``qs`` in [0, 1]) of the values of ``keys`` together (default: all);
        None where there are no values."""
        counts = self.counts if keys is None else self.counts[list(keys)]
        c = counts.sum(axis=0) if counts.ndim == 2 else counts
        n = int(c.sum())
        if n == 0:
            return [None] * len(qs)
        cum = np.cumsum(c)
        out = []
        for q in qs:
            rank = math.floor(q * (n - 1))
            out.append(self.value(int(np.searchsorted(cum, rank + 1))))
        return out

    def count(self, keys=None) -> int:
        counts = self.counts if keys is None else self.counts[list(keys)]
        return int(counts.sum())
