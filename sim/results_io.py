"""The only writer of ``results/``.

A run is written into a hidden temporary folder beside its destination and renamed
into place at the end, so an interrupted run never leaves a folder that looks
complete.  ``summary.json`` and the Parquet files depend only on scenario and seed;
times, versions and wall seconds go to ``manifest.json``.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from sim.recorder import REQUEST_COLUMNS
from sim.scenario_io import scenario_sha256
from sim.runner import RunResult

ROW_GROUP = 65_536  # per-request rows written per Parquet row group
REQUEST_TYPES = {"group": pa.int32(), "device": pa.int32(), "place": pa.int32(), "exit": pa.int8(),
                 "correct": pa.bool_(), "version": pa.int32(), "bytes_up": pa.int64(), "bytes_down": pa.int64()}
REQUEST_SCHEMA = pa.schema([(c, REQUEST_TYPES.get(c, pa.float64())) for c in REQUEST_COLUMNS])

PACKAGES = ("simpy", "numpy", "pandas", "pyarrow", "pydantic", "networkx", "typer", "torch")


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the simulator's own checkout (not of the current directory), or None."""
    cwd = Path(__file__).resolve().parents[1] if cwd is None else cwd
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def write_frame(path: Path, df: pd.DataFrame) -> None:
    df.to_parquet(path, index=False, engine="pyarrow")


def new_run_dir(out: Path, scenario_name: str, seed: int, started: _dt.datetime) -> Path:
    base = out / scenario_name / f"{started.strftime('%Y%m%dT%H%M%SZ')}-s{seed}"
    final, k = base, 1
    while final.exists():
        k += 1
        final = base.with_name(f"{base.name}-{k}")
    return final


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_partials(folder: Path) -> None:
    """Remove hidden ``.partial`` files and folders left in ``folder`` by runs that died (their
    writer's process id, in the name, is no longer alive); a live run's are left alone."""
    if not folder.is_dir():
        return
    for p in folder.glob(".*.partial"):
        pid = next((int(part[1:]) for part in p.name.split(".") if part[:1] == "p" and part[1:].isdigit()), None)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def publish(tmp: Path, final: Path) -> Path:
    """Rename the finished folder ``tmp`` to ``final``, or to ``final-2``, ``-3``, ... when another
    run took that name first (two runs into one --out in the same second): never lost."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it 0700; a published run is as readable as any folder
    base, k = final, 1
    while True:
        try:
            os.rename(tmp, final)
            return final
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or k > 10_000:
                raise
        k += 1
        final = base.with_name(f"{base.name}-{k}")


class RequestWriter:
    """A run's ``sink`` for per-request rows (``sim run --requests``): streams them to a
    hidden Parquet file beside the results, a row group of :data:`ROW_GROUP` rows at a time,
    so they are never all in memory.  :func:`write_run` moves the file into the run folder."""

    def __init__(self, out: Path, scenario_name: str):
        folder = out / scenario_name
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".requests.p{os.getpid()}.", suffix=".parquet.partial", dir=folder)
        os.close(fd)
        self.path = Path(name)
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


def write_run(result: RunResult, summary: dict, timeline: pd.DataFrame, devices: pd.DataFrame,
              out: Path, scenario_path: str, started: _dt.datetime, requests: Path | None = None) -> Path:
    """Write one run's folder atomically; returns its final path.  ``requests``: a finished
    :class:`RequestWriter` file, moved in as ``requests.parquet``."""
    sc = result.scenario
    final = new_run_dir(out, sc.name, sc.seed, started)
    final.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_partials(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.p{os.getpid()}.", suffix=".partial", dir=final.parent))
    try:
        manifest = {
            "scenario_file": scenario_path,
            "scenario": sc.model_dump(mode="json"),
            "scenario_sha256": scenario_sha256(sc),
            "seed": sc.seed,
            "replication": result.replication,
            "packages": package_versions(),
            "git_commit": git_commit(),
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.system()},
            "started_utc": started.isoformat(),
            "wall_s": result.wall_s,
            "events": result.events,
        }
        write_json(tmp / "manifest.json", manifest)
        write_json(tmp / "summary.json", summary)
        write_frame(tmp / "timeline.parquet", timeline)
        write_frame(tmp / "devices.parquet", devices)
        if requests is not None:
            os.replace(requests, tmp / "requests.parquet")
        final = publish(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
