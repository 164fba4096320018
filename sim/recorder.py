"""Append-only event rows, kept as plain Python lists (no pandas in the model core)."""

from __future__ import annotations

from typing import Callable

INFERENCE_COLUMNS = ("arrival_s", "done_s", "group", "device", "place", "exit", "correct", "map", "version",
                     "staleness_s",
                     "bytes_up", "bytes_down", "compute_energy_j", "radio_energy_j", "server_energy_j")
FLOW_COLUMNS = ("start_s", "end_s", "purpose", "size_bytes", "path")
# window mode: one row per (window, group, place, exit) with counts and sums
WINDOW_COLUMNS = ("t_s", "group", "place", "exit", "n", "correct", "map_sum", "map_n", "staleness_sum",
                  "staleness_n", "latency_sum", "bytes_up", "bytes_down", "compute_energy_j", "radio_energy_j",
                  "server_energy_j")
DEVICE_TOTALS = ("n", "correct", "offloaded", "latency_sum", "bytes_up", "bytes_down", "compute_energy_j",
                 "radio_energy_j")


class Recorder:
    """Rows of one run.  ``place`` is -1 for on-device inference, else a server index;
    ``exit`` is 0 (main block or whole local model), 1 (extension block) or 2 (offloaded)."""

    def __init__(self, link_names: list[str], server_names: list[str]):
        self.link_names = link_names
        self.server_names = server_names
        # Rows are stored flat, one value after another (``list.extend`` of the row tuple):
        # the tuple is freed at once, so the cyclic garbage collector never walks
        # retained rows (see docs/scale.md).  Inference rows come in kinds (:meth:`rows`);
        # a kind stores only the columns that vary.
        self._kinds: list[tuple[tuple[str, ...], dict, list]] = []  # (stored columns, fixed values, flat rows)
        self._flow_rows: list = []  # FLOW_COLUMNS values, row after row
        self.flow_row = self._flow_rows.extend  # flow_row((start_s, end_s, purpose, size_bytes, path))
        # one row per sampling instant: time, cumulative delivered bits per link,
        # queue-length and busy-worker integrals per server, jobs in system per server
        self.samples_t: list[float] = []
        self.samples_link_bits: list[list[float]] = []
        self.samples_queue_area: list[list[float]] = []
        self.samples_busy_area: list[list[float]] = []
        self.samples_in_system: list[list[int]] = []
        self.inference = self.rows()  # inference(tuple of all INFERENCE_COLUMNS)
        self.windows: dict[str, list] = {c: [] for c in WINDOW_COLUMNS}
        self.latency_samples: list[tuple[float, float]] = []  # window mode: (latency_s, weight)
        self.device_totals: dict[int, dict] = {}  # window mode: group -> {column: numpy array per device}
        self.failed = 0  # offloaded inferences whose flow an outage cut

    def rows(self, **fixed) -> Callable[[tuple], None]:
        """An appender of inference rows in which the columns named in ``fixed`` always have
        the given values: each row is the tuple of the other columns, in the order of
        ``INFERENCE_COLUMNS``.  (On-device rows of a group fix ten of the fifteen columns.)"""
        unknown = set(fixed) - set(INFERENCE_COLUMNS)
        if unknown:
            raise ValueError(f"not inference columns: {sorted(unknown)}")
        stored = tuple(c for c in INFERENCE_COLUMNS if c not in fixed)
        flat: list = []
        self._kinds.append((stored, fixed, flat))
        return flat.extend

    @property
    def inferences(self) -> dict[str, list]:
        """Columns of the inference rows, kind after kind (:meth:`rows`).  A row is
        (arrival_s, done_s, group, device, place, exit, correct, map, version,
        staleness_s, bytes_up, bytes_down, compute_energy_j, radio_energy_j,
        server_energy_j): ``map`` is the mAP of the model that served it (NaN without the
        update loop), ``version`` that model's version (-1 without it), ``staleness_s`` its age."""
        out: dict[str, list] = {c: [] for c in INFERENCE_COLUMNS}
        for stored, fixed, flat in self._kinds:
            k = len(stored)
            for i, c in enumerate(stored):
                out[c] += flat[i::k]
            n = len(flat) // k
            for c, v in fixed.items():
                out[c] += [v] * n
        return out

    def window_row(self, *values) -> None:
        for c, v in zip(WINDOW_COLUMNS, values):
            self.windows[c].append(v)

    @property
    def flows(self) -> dict[str, list]:
        """Columns of the flow rows (start_s, end_s, purpose, size_bytes, path)."""
        n = len(FLOW_COLUMNS)
        return {c: self._flow_rows[i::n] for i, c in enumerate(FLOW_COLUMNS)}

    def sample(self, t, link_bits, queue_area, busy_area, in_system) -> None:
        self.samples_t.append(t)
        self.samples_link_bits.append(link_bits)
        self.samples_queue_area.append(queue_area)
        self.samples_busy_area.append(busy_area)
        self.samples_in_system.append(in_system)
