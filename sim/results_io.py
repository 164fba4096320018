"""The writer of run folders (``results/<scenario>/<run id>/``).

A run is written into a hidden partial folder beside its destination and renamed into
place at the end (:mod:`sim.atomic`), so an interrupted run never leaves a folder that
looks complete, and two runs into one ``--out`` never lose each other's results.
``summary.json`` and the Parquet files depend only on scenario and seed; times,
versions and wall seconds go to ``manifest.json`` (:mod:`sim.provenance`).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim import atomic, provenance
from sim.atomic import clean_stale_partials, publish  # noqa: F401  (the run folder's helpers, importable here)
from sim.entities.flowlog import FLOW_COLUMNS, STATUSES
from sim.recorder import REQUEST_COLUMNS
from sim.scenario_io import scenario_sha256

if TYPE_CHECKING:
    from sim.pipeline import Result

ROW_GROUP = 65_536  # per-request rows written per Parquet row group
REQUEST_TYPES = {"group": pa.int32(), "device": pa.int32(), "place": pa.int32(), "exit": pa.int8(),
                 "correct": pa.bool_(), "version": pa.int32(), "bytes_up": pa.int64(), "bytes_down": pa.int64()}
REQUEST_SCHEMA = pa.schema([(c, REQUEST_TYPES.get(c, pa.float64())) for c in REQUEST_COLUMNS])
FRAMES = ("timeline", "devices", "traffic")  # the Parquet files of a run folder, one per frame of the result
FLOW_TYPES = {"id": pa.int64(), "device": pa.int32(), "size_bytes": pa.int64(), "start_s": pa.float64(),
              "finish_s": pa.float64(), "fct_s": pa.float64()}
# names, endpoints, purposes, paths and statuses repeat: dictionary-encoded (categories in pandas)
FLOW_SCHEMA = pa.schema([(c, FLOW_TYPES.get(c, pa.dictionary(pa.int32(), pa.string()))) for c in FLOW_COLUMNS])


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_frame(path: Path, df: pd.DataFrame) -> None:
    df.to_parquet(path, index=False, engine="pyarrow")


def new_run_dir(out: Path, scenario_name: str, seed: int, started: _dt.datetime) -> Path:
    base = out / scenario_name / f"{started.strftime('%Y%m%dT%H%M%SZ')}-s{seed}"
    final, k = base, 1
    while final.exists():
        k += 1
        final = base.with_name(f"{base.name}-{k}")
    return final


class RequestWriter:
    """A run's ``sink`` for per-request rows (``sim run --requests``): streams them to a
    hidden Parquet file beside the results, a row group of :data:`ROW_GROUP` rows at a time,
    so they are never all in memory.  :func:`write_run` moves the file into the run folder."""

    def __init__(self, out: Path, scenario_name: str):
        self.path = atomic.partial_file(out / scenario_name / "requests.parquet")
        self._writer = pq.ParquetWriter(self.path, REQUEST_SCHEMA)
        self._chunks: list[dict] = []
        self._rows = 0

    def __call__(self, chunk: dict) -> None:
        self._chunks.append(chunk)
        self._rows += len(chunk["done_s"])
        if self._rows >= ROW_GROUP:
            self._write()

    def _write(self) -> None:
        if not self._chunks:
            return
        cols = {c: np.concatenate([np.asarray(ch[c]) for ch in self._chunks]) for c in REQUEST_COLUMNS}
        self._writer.write_table(pa.table({c: pa.array(v, type=REQUEST_SCHEMA.field(c).type, from_pandas=True)
                                           for c, v in cols.items()}, schema=REQUEST_SCHEMA))
        self._chunks, self._rows = [], 0

    def close(self) -> Path:
        self._write()
        self._writer.close()
        return self.path

    def discard(self) -> None:
        try:
            self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


class FlowWriter:
    """A run's ``flow_sink``: one row per flow (:mod:`sim.entities.flowlog`), streamed to a
    hidden Parquet file a row group per chunk, so the rows are never all in memory.  The file
    is made by ``new_path()`` when the first chunk comes (or at :meth:`close`), so a run that
    fails while it is built leaves nothing behind.  :func:`write_run` moves the file into the
    run folder as ``flows.parquet``."""

    def __init__(self, new_path: Callable[[], Path]):
        self._new_path = new_path
        self.path: Path | None = None
        self._writer = None

    def _open(self) -> None:
        self.path = self._new_path()
        # dictionary pages for the repeated strings only: unique times and ids gain nothing from them
        self._writer = pq.ParquetWriter(self.path, FLOW_SCHEMA, use_dictionary=[
            f.name for f in FLOW_SCHEMA if pa.types.is_dictionary(f.type)])

    def __call__(self, chunk: dict) -> None:
        if self._writer is None:
            self._open()
        meta = pa.array(chunk["meta"])

        def coded(codes, values) -> pa.DictionaryArray:
            return pa.DictionaryArray.from_arrays(codes, pa.array(values, pa.string()))

        names, srcs, dsts, purposes = (coded(meta, list(c)) for c in zip(*chunk["metas"]))
        cols = {"id": chunk["id"], "name": names, "src": srcs, "dst": dsts, "purpose": purposes,
                "device": chunk["device"], "start_s": chunk["start_s"], "size_bytes": chunk["size_bytes"],
                "finish_s": chunk["finish_s"], "fct_s": chunk["fct_s"],
                "path": coded(pa.array(chunk["path"]), chunk["paths"]),
                "status": coded(pa.array(chunk["status"].astype(np.int32)), list(STATUSES))}
        self._writer.write_table(pa.table({c: pa.array(v, type=FLOW_SCHEMA.field(c).type) if isinstance(v, np.ndarray)
                                           else v for c, v in cols.items()}, schema=FLOW_SCHEMA))

    def close(self) -> Path:
        if self._writer is None:
            self._open()
        self._writer.close()
        return self.path

    def discard(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.close()
        finally:
            self.path.unlink(missing_ok=True)


def write_run(result: "Result", out: Path, scenario_path: str) -> Path:
    """Write one run's folder atomically; returns its final path.  The result's streamed
    per-request rows (``sim run --requests``), if any, are moved in as ``requests.parquet``,
    and its per-flow rows as ``flows.parquet``."""
    sc = result.scenario
    final = new_run_dir(out, sc.name, sc.seed, result.started)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(final.parent)
    tmp = atomic.partial_folder(final)
    try:
        manifest = {
            "scenario_file": scenario_path,
            "scenario": sc.model_dump(mode="json"),
            "scenario_sha256": scenario_sha256(sc),
            "seed": sc.seed,
            "replication": result.run.replication,
            "simulator": {"version": provenance.version(), "git_commit": provenance.git_commit(),
                          "code_sha256": provenance.code_version()},
            "packages": provenance.package_versions(),
            "host": provenance.host(),
            "command": provenance.command(),
            "started_utc": result.started.isoformat(),
            "wall_s": result.run.wall_s,
            "events": result.run.events,
        }
        write_json(tmp / "manifest.json", manifest)
        write_json(tmp / "summary.json", result.summary)
        for name in FRAMES:
            write_frame(tmp / f"{name}.parquet", getattr(result, name))
        if result.requests_file is not None:
            shutil.move(result.requests_file, tmp / "requests.parquet")
            os.chmod(tmp / "requests.parquet", 0o666 & ~atomic._umask())  # mkstemp made it 0600
        if result.flows_file is not None:  # moved in from its hidden file; copied from an earlier run folder
            (shutil.copy2 if result.flows_saved else shutil.move)(result.flows_file, tmp / "flows.parquet")
            os.chmod(tmp / "flows.parquet", 0o666 & ~atomic._umask())  # mkstemp made it 0600
        final = publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
