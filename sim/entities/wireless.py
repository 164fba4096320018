"""Radio devices in the network, and capacity that changes over time (docs/wireless.md).

* :class:`DeviceRadio`: the devices of one group on a radio access point, each with its own
  :class:`~sim.entities.link.Channel` per direction (its rate from its SNR), the flow classes
  of its flows (one per device and path), and what changes its rates: the access point's SNR
  offset (a capacity trace) and the group's block fading.
* :class:`CapacitySeries` / :func:`load_capacity_trace`: a capacity or SNR-offset trace
  (CSV with ``#`` provenance lines, or Parquet with ``sim`` metadata).
* :func:`start_capacity`, :func:`start_offset`, :func:`start_fading`: apply the first
  value at once and start the SimPy process that applies the others; flows in flight re-share at each change
  (:meth:`Network.set_capacity`, :meth:`Network.set_rates`).

Every change is driven by the clock and the group's own stream, never by the time driver,
so ``request`` and ``scale`` see the same rates at the same times.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sim.entities.link import Channel, DirectedLink, Network
from sim.errors import TraceError

CAPACITY_KINDS = ("capacity_bps", "snr_offset_db")
PROVENANCE_KEYS = ("source", "date", "command")  # where the values come from, when and how they were made
MAX_ROWS = 10_000_000
MAX_OFFSET_DB = 100.0


@dataclass(frozen=True)
class CapacitySeries:
    """A step function of time: ``values[i]`` holds from ``times_s[i]`` to ``times_s[i + 1]``
    (``times_s[0]`` = 0).  ``kind``: ``capacity_bps`` or ``snr_offset_db``."""

    path: str
    kind: str
    times_s: tuple[float, ...]
    values: tuple[float, ...]
    provenance: dict

    @property
    def period_s(self) -> float:
        """The length of one pass under ``repeat``: the last value lasts as long as the step
        before it (0 for a one-row trace: a constant)."""
        t = self.times_s
        return 2 * t[-1] - t[-2] if len(t) > 1 else 0.0

    def changes(self, at_end: str, horizon_s: float):
        """(time, value) of every change after 0 before ``horizon_s``: the trace, then (``repeat``)
        again from its start every :attr:`period_s`, or (``hold``) nothing: the last value stays."""
        t, v = self.times_s, self.values
        period = self.period_s
        shift = 0.0
        while True:
            for i in range(1, len(t)):
                at = shift + t[i]
                if at >= horizon_s:
                    return
                yield at, v[i]
            if at_end != "repeat" or period <= 0:
                return
            shift += period
            if shift >= horizon_s:
                return
            yield shift, v[0]


def load_capacity_trace(path: Path | str) -> CapacitySeries:
    """A capacity trace: CSV (``#`` lines ``# key: value`` with at least ``source``, ``date`` and
    ``command``, then a header ``time_s,capacity_bps`` or ``time_s,snr_offset_db``), or Parquet
    with the same columns and a ``sim`` metadata JSON holding ``provenance``.  Times start at
    0 and increase; capacities are positive (bit/s)."""
    path = Path(path)
    if not path.is_file():
        raise TraceError(path, "(file)", "no such capacity trace")
    if path.suffix == ".parquet":
        cols, prov = _read_parquet(path)
    else:
        cols, prov = _read_csv(path)
    for key in PROVENANCE_KEYS:
        if not prov.get(key):
            raise TraceError(path, f"provenance.{key}", "missing (say where the values come from, when, and how)")
    kinds = [k for k in CAPACITY_KINDS if k in cols]
    if "time_s" not in cols or len(kinds) != 1:
        raise TraceError(path, "(columns)", f"expected time_s and one of {', '.join(CAPACITY_KINDS)}, found "
                                            f"{', '.join(cols) or 'none'}")
    kind = kinds[0]
    t, v = cols["time_s"], cols[kind]
    if not 1 <= len(t) <= MAX_ROWS:
        raise TraceError(path, "(rows)", f"expected 1 to {MAX_ROWS} rows, found {len(t)}")
    if not (np.isfinite(t).all() and np.isfinite(v).all()):
        raise TraceError(path, "(rows)", "expected finite numbers")
    if t[0] != 0 or (np.diff(t) <= 0).any():
        raise TraceError(path, "time_s", "must start at 0 and increase")
    if kind == "capacity_bps" and ((v < 1.0) | (v > 1e12)).any():
        raise TraceError(path, kind, "capacities must lie in 1 .. 1e12 bit/s")
    if kind == "snr_offset_db" and (np.abs(v) > MAX_OFFSET_DB).any():
        raise TraceError(path, kind, f"offsets must lie within +-{MAX_OFFSET_DB:g} dB")
    return CapacitySeries(str(path), kind, tuple(t.tolist()), tuple(v.tolist()), prov)


def _read_csv(path: Path) -> tuple[dict, dict]:
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise TraceError(path, "(file)", f"cannot read: {e}") from None
    prov = {}
    for line in lines:
        if line.startswith("#") and ":" in line:
            key, _, value = line[1:].partition(":")
            prov[key.strip()] = value.strip()
    rows = list(csv.reader(x for x in lines if x.strip() and not x.startswith("#")))
    if not rows:
        raise TraceError(path, "(rows)", "no header")
    header, body = rows[0], rows[1:]
    try:
        data = np.array(body, dtype=float).reshape(len(body), len(header))
    except ValueError:
        raise TraceError(path, "(rows)", "expected numbers, one per column") from None
    return {h.strip(): data[:, i] for i, h in enumerate(header)}, prov


def _read_parquet(path: Path) -> tuple[dict, dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise TraceError(path, "(file)", f"not a Parquet file: {e}") from None
    try:
        meta = json.loads((table.schema.metadata or {}).get(b"sim", b"{}"))
    except json.JSONDecodeError:
        raise TraceError(path, "(metadata)", "'sim' metadata is not JSON") from None
    prov = meta.get("provenance") if isinstance(meta, dict) else None
    cols = {n: table.column(n).to_numpy().astype(float) for n in table.column_names}
    return cols, prov if isinstance(prov, dict) else {}


def _half_octave(x: float) -> float:
    """``x`` > 0 rounded to the nearest power of sqrt(2) (1 stays 1)."""
    return 2.0 ** (round(2.0 * math.log2(x)) / 2.0)


class DeviceRadio:
    """The devices of one group on a radio access point: per device an uplink and a downlink
    :class:`Channel` (on ``up_link`` and ``down_link``, the same medium when half duplex),
    rates from the SNRs by ``rate_of`` (SNR in dB -> bit/s, vectorised), shifted by the access
    point's SNR offset and the devices' fading gains (dB)."""

    def __init__(self, up_link: DirectedLink, down_link: DirectedLink, up_bps: np.ndarray, down_bps: np.ndarray,
                 snr_up_db: np.ndarray, snr_down_db: np.ndarray, rate_of: Callable[[np.ndarray], np.ndarray]):
        self.snr_up, self.snr_down, self.rate_of = np.asarray(snr_up_db), np.asarray(snr_down_db), rate_of
        self.up = [Channel(up_link, r) for r in np.asarray(up_bps).tolist()]
        self.down = [Channel(down_link, r) for r in np.asarray(down_bps).tolist()]
        self.base_up_bps, self.base_down_bps = np.asarray(up_bps, float), np.asarray(down_bps, float)
        self.offset_db = 0.0  # the access point's SNR offset now (a capacity trace)
        self.gain_db = np.zeros(len(self.up))  # each device's fading gain now
        self.changes = 0  # rate changes applied (fading blocks and offset steps)
        self._classes: dict = {}

    def flow_class(self, net: Network, path: Sequence[DirectedLink], d: int, up: bool, weight: float = 1.0):
        """The class of device ``d``'s flows along ``path`` (kept per device, path and weight)."""
        key = (tuple(path), d, up, weight)
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = net.flow_class(path, weight, (self.up if up else self.down)[d])
        return cls

    def channel(self, d: int, up: bool) -> Channel:
        return (self.up if up else self.down)[d]

    def air_scale(self, d: int) -> tuple[float, float]:
        """(uplink, downlink) units of air per bit of device ``d``: the medium's unit rate over the
        device's rate without fading (a device at the unit rate: 1; out of coverage: as at 1 b/s),
        rounded to the nearest half octave (a power of sqrt 2), so that devices of nearly equal
        rates make one device type for the allocation (its cost grows with the types).  The
        model-update allocation counts a device's bits in these units: it splits air time."""
        up, down = self.up[d], self.down[d]
        return (_half_octave(up.link.nominal_bps / max(float(self.base_up_bps[d]), 1.0)),
                _half_octave(down.link.nominal_bps / max(float(self.base_down_bps[d]), 1.0)))

    def weight(self, d: int, air_weight: float, up: bool) -> float:
        """The flow weight that gives device ``d`` an air-time share in proportion to
        ``air_weight``: as is on an ``airtime_fair`` medium; on a ``throughput_fair`` one, which
        shares bits by weight, divided by :meth:`air_scale` (bits in proportion to the rate)."""
        ch = self.up[d] if up else self.down[d]
        if ch.link.airtime == "airtime_fair":
            return air_weight
        return air_weight / self.air_scale(d)[0 if up else 1]

    def rates_now(self) -> tuple[np.ndarray, np.ndarray]:
        """Each device's (uplink, downlink) rate under the current offset and gains."""
        if self.offset_db == 0.0 and not self.gain_db.any():
            return self.base_up_bps, self.base_down_bps
        shift = self.offset_db + self.gain_db
        return self.rate_of(self.snr_up + shift, True), self.rate_of(self.snr_down + shift, False)

    def apply(self, net: Network) -> None:
        """Set every channel to its rate now: flows in flight re-share."""
        up, down = self.rates_now()
        self.changes += 1
        net.set_rates(self.up + self.down, up.tolist() + down.tolist())


