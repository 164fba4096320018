"""Trace loaders: read and check trace files, return frozen lookups.

Profiling (``sim profile``) writes traces; the simulator only reads them.  Every
trace file is JSON with a ``format`` tag, a ``provenance`` mapping (how, where and
when it was measured) and its data.  A malformed trace raises :class:`TraceError`
naming the file and the field.

Formats
-------
``sim.timings/1``  ``entries``: one per (model, segment, batch size, precision) with the
    measured latency distribution as ``quantiles_s`` (101 values, the 0th..100th
    percentiles) and optionally ``macs``, ``param_bytes`` and ``precision`` (the arithmetic
    the segment ran in: ``fp32``, the default, or ``int8``).
``sim.accuracy/1``  ``models``: ``{model: {"top1": p}}``, the probability that one
    inference of that model is correct (a constant-accuracy trace).
``sim.exits/1``  Parquet, one row per test input and condition (corruption,
    severity): main-block entropy and confidence, predictions and correctness at the
    main block, the extension block and the cloud model; format, provenance, network
    description and the network's own measured accuracy in the ``sim`` metadata key.
    Optionally an ``adapted_samples`` column: rows with N > 0 are the records of the
    device blocks adapted to that condition on N of its samples (``adaptation`` and
    ``stream_filters`` in the metadata), 0 the blocks as trained.
``sim.adaptation/1``  JSON: ``surface`` rows (accuracy and mAP per condition, uploaded
    samples D and delivered fraction phi), per-batch ``curves`` and ``stream_filters``
    (per-sample entropy and redundancy inputs of CEMA's upload filters).
``sim.payloads/1``  JSON: per architecture the tensors a model update delivers, in
    delivery order, with element counts and roles (normalisation affine, normalisation
    statistics, other parameters): payload sizes at fp32, fp16 and int8 are computed from them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sim.errors import TraceError  # noqa: F401  (defined with the other errors; importable from here too)

PROVENANCE_KEYS = ("command", "date", "hardware")


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


TIMED_PRECISIONS = ("fp32", "int8")  # precisions with CPU kernels to time (`sim profile timings --precisions`)
MAX_TIMING_S = 3600.0  # one measured inference or batch: more is a unit error, not a measurement


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
    precision: str = "fp32"

    @property
    def mean_s(self) -> float:
        q = self.quantiles_s  # trapezoid rule on the inverse CDF
        return sum(q[i] + q[i + 1] for i in range(len(q) - 1)) / (2 * (len(q) - 1))

    def __post_init__(self):
        # for sample_many: the quantiles and the steps between them as arrays
        q = np.asarray(self.quantiles_s, dtype=float)
        object.__setattr__(self, "_q", q)
        object.__setattr__(self, "_dq", np.diff(q))

    def sample_many(self, u):
        """Service times at an array of uniform draws: the values :meth:`sample` gives one
        at a time, bit for bit (the same interpolation on the uniform grid of quantiles)."""
        q, dq = self._q, self._dq
        x = np.asarray(u, dtype=float) * (len(q) - 1)
        if len(q) == 1:
            return np.full(x.shape, q[0])
        i = x.astype(np.intp)
        np.minimum(i, len(q) - 2, out=i)
        return q[i] + dq[i] * (x - i)

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
    entries: dict[tuple[str, str, int, str], TimingDistribution] = field(repr=False)  # (model, segment, batch, precision)

    def get(self, model: str, segment: str = "full", batch_size: int = 1, precision: str = "fp32") -> TimingDistribution:
        key = (model, segment, batch_size, precision)
        if key not in self.entries:
            known = ", ".join(sorted(f"{m}/{s}/b{b}" + ("" if p == "fp32" else f"/{p}") for m, s, b, p in self.entries))
            at = "" if precision == "fp32" else f" at {precision}"
            raise TraceError(self.path, "entries", f"no timing for {model}/{segment}/b{batch_size}{at} (has: {known})")
        return self.entries[key]

    def measured_at(self, model: str, segment: str, batch_size: int, precision: str) -> TimingDistribution:
        """The entry measured at ``precision`` where the trace has one, else the fp32 entry
        (int4 and binary have no CPU kernels to time: always the fp32 entry)."""
        key = (model, segment, batch_size, precision)
        return self.entries[key] if key in self.entries else self.get(model, segment, batch_size)


def load_timings(path: Path | str) -> TimingTrace:
    path = Path(path)
    data = _read_json(path)
    prov = _check_header(path, data, "sim.timings/1")
    raw = data.get("entries")
    if not isinstance(raw, list) or not raw:
        raise TraceError(path, "entries", "expected a non-empty list")
    entries: dict[tuple[str, str, int, str], TimingDistribution] = {}
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
        if qs[-1] <= 0:
            raise TraceError(path, f"{where}.quantiles_s", "all zero: a measured time is positive")
        if qs[-1] > MAX_TIMING_S:
            raise TraceError(path, f"{where}.quantiles_s", f"{qs[-1]:g} s for one inference (at most "
                                                            f"{MAX_TIMING_S:g} s; wrong unit?)")
        if not isinstance(e["batch_size"], int) or e["batch_size"] < 1:
            raise TraceError(path, f"{where}.batch_size", "expected a positive integer")
        extra = {k: _finite_number(path, f"{where}.{k}", e[k]) for k in ("macs", "param_bytes") if e.get(k) is not None}
        precision = e.get("precision", "fp32")
        if precision not in TIMED_PRECISIONS:
            raise TraceError(path, f"{where}.precision", f"unknown precision {precision!r} ({', '.join(TIMED_PRECISIONS)})")
        dist = TimingDistribution(str(e["model"]), str(e["segment"]), e["batch_size"], qs, precision=precision, **extra)
        key = (dist.model, dist.segment, dist.batch_size, precision)
        if key in entries:
            raise TraceError(path, where, f"a second entry for {'/'.join(map(str, key))}")
        entries[key] = dist
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


def _json_mapping(path: Path, schema: str, key: str) -> tuple[dict, dict]:
    """A JSON trace of ``schema``: its provenance and its non-empty mapping ``key``."""
    data = _read_json(path)
    prov = _check_header(path, data, schema)
    entries = data.get(key)
    if not isinstance(entries, dict) or not entries:
        raise TraceError(path, key, "expected a non-empty mapping")
    return prov, entries


def load_accuracy(path: Path | str) -> AccuracyTrace:
    path = Path(path)
    prov, models = _json_mapping(path, "sim.accuracy/1", "models")
    top1 = {}
    for name, entry in models.items():
        if not isinstance(entry, dict) or "top1" not in entry:
            raise TraceError(path, f"models.{name}.top1", "missing")
        p = _finite_number(path, f"models.{name}.top1", entry["top1"])
        if p > 1:
            raise TraceError(path, f"models.{name}.top1", f"a probability must be <= 1, found {p}")
        top1[name] = p
    return AccuracyTrace(str(path), prov, top1)


# --------------------------------------------------------------------------- exit records

EXIT_COLUMNS = {  # column -> kind: f = float in [lo, hi], i = integer class, b = bool, s = string
    "corruption": "s", "severity": "i", "sample_id": "i", "true_class": "c", "hard": "b", "main_pred_hard": "b",
    "main_entropy_nats": "e", "main_confidence": "p", "main_pred": "c", "main_correct": "b",
    "ext_entropy_nats": "e", "ext_confidence": "p", "ext_pred": "c", "ext_correct": "b",
    "cloud_confidence": "p", "cloud_pred": "c", "cloud_correct": "b",
}


@dataclass(frozen=True)
class ExitCondition:
    """The exit records of one condition (corruption and severity) as numpy arrays."""

    corruption: str
    severity: int
    columns: dict = field(repr=False)

    def __len__(self) -> int:
        return len(self.columns["sample_id"])

    def __getitem__(self, name: str):
        return self.columns[name]


@dataclass(frozen=True)
class ExitRecords:
    path: str
    provenance: dict
    network: dict
    classes: int
    measured: dict
    conditions: dict[str, ExitCondition] = field(repr=False)
    # condition key -> {samples N: records of the blocks adapted to that condition on N of its samples}
    adapted: dict[str, dict[int, ExitCondition]] = field(default_factory=dict, repr=False)
    adaptation: dict = field(default_factory=dict, repr=False)  # how they were adapted, the payload bytes
    filters: dict = field(default_factory=dict, repr=False)  # condition -> CEMA filter inputs of the stream
    # precision (int8, int4, binary) -> condition key -> records of the device blocks at that precision
    low_precision: dict[str, dict[str, ExitCondition]] = field(default_factory=dict, repr=False)
    # precision -> MACs per input of the layers its device blocks keep in floating point (main, adaptive, extension)
    float_macs: dict[str, tuple[float, float, float]] = field(default_factory=dict, repr=False)

    def condition(self, corruption: str = "clean", severity: int = 0, precision: str = "fp32") -> ExitCondition:
        key = f"{corruption}/{severity}"
        if precision != "fp32":
            if precision not in self.low_precision:
                has = ", ".join(["fp32", *sorted(self.low_precision)])
                raise TraceError(self.path, "precision", f"no records of the device blocks at {precision} (has: {has}; "
                                                         "`sim profile exits --precisions`)")
            got = self.low_precision[precision]
            if key not in got:
                raise TraceError(self.path, "corruption/severity",
                                 f"no {precision} records for {key} (has: {', '.join(sorted(got))})")
            return got[key]
        if key not in self.conditions:
            raise TraceError(self.path, "corruption/severity",
                             f"no records for {key} (has: {', '.join(sorted(self.conditions))})")
        return self.conditions[key]

    def adapted_grid(self, key: str) -> tuple[int, ...]:
        """The sample counts N with records of blocks adapted to condition ``key`` (raises if none)."""
        if not self.adapted.get(key):
            has = ", ".join(sorted(self.adapted)) or "none"
            raise TraceError(self.path, "adapted_samples", f"no records of blocks adapted to {key} (adapted to: "
                                                           f"{has}; `sim profile exits --adapt-samples`)")
        return tuple(sorted(self.adapted[key]))


def load_exits(path: Path | str) -> ExitRecords:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise TraceError(path, "(file)", "no such trace file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise TraceError(path, "(file)", f"not a Parquet file: {e}") from None
    raw = (table.schema.metadata or {}).get(b"sim")
    if raw is None:
        raise TraceError(path, "(metadata)", "missing 'sim' metadata (format and provenance)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError:
        raise TraceError(path, "(metadata)", "'sim' metadata is not JSON") from None
    prov = _check_header(path, meta, "sim.exits/1")
    classes = meta.get("classes")
    if not isinstance(classes, int) or classes < 2:
        raise TraceError(path, "classes", f"expected an integer >= 2, found {classes!r}")
    cols = {}
    for name, kind in EXIT_COLUMNS.items():
        if name not in table.column_names:
            raise TraceError(path, name, "missing column")
        a = table.column(name).to_numpy()
        if kind in "ep":
            if not np.issubdtype(a.dtype, np.floating) or not np.isfinite(a).all():
                raise TraceError(path, name, "expected finite floating-point values (NaN or infinity found)")
            hi = 1.0 + 1e-6 if kind == "p" else math.log(classes) + 1e-4
            if (a < -1e-6).any() or (a > hi).any():
                unit = "a probability in [0, 1]" if kind == "p" else f"entropy in nats within [0, ln {classes}]"
                raise TraceError(path, name, f"values outside {unit} (wrong unit?)")
        elif kind == "c" and (not np.issubdtype(a.dtype, np.integer) or (a < 0).any() or (a >= classes).any()):
            raise TraceError(path, name, f"expected class indices in [0, {classes})")
        elif kind == "b" and a.dtype != bool:
            raise TraceError(path, name, "expected booleans")
        cols[name] = a
    keys = np.char.add(np.char.add(cols["corruption"].astype(str), "/"), cols["severity"].astype(str))
    if "adapted_samples" in table.column_names:
        n = table.column("adapted_samples").to_numpy()
        if not np.issubdtype(n.dtype, np.integer) or (n < 0).any():
            raise TraceError(path, "adapted_samples", "expected non-negative integers (samples adapted on)")
    else:
        n = np.zeros(len(keys), dtype=np.int64)
    low: dict[str, dict[str, ExitCondition]] = {}
    if "precision" in table.column_names:  # records of low-precision device blocks beside the fp32 ones
        prec = table.column("precision").to_numpy(zero_copy_only=False).astype(str)
        unknown = sorted(set(prec.tolist()) - {"fp32", "int8", "int4", "binary"})
        if unknown:
            raise TraceError(path, "precision", f"unknown precision {unknown[0]!r} (fp32, int8, int4, binary)")
        if ((prec != "fp32") & (n != 0)).any():
            raise TraceError(path, "precision", "adapted records must be fp32")
        for p in sorted(set(prec.tolist()) - {"fp32"}):
            for key in dict.fromkeys(keys[prec == p].tolist()):
                mask = (keys == key) & (prec == p)
                corruption, severity = key.rsplit("/", 1)
                low.setdefault(p, {})[key] = ExitCondition(corruption, int(severity),
                                                           {k: v[mask] for k, v in cols.items()})
        fp32 = prec == "fp32"
        cols, keys, n = {k: v[fp32] for k, v in cols.items()}, keys[fp32], n[fp32]
    conditions, adapted = {}, {}
    for key in dict.fromkeys(keys.tolist()):
        corruption, severity = key.rsplit("/", 1)
        for samples in sorted(set(n[keys == key].tolist())):
            mask = (keys == key) & (n == samples)
            rec = ExitCondition(corruption, int(severity), {k: v[mask] for k, v in cols.items()})
            if samples:
                adapted.setdefault(key, {})[int(samples)] = rec
            else:
                conditions[key] = rec
        if key in adapted and key not in conditions:
            raise TraceError(path, "adapted_samples", f"{key} has adapted records but none of the blocks as trained")
        if key in adapted and any(not np.array_equal(r["sample_id"], conditions[key]["sample_id"])
                                  for r in adapted[key].values()):
            raise TraceError(path, "sample_id", f"{key}: adapted records are not of the same inputs as the others")
    adaptation = meta.get("adaptation", {})
    if adapted and not isinstance(adaptation.get("payload_bytes"), int):
        raise TraceError(path, "(metadata).adaptation.payload_bytes", "missing: the bytes an update delivers")
    filters = meta.get("stream_filters", {})
    for cond, f in filters.items():
        for k in ("entropy_nats", "cosine_to_average"):
            values = f.get(k) if isinstance(f, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise TraceError(path, f"(metadata).stream_filters.{cond}.{k}", "expected a list of finite numbers")
    for p, got in low.items():
        for key, rec in got.items():
            if key not in conditions or not np.array_equal(rec["sample_id"], conditions[key]["sample_id"]):
                raise TraceError(path, "sample_id", f"{key}: {p} records are not of the same inputs as the fp32 ones")
    float_macs = {}
    for p, info in ((meta.get("precisions") or {}).get("measured") or {}).items():
        if not isinstance(info, dict) or not info.get("layers_in_float"):
            continue
        where = f"(metadata).precisions.measured.{p}.float_macs"
        got = info.get("float_macs")
        if not isinstance(got, dict) or any(not isinstance(got.get(b), (int, float)) or not 0 <= got[b] < 1e15
                                            for b in ("main", "adaptive", "extension")):
            raise TraceError(path, where, "missing or not MAC counts per block (main, adaptive, extension): the "
                                          "layers kept in floating point are charged at fp32 (regenerate the trace)")
        float_macs[p] = (float(got["main"]), float(got["adaptive"]), float(got["extension"]))
    return ExitRecords(str(path), prov, meta.get("network", {}), classes, meta.get("measured_meanet", {}), conditions,
                       adapted, adaptation, filters, low, float_macs)


# --------------------------------------------------------------------------- adaptation surfaces

CEMA_ENTROPY_FRACTION = 0.4  # CEMA: E_max = 0.4 ln(classes) [paper]
# CEMA's (EATA's) redundancy margin is 0.05 on 1,000 classes [code]; 0.95 is this project's for
# 10 classes (docs/model_updates.md, "CEMA's filters on MNIST-C")
CEMA_REDUNDANCY_MARGIN = 0.95
CEMA_EMA = 0.9  # EATA/CEMA: the average prediction moves by 0.1 towards each kept prediction [code]


def cema_filter(predictions, entropies, classes: int, margin: float = CEMA_REDUNDANCY_MARGIN,
                average=None) -> tuple[list[bool], object]:
    """CEMA's upload filters over a stream, sample by sample, in stream order: a sample is kept
    if its entropy is below ``0.4 ln(classes)`` and the cosine similarity of its prediction to
    the moving average of the predictions *kept so far* is below ``margin`` (the first kept
    sample always passes the second test); the average is updated with kept samples only
    (EATA's ``update_model_probs``, here per sample).  ``average``: the state carried over from
    an earlier part of the stream (None: none yet).  Returns (kept per sample, the new average).
    The one implementation: ``sim profile adaptation`` filters its stream with it, the
    simulator each device's stream."""
    e_max = CEMA_ENTROPY_FRACTION * math.log(classes)
    avg = None if average is None else np.asarray(average, dtype=np.float64)
    kept = []
    for p, e in zip(predictions, entropies):
        ok = e < e_max
        if ok and avg is not None:
            p = np.asarray(p, dtype=np.float64)
            cos = float(p @ avg / (np.linalg.norm(p) * np.linalg.norm(avg) + 1e-12))
            ok = abs(cos) < margin
        if ok:
            p = np.asarray(p, dtype=np.float64)
            avg = p.copy() if avg is None else CEMA_EMA * avg + (1 - CEMA_EMA) * p
        kept.append(bool(ok))
    return kept, avg


@dataclass(frozen=True)
class AdaptationSurface:
    """Accuracy and mAP of the device model over uploaded samples D x delivered fraction phi,
    per condition, with the per-batch curves and the CEMA filter inputs."""

    path: str
    provenance: dict
    setup: dict
    samples: tuple[int, ...]
    phis: tuple[float, ...]
    accuracy: dict = field(repr=False)  # condition -> list[list[float]] indexed [D][phi]
    map: dict = field(repr=False)
    curves: dict = field(repr=False)  # condition -> list of curve rows
    filters: dict = field(repr=False)  # condition -> {"entropy_nats": [...], "cosine_to_average": [...]}
    teacher: dict = field(default_factory=dict, repr=False)  # condition -> list of (accuracy, map) per D
    # CEMA's filtered stream: condition -> (samples axis, {phi: [(accuracy, map) per D]}) (filtered_surface)
    filtered: dict = field(default_factory=dict, repr=False)
    # cross-condition matrix: (adapted to, serving under) -> [D][phi] of (accuracy, map) on cross_samples
    cross: dict = field(default_factory=dict, repr=False)
    cross_samples: tuple = ()
    # interpolated values already computed: devices of one type install the same (D, phi)
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def teacher_value(self, condition: str, samples: float, metric: str = "accuracy") -> float:
        """The adapted edge (teacher) model's accuracy or mAP after ``samples``, interpolated."""
        if condition not in self.teacher:
            raise TraceError(self.path, "surface", f"no teacher accuracy for {condition}")
        rows = self.teacher[condition]
        k = 0 if metric == "accuracy" else 1
        i, f = _bracket(self.samples, samples)
        return rows[i][k] if i + 1 >= len(rows) else rows[i][k] * (1 - f) + rows[i + 1][k] * f

    def conditions(self) -> list[str]:
        return sorted(self.accuracy)

    def predictions(self, condition: str):
        """The device model's softmax over the condition's stream, per sample (None: not measured)."""
        f = self.filters.get(condition)
        return f.get("predictions") if f else None

    def filtered_value(self, condition: str, samples: float, phi: float, metric: str = "accuracy") -> float:
        """The value of a version adapted on ``samples`` of CEMA's *filtered* stream: measured on
        the filtered stream up to the samples it holds (``filtered_surface``); beyond them the
        unfiltered surface plus the filtered stream's measured advantage at its largest ``D``
        [ours].  Without a filtered measurement for ``phi``: the unfiltered surface."""
        base = self.value(condition, samples, phi, metric)
        f = self.filtered.get(condition)
        if not f or phi not in f[1]:
            return base
        axis, rows = f[0], f[1][phi]
        k = 0 if metric == "accuracy" else 1
        d = min(samples, axis[-1])
        i, w = _bracket(axis, d)
        measured = rows[i][k] if i + 1 >= len(rows) else rows[i][k] * (1 - w) + rows[i + 1][k] * w
        return measured + (base - self.value(condition, d, phi, metric))

    def cross_value(self, adapted: str, condition: str, samples: float, phi: float,
                    metric: str = "accuracy") -> float | None:
        """The value under ``condition`` of a version adapted to ``adapted`` on ``samples`` with
        delivery ``phi`` (the measured cross-condition matrix, bilinear on its grid; None: not measured)."""
        grid = self.cross.get((adapted, condition))
        if grid is None:
            return None
        key = ("cross", adapted, condition, samples, phi, metric)
        v = self._memo.get(key)
        if v is None:
            k = 0 if metric == "accuracy" else 1
            i, fi = _bracket(self.cross_samples, samples)
            j, fj = _bracket(self.phis, phi)

            def row(r):
                return grid[r][j][k] * (1 - fj) + grid[r][j + 1][k] * fj if j + 1 < len(self.phis) else grid[r][j][k]

            v = row(i) if i + 1 >= len(self.cross_samples) else row(i) * (1 - fi) + row(i + 1) * fi
            if len(self._memo) > 100_000:
                self._memo.clear()
            self._memo[key] = v
        return v

    def value(self, condition: str, samples: float, phi: float, metric: str = "accuracy") -> float:
        """Bilinear interpolation on the measured grid (clamped at its edges)."""
        key = (condition, samples, phi, metric)
        v = self._memo.get(key)
        if v is None:
            if len(self._memo) > 100_000:
                self._memo.clear()
            v = self._memo[key] = self._interpolate(condition, samples, phi, metric)
        return v

    def _interpolate(self, condition: str, samples: float, phi: float, metric: str) -> float:
        if condition not in self.accuracy:
            raise TraceError(self.path, "surface", f"no surface for {condition} (has: {', '.join(self.conditions())})")
        grid = (self.accuracy if metric == "accuracy" else self.map)[condition]
        i, fi = _bracket(self.samples, samples)
        j, fj = _bracket(self.phis, phi)
        lo = grid[i][j] * (1 - fj) + grid[i][j + 1] * fj if j + 1 < len(self.phis) else grid[i][j]
        if i + 1 >= len(self.samples):
            return lo
        hi = grid[i + 1][j] * (1 - fj) + grid[i + 1][j + 1] * fj if j + 1 < len(self.phis) else grid[i + 1][j]
        return lo * (1 - fi) + hi * fi


def _bracket(axis: tuple, x: float) -> tuple[int, float]:
    if x <= axis[0]:
        return 0, 0.0
    if x >= axis[-1]:
        return len(axis) - 1, 0.0
    for k in range(len(axis) - 1):
        if axis[k] <= x <= axis[k + 1]:
            return k, (x - axis[k]) / (axis[k + 1] - axis[k])
    return len(axis) - 1, 0.0


def load_adaptation(path: Path | str) -> AdaptationSurface:
    path = Path(path)
    data = _read_json(path)
    prov = _check_header(path, data, "sim.adaptation/1")
    setup = data.get("setup")
    if not isinstance(setup, dict):
        raise TraceError(path, "setup", "missing mapping")
    rows = data.get("surface")
    if not isinstance(rows, list) or not rows:
        raise TraceError(path, "surface", "expected a non-empty list")
    cells: dict[str, dict[tuple[int, float], tuple[float, float]]] = {}
    teacher_cells: dict[str, dict[int, tuple[float, float]]] = {}
    for i, r in enumerate(rows):
        where = f"surface[{i}]"
        if not isinstance(r, dict):
            raise TraceError(path, where, "expected a mapping")
        for key in ("corruption", "severity", "samples", "phi", "accuracy", "map"):
            if key not in r:
                raise TraceError(path, f"{where}.{key}", "missing")
        for key in ("accuracy", "map", "phi"):
            v = _finite_number(path, f"{where}.{key}", r[key])
            if v > 1:
                raise TraceError(path, f"{where}.{key}", f"must be a fraction in [0, 1], found {v} (wrong unit?)")
        _finite_number(path, f"{where}.samples", r["samples"])
        cond = f"{r['corruption']}/{r['severity']}"
        cells.setdefault(cond, {})[(int(r["samples"]), float(r["phi"]))] = (float(r["accuracy"]), float(r["map"]))
        if "teacher_accuracy" in r:
            t_acc = _finite_number(path, f"{where}.teacher_accuracy", r["teacher_accuracy"])
            t_map = _finite_number(path, f"{where}.teacher_map", r.get("teacher_map"))
            teacher_cells.setdefault(cond, {})[int(r["samples"])] = (t_acc, t_map)
    samples = tuple(sorted({d for c in cells.values() for d, _ in c}))
    phis = tuple(sorted({p for c in cells.values() for _, p in c}))
    acc, mp = {}, {}
    for cond, c in cells.items():
        missing = [(d, p) for d in samples for p in phis if (d, p) not in c]
        if missing:
            raise TraceError(path, "surface", f"{cond}: grid incomplete, missing D={missing[0][0]} phi={missing[0][1]}")
        acc[cond] = [[c[(d, p)][0] for p in phis] for d in samples]
        mp[cond] = [[c[(d, p)][1] for p in phis] for d in samples]
    curves: dict[str, list] = {}
    for r in data.get("curves", []):
        curves.setdefault(f"{r['corruption']}/{r['severity']}", []).append(r)
    filters = data.get("stream_filters", {})
    for cond, f in filters.items():
        for key in ("entropy_nats", "cosine_to_average"):
            values = f.get(key) if isinstance(f, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
                raise TraceError(path, f"stream_filters.{cond}.{key}", "expected a list of finite numbers")
    teacher = {c: [t[d] for d in samples] for c, t in teacher_cells.items() if all(d in t for d in samples)}
    filtered = _filtered_surface(path, data.get("filtered_surface", []))
    cross_samples, cross = _cross_matrix(path, data.get("cross", []), phis, acc)
    return AdaptationSurface(str(path), prov, setup, samples, phis, acc, mp, curves, filters, teacher,
                             filtered=filtered, cross=cross, cross_samples=cross_samples)


def _fraction(path, where: str, v) -> float:
    v = _finite_number(path, where, v)
    if not 0 <= v <= 1:
        raise TraceError(path, where, f"must be a fraction in [0, 1], found {v} (wrong unit?)")
    return v


def _filtered_surface(path, rows) -> dict:
    """``filtered_surface`` rows -> condition -> (samples axis, {phi: [(accuracy, map) per D]})."""
    if not isinstance(rows, list):
        raise TraceError(path, "filtered_surface", "expected a list")
    cells: dict[str, dict[float, dict[int, tuple[float, float]]]] = {}
    for i, r in enumerate(rows):
        where = f"filtered_surface[{i}]"
        if not isinstance(r, dict) or any(k not in r for k in ("corruption", "severity", "samples", "phi", "accuracy", "map")):
            raise TraceError(path, where, "expected a mapping with corruption, severity, samples, phi, accuracy, map")
        cond = f"{r['corruption']}/{r['severity']}"
        cells.setdefault(cond, {}).setdefault(float(r["phi"]), {})[int(_finite_number(path, f"{where}.samples", r["samples"]))] = (
            _fraction(path, f"{where}.accuracy", r["accuracy"]), _fraction(path, f"{where}.map", r["map"]))
    out = {}
    for cond, by_phi in cells.items():
        axis = tuple(sorted({d for c in by_phi.values() for d in c}))
        if any(set(c) != set(axis) for c in by_phi.values()):
            raise TraceError(path, "filtered_surface", f"{cond}: grid incomplete")
        out[cond] = (axis, {p: [c[d] for d in axis] for p, c in by_phi.items()})
    return out


def _cross_matrix(path, rows, phis: tuple, own: dict) -> tuple[tuple, dict]:
    """``cross`` rows -> (samples axis, (adapted to, serving under) -> [D][phi] of (accuracy, map))."""
    if not isinstance(rows, list):
        raise TraceError(path, "cross", "expected a list")
    cells: dict[tuple[str, str], dict[tuple[int, float], tuple[float, float]]] = {}
    for i, r in enumerate(rows):
        where = f"cross[{i}]"
        if not isinstance(r, dict) or any(k not in r for k in ("corruption", "severity", "samples", "phi", "target",
                                                                  "accuracy", "map")):
            raise TraceError(path, where, "expected a mapping with corruption, severity, samples, phi, target, accuracy, map")
        if r["target"] not in own:
            raise TraceError(path, f"{where}.target", f"no surface for {r['target']}")
        key = (f"{r['corruption']}/{r['severity']}", str(r["target"]))
        cells.setdefault(key, {})[(int(_finite_number(path, f"{where}.samples", r["samples"])), float(r["phi"]))] = (
            _fraction(path, f"{where}.accuracy", r["accuracy"]), _fraction(path, f"{where}.map", r["map"]))
    axis = tuple(sorted({d for c in cells.values() for d, _ in c}))
    out = {}
    for key, c in cells.items():
        missing = [(d, p) for d in axis for p in phis if (d, p) not in c]
        if missing:
            raise TraceError(path, "cross", f"{key[0]} under {key[1]}: grid incomplete, missing D={missing[0][0]} phi={missing[0][1]}")
        out[key] = [[c[(d, p)] for p in phis] for d in axis]
    return axis, out


# --------------------------------------------------------------------------- payload sizes

PAYLOAD_ROLES = ("norm_affine", "norm_stat", "param")
INT8_TENSOR_OVERHEAD = 8  # bytes per tensor of an int8 copy: an fp32 scale and an int32 zero point


@dataclass(frozen=True)
class Architecture:
    """The delivered tensors of one architecture, in delivery order (normalisation layers
    first, then the others from the output backwards), from ``sim profile payloads``."""

    name: str
    elements: tuple[int, ...]
    roles: tuple[str, ...]

    def prefix_bytes(self, tensors: int, bits: int) -> int:
        """Bytes of the first ``tensors`` delivered tensors at ``bits`` per element (int8 adds
        each tensor's scale and zero point)."""
        n = sum(self.elements[:tensors])
        return n * bits // 8 + (INT8_TENSOR_OVERHEAD * tensors if bits == 8 else 0)

    @property
    def norm_tensors(self) -> int:
        """How many leading tensors are the normalisation layers' (affine and statistics)."""
        return next((k for k, r in enumerate(self.roles) if r == "param"), len(self.roles))

    def unit_bytes(self, phis: tuple[float, ...], bits: int) -> tuple[int, ...]:
        """Bytes of each deliverable unit of an adaptation surface's phi grid for this
        architecture: 0 -> nothing; the smallest positive phi below 1 (the normalisation unit
        the surface measured) -> every normalisation tensor; 1 -> every tensor; any other
        phi -> the largest whole-tensor prefix within that share of the fp32 payload (at least
        the normalisation tensors), the rule the surface's own deliveries follow."""
        total = sum(self.elements)
        norm_unit = min((p for p in phis if 0 < p < 1), default=None)
        out = []
        for p in phis:
            if p <= 0:
                k = 0
            elif p >= 1:
                k = len(self.elements)
            elif p == norm_unit:
                k = self.norm_tensors
            else:
                k, sent = 0, 0
                while k < len(self.elements) and sent + self.elements[k] <= p * total:
                    sent += self.elements[k]
                    k += 1
                k = max(k, self.norm_tensors)
            out.append(self.prefix_bytes(k, bits))
        return tuple(out)


@dataclass(frozen=True)
class Payloads:
    path: str
    provenance: dict
    architectures: dict  # name -> Architecture

    def get(self, name: str) -> Architecture:
        if name not in self.architectures:
            raise TraceError(self.path, "architectures", f"no architecture {name!r} "
                                                         f"(has: {', '.join(sorted(self.architectures))})")
        return self.architectures[name]


def load_payloads(path: Path | str) -> Payloads:
    """A ``sim.payloads/1`` trace: per architecture, ``delivery``: [name, elements, role] per tensor."""
    path = Path(path)
    prov, archs = _json_mapping(path, "sim.payloads/1", "architectures")
    out = {}
    for name, a in archs.items():
        rows = a.get("delivery") if isinstance(a, dict) else None
        where = f"architectures.{name}.delivery"
        if not isinstance(rows, list) or not rows:
            raise TraceError(path, where, "expected a non-empty list of [tensor, elements, role]")
        for i, r in enumerate(rows):
            if (not isinstance(r, list) or len(r) != 3 or not isinstance(r[1], int) or isinstance(r[1], bool)
                    or r[1] <= 0 or r[2] not in PAYLOAD_ROLES):
                raise TraceError(path, f"{where}[{i}]", f"expected [tensor, elements > 0, one of {PAYLOAD_ROLES}]")
        out[name] = Architecture(name, tuple(r[1] for r in rows), tuple(r[2] for r in rows))
    return Payloads(str(path), prov, out)
