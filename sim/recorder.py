"""What a run keeps: aggregates, built as the run goes (pure Python and numpy, no pandas).

Memory is O(devices + windows), not O(inferences):

* per group, a table of sums per (window, place, exit) (:data:`COLUMNS`): ``place`` 0 is
  the device, ``i + 1`` the group's ``i``-th offload target (only the servers the group
  can reach: the table does not grow with the servers of the run); ``exit`` 0 main block
  or whole local model, 1 extension block, 2 offloaded.  An inference counts in the
  window of its finish time;
* per group and device, totals of on-device and of offloaded inferences (kept apart and
  added at the end, so each total is summed in one fixed order whatever the driver);
* latencies in a :class:`~sim.sketch.LatencySketch` per group and exit;
* per group, the accounting of its arrivals: each is completed (by the horizon), failed
  (an outage cut its flow) or unfinished at the horizon; a completed one is *missed* if
  it took longer than the group's ``deadline_s``; the on-time correct inferences and mAP
  sum (a failed, unfinished or missed input counts as wrong) and how many arrivals the
  policy offloaded;
* per (link, purpose), the bytes and number of flows;
* at each window boundary, cumulative link bits and server integrals.

Inferences reach the recorder in chunks (:meth:`GroupRecord.local` for a block of
on-device ones, :meth:`GroupRecord.offloaded` row by row, summed 4,096 at a time).
Per-request rows are kept only if a ``sink`` is given: it receives each chunk as
columns (:data:`REQUEST_COLUMNS`) and can write them out (``sim run --requests``).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from sim.sketch import LatencySketch

COLUMNS = ("n", "correct", "map_sum", "map_n", "staleness_sum", "staleness_n", "latency_sum", "bytes_up",
           "bytes_down", "compute_energy_j", "radio_energy_j", "server_energy_j")
C = {c: i for i, c in enumerate(COLUMNS)}
DEVICE_TOTALS = ("n", "correct", "offloaded", "latency_sum", "bytes_up", "bytes_down", "compute_energy_j",
                 "radio_energy_j")
REQUEST_COLUMNS = ("group", "device", "arrival_s", "done_s", "place", "exit", "correct", "map", "version",
                   "staleness_s", "bytes_up", "bytes_down", "compute_energy_j", "radio_energy_j", "server_energy_j")
EXITS = 3
OFFLOAD_EXIT = 2
OFFLOAD_CHUNK = 4096  # offloaded inferences summed per numpy pass
# an offloaded inference as the offload chain records it
OFFLOAD_ROW = ("arrival_s", "done_s", "device", "place", "correct", "map", "compute_energy_j", "server_energy_j",
               "radio_energy_j")


def window_count(horizon_s: float, window_s: float) -> int:
    """Windows of a run: the sampler records at ``k x window_s`` for every ``k`` with
    ``k x window_s < horizon_s``, and once more at the horizon."""
    k = max(math.ceil(horizon_s / window_s), 1)
    while k > 1 and (k - 1) * window_s >= horizon_s:
        k -= 1
    while k * window_s < horizon_s:
        k += 1
    return k


class GroupRecord:
    """The aggregates of one device group."""

    def __init__(self, rec: "Recorder", index: int, count: int, input_bytes: int, result_bytes: int,
                 radio_j: float, targets: list[int], deadline_s: float | None = None):
        self.rec, self.index, self.count, self.deadline_s = rec, index, count, deadline_s
        # the radio energy of one offload: one value, one per device, or None when it varies (the air-time
        # model under fading or an SNR trace): then each row carries its own (sim.entities.offload.Offload)
        self.input_bytes, self.result_bytes, self.radio_j = input_bytes, result_bytes, radio_j
        self.offload_radio_j = np.zeros(count)  # per device, summed from the rows when radio_j is None
        self.targets = sorted(targets)  # server indices this group offloads to: places 1, 2, ...
        self._place = np.zeros(max(len(rec.server_names), 1), dtype=np.int64)  # server index -> place
        self._place[self.targets] = np.arange(1, len(self.targets) + 1)
        self.table = np.zeros((rec.windows, 1 + len(self.targets), EXITS, len(COLUMNS)))
        self.local_totals = {k: np.zeros(count) for k in ("n", "correct", "latency_sum", "compute_energy_j")}
        self.offload_totals = {k: np.zeros(count) for k in ("n", "correct", "latency_sum", "compute_energy_j")}
        self.update_totals: dict[str, np.ndarray] | None = None  # bytes and radio energy of the update loop
        self.arrivals = 0  # every arrival before the horizon, counted by the driver
        self.completed = 0
        self.failed = 0  # offloaded inferences whose flow an outage cut
        self.offload_decided = 0  # arrivals the policy sent to a server (counted when they leave)
        self.missed = 0  # completed after the deadline
        self.on_time_correct = 0.0  # completed by the deadline and correct
        self.on_time_map = 0.0  # mAP summed over inferences completed by the deadline
        self._rows: list = []  # offloaded inferences not yet summed, OFFLOAD_ROW after OFFLOAD_ROW
        self.offloaded = self._rows.extend  # offloaded(row): one OFFLOAD_ROW tuple

    # ------------------------------------------------------------------ on the device
    def local(self, arrival_s, done_s, device, exit_, correct, compute_j, map_=None, version=None,
              staleness_s=None) -> None:
        """A block of on-device inferences (arrays; ``exit_`` may be a scalar).  Those that
        finish after the horizon are not counted (they are unfinished)."""
        keep = done_s <= self.rec.horizon_s
        if not keep.all():
            arrival_s, done_s, device, correct, compute_j = (a[keep] for a in (arrival_s, done_s, device, correct,
                                                                               compute_j))
            exit_ = exit_[keep] if np.ndim(exit_) else exit_
            if map_ is not None:
                map_, version, staleness_s = map_[keep], version[keep], staleness_s[keep]
        k = len(done_s)
        if k == 0:
            return
        self.completed += k
        latency = done_s - arrival_s
        correct = correct.astype(float)
        self._account(latency, correct, map_)
        cols = {"n": None, "correct": correct, "latency_sum": latency, "compute_energy_j": compute_j}
        if map_ is not None:
            cols.update(map_sum=map_, map_n=None, staleness_sum=staleness_s, staleness_n=None)
        self._add(done_s, 0, exit_, cols)
        self._add_totals(self.local_totals, device, correct, latency, compute_j)
        self.rec.sketch.add(self.index * EXITS + exit_, latency)
        if self.rec.sink is not None:
            nan = np.full(k, np.nan)
            self.rec.sink(dict(group=np.full(k, self.index), device=device, arrival_s=arrival_s, done_s=done_s,
                               place=np.full(k, -1), exit=np.broadcast_to(exit_, (k,)), correct=correct > 0,
                               map=nan if map_ is None else map_,
                               version=np.full(k, -1) if version is None else version,
                               staleness_s=nan if staleness_s is None else staleness_s, bytes_up=np.zeros(k),
                               bytes_down=np.zeros(k), compute_energy_j=compute_j, radio_energy_j=np.zeros(k),
                               server_energy_j=np.zeros(k)))

    # ------------------------------------------------------------------ offloaded
    def flush(self) -> None:
        """Sum the offloaded inferences recorded so far (called every OFFLOAD_CHUNK and at the end)."""
        rows = self._rows
        if not rows:
            return
        a = np.asarray(rows, dtype=float).reshape(-1, len(OFFLOAD_ROW))
        rows.clear()
        arrival, done, device, place, correct, map_, compute_j, server_j, radio_j = a.T
        device = device.astype(np.int64)
        place = place.astype(np.int64)
        k = len(a)
        self.completed += k
        latency = done - arrival
        has_map = ~np.isnan(map_)
        self._account(latency, correct, np.where(has_map, map_, 0.0) if has_map.any() else None)
        cols = {"n": None, "correct": correct, "latency_sum": latency, "compute_energy_j": compute_j,
                "bytes_up": np.full(k, float(self.input_bytes)), "bytes_down": np.full(k, float(self.result_bytes)),
                "radio_energy_j": radio_j, "server_energy_j": server_j}
        if has_map.any():
            cols.update(map_sum=np.where(has_map, map_, 0.0), map_n=has_map.astype(float))
        self._add(done, self._place[place], OFFLOAD_EXIT, cols)
        self._add_totals(self.offload_totals, device, correct, latency, compute_j)
        if self.radio_j is None:
            self.offload_radio_j += np.bincount(device, weights=radio_j, minlength=self.count)
        self.rec.sketch.add(self.index * EXITS + OFFLOAD_EXIT, latency)
        if self.rec.sink is not None:
            self.rec.sink(dict(group=np.full(k, self.index), device=device, arrival_s=arrival, done_s=done,
                               place=place, exit=np.full(k, OFFLOAD_EXIT), correct=correct > 0, map=map_,
                               version=np.full(k, -1), staleness_s=np.full(k, np.nan),
                               bytes_up=np.full(k, self.input_bytes), bytes_down=np.full(k, self.result_bytes),
                               compute_energy_j=compute_j, radio_energy_j=radio_j,
                               server_energy_j=server_j))

    def maybe_flush(self) -> None:
        if len(self._rows) >= OFFLOAD_CHUNK * len(OFFLOAD_ROW):
            self.flush()

    # ------------------------------------------------------------------ shared
    def _account(self, latency: np.ndarray, correct: np.ndarray, map_) -> None:
        """Deadline accounting of a chunk of completed inferences."""
        if self.deadline_s is None:
            self.on_time_correct += float(correct.sum())
            if map_ is not None:
                self.on_time_map += float(np.sum(map_))
            return
        on_time = latency <= self.deadline_s
        self.missed += int(len(latency) - on_time.sum())
        self.on_time_correct += float(correct[on_time].sum())
        if map_ is not None:
            self.on_time_map += float(np.asarray(map_)[on_time].sum())

    def _add(self, done_s: np.ndarray, place, exit_, cols: dict) -> None:
        """Add ``cols`` (None: ones) into the table cells of each inference."""
        w = np.minimum((done_s / self.rec.window_s).astype(np.int64), self.rec.windows - 1)
        lo, hi = int(w.min()), int(w.max())
        per_window = self.table.shape[1] * EXITS
        cell = (w - lo) * per_window + np.asarray(place) * EXITS + np.asarray(exit_)
        span = (hi - lo + 1) * per_window
        view = self.table[lo:hi + 1].reshape(span, len(COLUMNS))
        for name, values in cols.items():
            view[:, C[name]] += np.bincount(cell, weights=values, minlength=span)

    def _add_totals(self, totals: dict, device, correct, latency, compute_j) -> None:
        for name, values in (("n", None), ("correct", correct), ("latency_sum", latency),
                             ("compute_energy_j", compute_j)):
            totals[name] += np.bincount(device, weights=values, minlength=self.count)

    def update_traffic(self, device: int, up_bytes: float, down_bytes: float, radio_j: float) -> None:
        """Data uploaded or a model downloaded by ``device`` for the update loop."""
        if self.update_totals is None:
            self.update_totals = {k: np.zeros(self.count) for k in ("bytes_up", "bytes_down", "radio_energy_j")}
        u = self.update_totals
        u["bytes_up"][device] += up_bytes
        u["bytes_down"][device] += down_bytes
        u["radio_energy_j"][device] += radio_j

    def device_totals(self) -> dict[str, np.ndarray]:
        """Per-device totals (DEVICE_TOTALS), on-device and offloaded together."""
        loc, off = self.local_totals, self.offload_totals
        out = {k: loc[k] + off[k] for k in ("n", "correct", "latency_sum", "compute_energy_j")}
        out["offloaded"] = off["n"].copy()
        out["bytes_up"] = off["n"] * self.input_bytes
        out["bytes_down"] = off["n"] * self.result_bytes
        out["radio_energy_j"] = self.offload_radio_j.copy() if self.radio_j is None else off["n"] * self.radio_j
        if self.update_totals is not None:  # the update loop's traffic: bytes and radio energy too
            for k, v in self.update_totals.items():
                out[k] = out[k] + v
        return out


class Recorder:
    """The aggregates of one run: one :class:`GroupRecord` per device group, flow bytes,
    window samples of links and servers."""

    def __init__(self, link_names: list[str], server_names: list[str], horizon_s: float, window_s: float,
                 sink: Callable[[dict], None] | None = None):
        self.link_names, self.server_names = link_names, server_names
        self.horizon_s, self.window_s = horizon_s, window_s
        self.windows = window_count(horizon_s, window_s)
        self.sink = sink
        self.groups: list[GroupRecord] = []
        self._sketch: LatencySketch | None = None
        self.flow_bytes: dict[tuple[str, str], list] = {}  # (link name, purpose) -> [flows, bytes]
        self.flow_air_s: dict[tuple[str, str], float] = {}  # radio media: (link name, purpose) -> air time (s)
        # one row per sampling instant: time, cumulative delivered bits per link,
        # queue-length and busy-worker integrals per server, jobs in system per server
        self.samples_t: list[float] = []
        self.samples_link_bits: list[list[float]] = []
        self.samples_queue_area: list[list[float]] = []
        self.samples_busy_area: list[list[float]] = []
        self.samples_in_system: list[list[int]] = []

    def group(self, count: int, input_bytes: int, result_bytes: int, radio_j: float,
              targets: list[int] = (), deadline_s: float | None = None) -> GroupRecord:
        """The record of the next device group, which offloads to the servers ``targets`` (indices)."""
        g = GroupRecord(self, len(self.groups), count, input_bytes, result_bytes, radio_j, list(targets), deadline_s)
        if self._sketch is not None:
            raise RuntimeError("a group was added after the recorder counted latencies")
        self.groups.append(g)
        return g

    @property
    def sketch(self) -> LatencySketch:
        """The latency sketch, a row per (group, exit): made on first use, once every group exists."""
        if self._sketch is None:
            self._sketch = LatencySketch(len(self.groups) * EXITS)
        return self._sketch

    def flow(self, purpose: str, size_bytes: float, link: str) -> None:
        """A finished flow of ``size_bytes`` for ``purpose``, entering at ``link``."""
        entry = self.flow_bytes.get((link, purpose))
        if entry is None:
            entry = self.flow_bytes[(link, purpose)] = [0, 0]
        entry[0] += 1
        entry[1] += size_bytes

    def air(self, purpose: str, air_s: float, link: str) -> None:
        """A finished flow for ``purpose`` spent ``air_s`` seconds on the radio medium ``link``."""
        self.flow_air_s[(link, purpose)] = self.flow_air_s.get((link, purpose), 0.0) + air_s

    def finish(self) -> None:
        for g in self.groups:
            g.flush()

    def sample(self, t, link_bits, queue_area, busy_area, in_system) -> None:
        self.samples_t.append(t)
        self.samples_link_bits.append(link_bits)
        self.samples_queue_area.append(queue_area)
        self.samples_busy_area.append(busy_area)
        self.samples_in_system.append(in_system)

    @property
    def failed(self) -> int:
        return sum(g.failed for g in self.groups)