def start_capacity(env, net: Network, links: Sequence[tuple[DirectedLink, float]], series: CapacitySeries,
                   at_end: str, horizon_s: float) -> None:
    """A ``capacity_bps`` trace on ``links``: each (link, ratio) gets the trace's value x ratio,
    the first at once (call before any flow starts), the others by a process."""
    def steps():
        for t, value in series.changes(at_end, horizon_s):
            yield env.timeout(t - env.now)
            for link, ratio in links:
                net.set_capacity(link, value * ratio)

    for link, ratio in links:
        net.set_capacity(link, series.values[0] * ratio)
    env.process(steps())


def start_offset(env, net: Network, radios: Sequence[DeviceRadio], series: CapacitySeries, at_end: str,
                 horizon_s: float) -> None:
    """An ``snr_offset_db`` trace of a radio access point: every device's SNR shifts by it (the
    first value at once, the others by a process)."""
    def shift(value: float) -> None:
        for r in radios:
            r.offset_db = value
            r.apply(net)

    def steps():
        for t, value in series.changes(at_end, horizon_s):
            yield env.timeout(t - env.now)
            shift(value)

    shift(series.values[0])
    env.process(steps())


def fading_gains_db(gains: np.ndarray) -> np.ndarray:
    """Power gains in dB (a gain of exactly 0, which the draws give with probability 0, floors at -300 dB)."""
    return 10.0 * np.log10(np.maximum(gains, 1e-30))


def start_fading(env, net: Network, radio: DeviceRadio, draw: Callable[[int], np.ndarray], coherence_s: float,
                 horizon_s: float) -> None:
    """Block fading: a gain per device (``draw(count)``: power gains, mean 1, from the group's
    own stream) for the first block at once, then every ``coherence_s`` by a process."""
    n = len(radio.up)

    def fade() -> None:
        radio.gain_db = fading_gains_db(draw(n))
        radio.apply(net)

    def blocks():
        k = 1
        while k * coherence_s < horizon_s:
            yield env.timeout(k * coherence_s - env.now)
            fade()
            k += 1

    fade()
    env.process(blocks())


def unit_rate(rates: Sequence[np.ndarray], fallback_bps: float) -> float:
    """The unit rate of a radio medium: its fastest device's rate (a device at it sends at the
    medium's full capacity); ``fallback_bps`` when no device reaches it."""
    best = max((float(np.max(r)) for r in rates if len(r)), default=0.0)
    return best if best > 0 and math.isfinite(best) else fallback_bps
