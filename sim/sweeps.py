"""Parameter studies: a base scenario, a grid of dotted-path overrides, replications.

A sweep file::

    name: threshold_study
    base: ../early_exit.yaml          # relative to the sweep file
    replications: 3
    overrides: {horizon_s: 120}       # applied to every point
    points:                           # explicit points (optional) ...
      - {policies.routing: {kind: cloud_only}}
    grid:                             # ... times the product of these lists (optional)
      policies.routing.threshold_nats: [0.2, 0.8, 1.6]
    plot: {x: policies.routing.threshold_nats, y: mean_accuracy, color: policies.routing.kind}

Every point is validated through the scenario schema before anything runs.  Each
(point, replication) runs in its own folder ``points/pNNNN-rR`` written atomically;
rerunning skips folders that are complete, so a sweep killed half-way resumes with
every point exactly once.  Executors: serial, a local process pool, or a Dask
``distributed`` cluster; all give identical per-point results (the seed is the
scenario's, the replication index selects independent streams).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field

from sim import atomic, provenance
from sim.names import Name
from sim.scenario_io import (ScenarioError, at, model_problems, read_document, scenario_problems,
                             set_path, under)


class SweepSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Name
    base: str
    replications: int = Field(1, ge=1, le=10_000)
    overrides: dict[str, Any] = {}
    points: list[dict[str, Any]] = []
    grid: dict[str, Annotated[list[Any], Field(min_length=1)]] = {}
    plot: dict[str, Any] = {}
    description: str = ""


MAX_POINTS = 100_000


@dataclass(frozen=True)
class Point:
    index: int
    params: dict[str, Any]  # the overrides that distinguish this point
    scenario_json: str  # the validated scenario, canonical JSON


@dataclass(frozen=True)
class Sweep:
    spec: SweepSpec
    path: Path
    base_dir: Path  # the base scenario's folder (trace paths are relative to it)
    points: list[Point]

    def tasks(self) -> list[tuple[Point, int]]:
        return [(p, r) for p in self.points for r in range(self.spec.replications)]


def load_sweep(path: Path | str) -> Sweep:
    """Read and fully validate a sweep file; raises ScenarioError with one line per problem.

    Each line names the file and line of the value at fault: the sweep file's where the
    value comes from it (an override, a point, a grid value), else the base scenario's."""
    path = Path(path)
    doc = read_document(path)
    spec, spec_problems = model_problems(SweepSpec, doc.data)
    if spec_problems:
        raise ScenarioError([p.line(str(path), doc.where) for p in spec_problems])
    n = max(len(spec.points), 1) * math.prod(len(v) for v in spec.grid.values())
    if n > MAX_POINTS:
        raise ScenarioError([f"{at(str(path), doc.where(('grid',), True))}: grid: {n:,} points "
                             f"(at most {MAX_POINTS:,})"])
    base_path = (path.parent / spec.base).resolve()
    base = read_document(base_path)

    def place(loc: tuple, key: bool, origin: dict[str, tuple]) -> str:
        """FILE:LINE:COLUMN of the value at ``loc``: where the last override covering it
        (``origin``: dotted path -> its value's place in the sweep file) set it, else the base's."""
        covering = [k for k in origin if under(loc, k)]
        if not covering:
            return at(str(base_path), base.where(loc, key))
        k = covering[-1]
        return at(str(path), doc.where(origin[k] + tuple(loc[len(k.split(".")):]), key))

    def check(overrides: dict[str, Any], origin: dict[str, tuple]) -> tuple[Any, list[tuple[str, str, str]]]:
        """The scenario (or None) and its problems as (place, field, message)."""
        data = copy.deepcopy(base.data)
        for dotted, value in overrides.items():
            problem = set_path(data, dotted, value)
            if problem:
                return None, [(at(str(path), doc.where(origin[dotted], True)), dotted, problem)]
        scenario, problems = scenario_problems(data)
        return scenario, [(place(p.loc, p.key, origin), p.path, p.message) for p in problems]

    explicit = spec.points or [{}]
    grid_index = list(itertools.product(*(range(len(v)) for v in spec.grid.values())))
    points, problems, labels = [], [], []  # problems: (point index, place, field, message)
    for j, indices in ((j, ix) for j in range(len(explicit)) for ix in grid_index):
        i = len(labels)
        combo = {k: spec.grid[k][m] for k, m in zip(spec.grid, indices)}
        params = {**explicit[j], **combo}
        labels.append(", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in params.items()) or "(base)")
        # where each override's value stands in the sweep file; later ones take precedence
        origin = {k: ("overrides", k) for k in spec.overrides}
        origin.update({k: ("points", j, k) for k in explicit[j]})
        origin.update({k: ("grid", k, m) for k, m in zip(spec.grid, indices)})
        scenario, found = check({**spec.overrides, **params}, origin)
        if found:
            problems += [(i, *f) for f in found]
            continue
        points.append(Point(i, params, scenario.model_dump_json(exclude_unset=True)))
    if problems:
        # a problem every point has is the base scenario's (or the overrides'): said once, against it
        _, own = check(dict(spec.overrides), {k: ("overrides", k) for k in spec.overrides})
        counts: dict[tuple[str, str], int] = {}
        for _, _, field, msg in problems:
            counts[field, msg] = counts.get((field, msg), 0) + 1
        shared = {(f, m) for f, m in counts if counts[f, m] == len(labels)} & {(f, m) for _, f, m in own}
        lines = [f"{where}: {f}: {m}" for where, f, m in own if (f, m) in shared]
        lines += [f"{where} [point {i}: {labels[i]}]: {f}: {m}" for i, where, f, m in problems
                  if (f, m) not in shared]
        raise ScenarioError(lines)
    return Sweep(spec, path, base_path.parent, points)


def task_dir(out: Path, point: Point, replication: int) -> Path:
    return out / "points" / f"p{point.index:04d}-r{replication}"


def task_key(scenario_json: str, base_dir: str, replication: int) -> dict:
    """What a finished task folder must match to be reused."""
    scenario = hashlib.sha256(f"{base_dir}\n{scenario_json}".encode()).hexdigest()[:16]
    return {"scenario": scenario, "replication": replication, "code": provenance.code_version()}


def task_state(folder: Path, key: dict) -> str:
    """``done`` (reusable), ``stale`` (finished, for something else) or ``todo``."""
    if not (folder / "summary.json").exists():
        return "todo"
    try:
        found = json.loads((folder / "task.json").read_text())
    except (OSError, ValueError):
        return "stale"
    return "done" if found == key else "stale"


def run_task(scenario_json: str, base_dir: str, replication: int, folder: str) -> dict:
    """Run one (point, replication) through the one pipeline and write its folder
    atomically.  Safe to call in any process."""
    from sim import pipeline
    from sim.config import Scenario

    final = Path(folder)
    key = task_key(scenario_json, base_dir, replication)
    if task_state(final, key) == "done":
        return json.loads((final / "summary.json").read_text())
    scenario = Scenario.model_validate_json(scenario_json)
    summary = pipeline.simulate(scenario, pipeline.traces(scenario, base_dir), replication=replication,
                                flows=False).summary  # a task keeps its summary only
    tmp = atomic.partial_folder(final)
    try:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
        (tmp / "scenario.json").write_text(scenario_json)
        (tmp / "task.json").write_text(json.dumps(key) + "\n")
        if task_state(final, key) == "stale":
            shutil.rmtree(final, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # another worker may have finished the same task first: keep theirs (the same content)
    atomic.publish(tmp, final, keep_existing=True)
    return json.loads((final / "summary.json").read_text())


def execute(sweep: Sweep, out: Path, workers: int = 1, scheduler: str | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int]:
    """Run every task not done for this sweep's current content; returns (tasks run now, tasks
    skipped as done, of those run how many replaced stale results)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic.clean_stale_partials(out / "points")  # partial folders of an interrupted run
    atomic.clean_stale_partials(out)
    todo, skipped, stale = [], 0, 0
    for point, r in sweep.tasks():
        folder = task_dir(out, point, r)
        state = task_state(folder, task_key(point.scenario_json, str(sweep.base_dir), r))
        if state == "done":
            skipped += 1
            continue
        stale += state == "stale"
        todo.append((point.scenario_json, str(sweep.base_dir), r, str(folder)))
    total = len(todo)
    if progress:
        progress(0, total)
    for done, _ in enumerate(_map(todo, workers, scheduler), start=1):
        if progress:
            progress(done, total)
    return total, skipped, stale


def _map(todo: list[tuple], workers: int, scheduler: str | None) -> Iterable[dict]:
    if not todo:
        return
    if scheduler:
        from distributed import Client, as_completed

        with Client(scheduler, timeout="20s") as client:
            futures = [client.submit(run_task, *t, pure=False) for t in todo]
            for f in as_completed(futures):
                yield f.result()
    elif workers > 1:
        from concurrent.futures import ProcessPoolExecutor, as_completed as done_first

        pool = ProcessPoolExecutor(max_workers=workers, initializer=_die_with_parent)
        try:
            for f in done_first([pool.submit(run_task, *t) for t in todo]):
                yield f.result()
        except BaseException:  # Ctrl-C or a failed task: stop now, not after the running tasks
            procs = list((pool._processes or {}).values())  # noqa: SLF001 (no public handle on the workers)
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in procs:
                proc.kill()
            raise
        pool.shutdown()
    else:
        for t in todo:
            yield run_task(*t)


def _die_with_parent() -> None:
    """A pool worker is killed when the sweep process dies, however it dies (Linux: the
    parent-death signal; elsewhere the pool's own shutdown is all there is)."""
    import signal

    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def param_value(v: Any) -> Any:
    """A parquet-friendly parameter value: numbers stay numbers (YAML 1.1 reads ``1.0e5``
    as a string; the scenario schema reads it as a number, and so does this)."""
    if isinstance(v, str):
        try:
            return float(v) if any(c in v for c in ".eE") else int(v)
        except ValueError:
            return v
    return v if isinstance(v, (int, float, bool)) or v is None else json.dumps(v, sort_keys=True)


def collect(sweep: Sweep, out: Path):
    """points.parquet (one row per point and replication) and aggregate.parquet
    (mean and 95% confidence interval per point) from the finished task folders."""
    import numpy as np
    import pandas as pd

    rows = []
    for point, r in sweep.tasks():
        folder = task_dir(out, point, r)
        if task_state(folder, task_key(point.scenario_json, str(sweep.base_dir), r)) != "done":
            continue  # not run, or results of something else: never labelled with this point
        summary = json.loads((folder / "summary.json").read_text())
        rows.append({"point": point.index, "replication": r,
                     **{f"param:{k}": param_value(v) for k, v in point.params.items()}, **flatten(summary)})
    points = pd.DataFrame(rows)
    params = [c for c in points.columns if c.startswith("param:")]
    metrics_cols = [c for c in points.columns if c not in params + ["point", "replication"]
                    and pd.api.types.is_numeric_dtype(points[c]) and not pd.api.types.is_bool_dtype(points[c])]
    agg = []
    for p, g in points.groupby("point", sort=True):
        row = {"point": p, "replications": len(g), **{c: g[c].iloc[0] for c in params}}
        for c in metrics_cols:
            x = g[c].to_numpy(dtype=float)
            x = x[~np.isnan(x)]
            m = float(x.mean()) if len(x) else math.nan
            half = _t95(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x)) if len(x) > 1 else math.nan
            row[c] = m
            row[f"{c}:ci95"] = half
        agg.append(row)
    aggregate = pd.DataFrame(agg)
    meta = {"sweep": sweep.spec.model_dump(mode="json"), "sweep_file": str(sweep.path),
            "points": len(sweep.points), "replications": sweep.spec.replications}
    # each file written beside and renamed into place: a kill leaves the old file or the new one
    atomic.write_with(out / "points.parquet", lambda f: points.to_parquet(f, index=False))
    atomic.write_with(out / "aggregate.parquet", lambda f: aggregate.to_parquet(f, index=False))
    atomic.write_json(out / "sweep.json", meta, indent=1)
    return points, aggregate


def _t95(df: int) -> float:
    """Two-sided 95% Student t quantile."""
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
             10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}
    if df <= 0:
        return math.nan
    if df in table:
        return table[df]
    keys = sorted(table)
    for a, b in zip(keys, keys[1:]):
        if a < df < b:
            return table[a] + (table[b] - table[a]) * (df - a) / (b - a)
    return 1.96 + 2.4 / df  # close to the exact value above 30 degrees of freedom
