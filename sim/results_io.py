"""The only writer of ``results/``.

A run is written into a hidden temporary folder beside its destination and renamed
into place at the end, so an interrupted run never leaves a folder that looks
complete.  ``summary.json`` and the Parquet files depend only on scenario and seed;
times, versions and wall seconds go to ``manifest.json``.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import pandas as pd

from sim.scenario_io import scenario_sha256
from sim.run import RunResult

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


def write_run(result: RunResult, summary: dict, timeline: pd.DataFrame, devices: pd.DataFrame,
              out: Path, scenario_path: str, started: _dt.datetime) -> Path:
    """Write one run's folder atomically; returns its final path."""
    sc = result.scenario
    final = new_run_dir(out, sc.name, sc.seed, started)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
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
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
