"""One row per flow, for every flow of a run (``flows.parquet``): what it carried, from where to
where, for what, when it started and when its last byte arrived, along which links, and how it
ended (``finished``, ``failed``: an outage cut it, ``unfinished`` at the horizon).

The network calls :meth:`FlowLog.start` for each flow it is given (before any set-up delay),
which wraps the flow's completion callback in a :class:`_Flow` that writes the row when the
flow ends.  ``finish_s`` is when the last byte reaches the flow's destination: the end of the
transfer plus the path's propagation latency (what the offload chain and the update loop wait
for); a flow whose last byte would arrive after the horizon is ``unfinished``, as an inference
is (docs/accounting.md).  Flows still in progress when the run ends are written by
:meth:`FlowLog.close` as ``unfinished``.

Rows are kept as numbers (names, endpoints, purposes and paths as codes into tables that grow
with the distinct values, not with the flows) and handed to ``sink`` a chunk of
:data:`CHUNK_ROWS` at a time (:class:`sim.results_io.FlowWriter` streams them to Parquet), so
memory is O(flows in progress + one chunk).  No pandas, no pyarrow here (the model core).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

FLOW_COLUMNS = ("id", "name", "src", "dst", "purpose", "device", "start_s", "size_bytes", "finish_s", "fct_s",
                "path", "status")
STATUSES = ("finished", "failed", "unfinished")
FINISHED, FAILED, UNFINISHED = range(3)
CHUNK_ROWS = 65_536  # rows handed to the sink at a time
ROW = 8  # numbers kept per row
NAN = float("nan")


class _Flow(tuple):
    """A flow in progress, (log, then, id, meta code, device, start, size, class): its
    completion callback ``then``, wrapped to write its row first."""

    __slots__ = ()

    def __call__(self, cut: bool) -> None:
        log, then, fid, meta, device, start_s, size, cls = self
        del log.open[fid]
        if cls.path_code < 0:
            cls.path_code = log.path_code(cls.path)
        if cut:
            finish, status = NAN, FAILED
        else:
            finish = log.env.now + cls.latency_s
            status = FINISHED
            if finish > log.horizon_s:
                finish, status = NAN, UNFINISHED
        rows = log.values
        rows.extend((fid, meta, device, start_s, size, finish, cls.path_code, status))
        if len(rows) >= log.chunk_values:
            log.flush()
        then(cut)


class FlowLog:
    """The flows of one run.  ``sink(chunk)`` receives dicts of numpy columns: ``id``,
    ``meta`` (code into :attr:`metas`: (name, src, dst, purpose)), ``device`` (-1: not a
    device's flow), ``start_s``, ``size_bytes``, ``finish_s``, ``path`` (code into
    :attr:`paths`), ``status`` (code into :data:`STATUSES`), and ``metas`` and ``paths``
    themselves (they only grow, so a code read from an earlier chunk stays valid)."""

    def __init__(self, env, horizon_s: float, sink: Callable[[dict], None], chunk_rows: int = CHUNK_ROWS):
        self.env, self.horizon_s, self.sink, self.chunk_rows = env, horizon_s, sink, chunk_rows
        self.metas: list[tuple[str, str, str, str]] = []
        self._meta_code: dict[tuple, int] = {}
        self.paths: list[str] = []
        self._path_code: dict[tuple, int] = {}
        self.open: dict[int, _Flow] = {}  # flows in progress, by id
        self.values: list[float] = []  # ROW after ROW, flat: (id, meta, device, start, size, finish, path, status)
        self.chunk_values = chunk_rows * ROW
        self.next_id = 0
        self.rows = 0  # rows handed to the sink so far

    def path_code(self, path) -> int:
        """The code of a path (a tuple of links); its text is the link names joined by commas."""
        code = self._path_code.get(path)
        if code is None:
            code = self._path_code[path] = len(self.paths)
            self.paths.append(",".join(link.name for link in path))
        return code

    def start(self, cls, size_bytes: float, then, meta: tuple, device: int) -> _Flow:
        """A flow of ``size_bytes`` along the class ``cls`` starts now; returns the callback to
        give the network in place of ``then``."""
        code = self._meta_code.get(meta)
        if code is None:
            code = self._meta_code[meta] = len(self.metas)
            self.metas.append(meta)
        fid = self.next_id
        self.next_id = fid + 1
        f = self.open[fid] = _Flow((self, then, fid, code, device, self.env.now, size_bytes, cls))
        return f

    def close(self) -> None:
        """At the horizon: the flows still in progress are unfinished; the last chunk goes out."""
        for fid in sorted(self.open):
            _, _, _, meta, device, start_s, size, cls = self.open[fid]
            if cls.path_code < 0:
                cls.path_code = self.path_code(cls.path)
            self.values.extend((fid, meta, device, start_s, size, NAN, cls.path_code, UNFINISHED))
        self.open.clear()
        self.flush()

    def flush(self) -> None:
        rows = self.values
        if not rows:
            return
        a = np.fromiter(rows, dtype=float, count=len(rows)).reshape(-1, ROW)
        self.values = []
        self.rows += len(a)
        self.sink({"id": a[:, 0].astype(np.int64), "meta": a[:, 1].astype(np.int32),
                   "device": a[:, 2].astype(np.int32), "start_s": a[:, 3], "size_bytes": a[:, 4].astype(np.int64),
                   "finish_s": a[:, 5], "fct_s": a[:, 5] - a[:, 3], "path": a[:, 6].astype(np.int32),
                   "status": a[:, 7].astype(np.int8), "metas": self.metas, "paths": self.paths})
