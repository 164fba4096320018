"""Trace loaders: read and check trace files, return frozen lookups.

Profiling (``sim profile``) writes traces; the simulator only reads them.  Every
trace file is JSON with a ``format`` tag, a ``provenance`` mapping (how, where and
when it was measured) and its data.  A malformed trace raises :class:`TraceError`
naming the file and the field.

Formats
-------
``sim.timings/1``  ``entries``: one per (model, segment, batch size) with the
    measured latency distribution as ``quantiles_s`` (101 values, the 0th..100th
    percentiles) and optionally ``macs`` and ``param_bytes``.
``sim.accuracy/1``  ``models``: ``{model: {"top1": p}}``, the probability that one
    inference of that model is correct (a constant-accuracy trace).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

PROVENANCE_KEYS = ("command", "date", "hardware")


class TraceError(Exception):
    """A trace that cannot be used; ``str()`` is one line naming file and field."""

    def __init__(self, path: Path | str, field: str, message: str):
        self.path, self.field, self.message = str(path), field, message
        super().__init__(f"{path}: {field}: {message}")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise TraceError(path, "(file)", "no such trace file")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TraceError(path, "(file)", f"not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise TraceError(path, "(file)", "expected a JSON object")
    return data


def _check_header(path: Path, data: dict, fmt: str) -> dict:
    if data.get("format") != fmt:
        raise TraceError(path, "format", f"expected {fmt!r}, found {data.get('format')!r}")
    prov = data.get("provenance")
    if not isinstance(prov, dict):
        raise TraceError(path, "provenance", "missing provenance mapping")
    for key in PROVENANCE_KEYS:
        if not prov.get(key):
            raise TraceError(path, f"provenance.{key}", "missing")
    return prov


def _finite_number(path: Path, where: str, value, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TraceError(path, where, f"expected a finite number, found {value!r}")
    if value < minimum:
        raise TraceError(path, where, f"must be >= {minimum}, found {value!r}")
    return float(value)


@dataclass(frozen=True)
class TimingDistribution:
    """A measured service-time distribution, sampled by inverse-CDF interpolation."""

    model: str
    segment: str
    batch_size: int
    quantiles_s: tuple[float, ...]
    macs: float | None = None
    param_bytes: float | None = None

    @property
    def mean_s(self) -> float:
        q = self.quantiles_s  # trapezoid rule on the inverse CDF
        return sum(q[i] + q[i + 1] for i in range(len(q) - 1)) / (2 * (len(q) - 1))

    def sample(self, u: float) -> float:
        """The service time at uniform draw ``u`` in [0, 1)."""
        q = self.quantiles_s
        x = u * (len(q) - 1)
        i = int(x)
        if i >= len(q) - 1:
            return q[-1]
        return q[i] + (q[i + 1] - q[i]) * (x - i)


@dataclass(frozen=True)
class TimingTrace:
    path: str
    provenance: dict
    entries: dict[tuple[str, str, int], TimingDistribution] = field(repr=False)

    def get(self, model: str, segment: str = "full", batch_size: int = 1) -> TimingDistribution:
        key = (model, segment, batch_size)
        if key not in self.entries:
            known = ", ".join(sorted(f"{m}/{s}/b{b}" for m, s, b in self.entries))
            raise TraceError(self.path, "entries", f"no timing for {model}/{segment}/b{batch_size} (has: {known})")
        return self.entries[key]


def load_timings(path: Path | str) -> TimingTrace:
    path = Path(path)
    data = _read_json(path)
    prov = _check_header(path, data, "sim.timings/1")
    raw = data.get("entries")
    if not isinstance(raw, list) or not raw:
        raise TraceError(path, "entries", "expected a non-empty list")
    entries: dict[tuple[str, str, int], TimingDistribution] = {}
    for i, e in enumerate(raw):
        where = f"entries[{i}]"
        if not isinstance(e, dict):
            raise TraceError(path, where, "expected a mapping")
        for key in ("model", "segment", "batch_size", "quantiles_s"):
            if key not in e:
                raise TraceError(path, f"{where}.{key}", "missing")
        q = e["quantiles_s"]
        if not isinstance(q, list) or len(q) < 2:
            raise TraceError(path, f"{where}.quantiles_s", "expected a list of at least 2 quantiles")
        qs = tuple(_finite_number(path, f"{where}.quantiles_s[{j}]", v) for j, v in enumerate(q))
        if any(b < a for a, b in zip(qs, qs[1:])):
            raise TraceError(path, f"{where}.quantiles_s", "quantiles must be non-decreasing")
        if not isinstance(e["batch_size"], int) or e["batch_size"] < 1:
            raise TraceError(path, f"{where}.batch_size", "expected a positive integer")
        extra = {k: _finite_number(path, f"{where}.{k}", e[k]) for k in ("macs", "param_bytes") if e.get(k) is not None}
        dist = TimingDistribution(str(e["model"]), str(e["segment"]), e["batch_size"], qs, **extra)
        entries[(dist.model, dist.segment, dist.batch_size)] = dist
    return TimingTrace(str(path), prov, entries)


@dataclass(frozen=True)
class AccuracyTrace:
    path: str
    provenance: dict
    top1: dict[str, float] = field(repr=False)

    def accuracy(self, model: str) -> float:
        if model not in self.top1:
            raise TraceError(self.path, "models", f"no accuracy for model {model!r} (has: {', '.join(sorted(self.top1))})")
        return self.top1[model]


def load_accuracy(path: Path | str) -> AccuracyTrace:
    path = Path(path)
    data = _read_json(path)
    prov = _check_header(path, data, "sim.accuracy/1")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise TraceError(path, "models", "expected a non-empty mapping")
    top1 = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or "top1" not in entry:
            raise TraceError(path, f"models.{name}.top1", "missing")
        p = _finite_number(path, f"models.{name}.top1", entry["top1"])
        if p > 1:
            raise TraceError(path, f"models.{name}.top1", f"a probability must be <= 1, found {p}")
        top1[name] = p
    return AccuracyTrace(str(path), prov, top1)

