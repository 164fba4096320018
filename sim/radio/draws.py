"""What the radio draws from a device group's own stream: positions, shadowing, fading
(docs/wireless.md, "Placement").  Every draw uses the stream's uniform and exponential
blocks (:class:`sim.rng.Stream`), so the same seed gives the same devices in both time
drivers."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from sim.errors import TraceError


def normals(stream, k: int) -> np.ndarray:
    """``k`` standard normal draws (Box-Muller: sqrt(2E) cos(2 pi U), E ~ Exp(1), U ~ U(0, 1))."""
    e = stream.exponentials(k, 1.0)
    u = stream.randoms(k)
    return np.sqrt(2.0 * e) * np.cos(2.0 * math.pi * u)


def fading_gains(kind: str, k_factor: float, size: int, stream) -> np.ndarray:
    """``size`` power gains |h|^2 of block fading, mean 1.  ``rayleigh``: |h|^2 ~ Exp(1).
    ``rician`` with K (linear, direct over scattered power): h = sqrt(K/(K+1)) +
    sqrt(1/(K+1)) g, g ~ CN(0, 1) drawn as sqrt(E) e^{j 2 pi U}; mean 1, variance
    (1 + 2K)/(1 + K)^2.  ``k_factor`` is ignored by rayleigh."""
    if kind == "rayleigh":
        return stream.exponentials(size, 1.0)
    if kind != "rician":
        raise ValueError(f"unknown fading kind {kind!r} (rayleigh or rician)")
    e = stream.exponentials(size, 1.0)
    theta = 2.0 * math.pi * stream.randoms(size)
    los, scatter = math.sqrt(k_factor / (k_factor + 1.0)), math.sqrt(1.0 / (k_factor + 1.0))
    r = np.sqrt(e) * scatter
    return (los + r * np.cos(theta)) ** 2 + (r * np.sin(theta)) ** 2


def load_positions(path: Path | str) -> np.ndarray:
    """Distances (m) from a positions CSV: ``#`` lines with at least one ``# source:`` line
    (where the positions come from), then a header with ``distance_m`` or ``x_m,y_m`` (the
    access point at the origin)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise TraceError(path, "(file)", f"cannot read positions: {e.strerror or e}") from None
    if not any(x.startswith("# source") for x in lines):
        raise TraceError(path, "provenance", "missing a '# source: ...' line saying where the positions come from")
    rows = list(csv.DictReader(x for x in lines if x.strip() and not x.startswith("#")))
    if not rows:
        raise TraceError(path, "(rows)", "no positions")
    cols = set(rows[0])
    try:
        if "distance_m" in cols:
            d = np.array([float(r["distance_m"]) for r in rows])
        elif {"x_m", "y_m"} <= cols:
            d = np.hypot([float(r["x_m"]) for r in rows], [float(r["y_m"]) for r in rows])
        else:
            raise TraceError(path, "(header)", f"expected a distance_m column or x_m and y_m, found {sorted(cols)}")
    except (TypeError, ValueError) as e:
        raise TraceError(path, "(rows)", f"not a number: {e}") from None
    if not np.all(np.isfinite(d)) or np.any(d < 0.01) or np.any(d > 1e5):
        raise TraceError(path, "distance_m", "every distance must be finite, in 0.01 .. 100,000 m")
    return d


def distances_m(placement, count: int, stream, base_dir: Path | None = None) -> np.ndarray:
    """Each device's distance from its access point for a placement of ``sim.config``;
    ``uniform_disc`` draws ``count`` uniforms from ``stream``, the others draw nothing."""
    kind = placement.kind
    if kind == "fixed":
        if placement.distances_m is not None:
            d = np.array(placement.distances_m, dtype=float)
        else:
            d = np.hypot(*np.array(placement.points_m, dtype=float).T)
        return np.resize(d, count)
    if kind == "uniform_disc":
        r0, r = placement.min_distance_m, placement.radius_m
        return np.sqrt(r0 ** 2 + stream.randoms(count) * (r ** 2 - r0 ** 2))
    if kind == "ring":
        return np.full(count, float(placement.radius_m))
    path = Path(placement.path)
    d = load_positions(path if base_dir is None or path.is_absolute() else base_dir / path)
    if len(d) > count:
        raise TraceError(path, "(rows)", f"{len(d)} positions for {count} devices (device i takes row i mod the "
                                         "number of rows; the rest would stand unused)")
    return np.resize(d, count)
