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

import functools
import hashlib
import itertools
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Iterable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.names import Name
from sim.scenario_io import ScenarioError, apply_overrides, field_path, read_yaml, validate


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
    """Read and fully validate a sweep file; raises ScenarioError with one line per problem."""
    path = Path(path)
    data = read_yaml(path)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as e:
        raise ScenarioError([f"{path}: {field_path(err['loc'])}: "
                             f"{'unknown field' if err['type'] == 'extra_forbidden' else err['msg']}"
                             for err in e.errors(include_url=False)]) from None
    n = max(len(spec.points), 1) * math.prod(len(v) for v in spec.grid.values())
    if n > MAX_POINTS:
        raise ScenarioError([f"{path}: grid: {n:,} points (at most {MAX_POINTS:,})"])
    base_path = (path.parent / spec.base).resolve()
    base = read_yaml(base_path)
    combos = [dict(zip(spec.grid, values)) for values in itertools.product(*spec.grid.values())] or [{}]
    explicit = spec.points or [{}]
    points, problems = [], []  # problems: (point label, "field: message")
    all_params = [{**p, **c} for p in explicit for c in combos]
    for i, params in enumerate(all_params):
        label = ", ".join(f"{k}={json.dumps(v, sort_keys=True)}" for k, v in params.items()) or "(base)"
        source = f"{path} [point {i}: {label}]"
        try:
            data = apply_overrides(base, {**spec.overrides, **params}, str(path))
            scenario = validate(data, source)
        except ScenarioError as e:
            problems += [(source, line.removeprefix(source + ": ")) for line in e.problems]
            continue
        points.append(Point(i, params, scenario.model_dump_json(exclude_unset=True)))
    if problems:
        # a problem every point has is the base scenario's (or the overrides'): said once, against it
        where = base_path if not spec.overrides else f"{base_path} (with the sweep's overrides)"
        try:
            validate(apply_overrides(base, dict(spec.overrides), str(path)), str(where))
            own: set[str] = set()
        except ScenarioError as e:
            own = {line.removeprefix(f"{where}: ") for line in e.problems}
        counts: dict[str, int] = {}
        for _, msg in problems:
            counts[msg] = counts.get(msg, 0) + 1
        shared = {m for m, n in counts.items() if n == len(all_params) and m in own}
        lines = [f"{where}: {m}" for m in sorted(shared)]
        lines += [f"{src}: {m}" for src, m in problems if m not in shared]
        raise ScenarioError(lines)
    return Sweep(spec, path, base_path.parent, points)


def task_dir(out: Path, point: Point, replication: int) -> Path:
    return out / "points" / f"p{point.index:04d}-r{replication}"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the simulator's source (``sim/*.py``): results of other code are stale."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def task_key(scenario_json: str, base_dir: str, replication: int) -> dict:
    """What a finished task folder must match to be reused."""
    scenario = hashlib.sha256(f"{base_dir}\n{scenario_json}".encode()).hexdigest()[:16]
    return {"scenario": scenario, "replication": replication, "code": code_version()}


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
    """Run one (point, replication) and write its folder atomically.  Safe to call in any process."""
    from sim import metrics
    from sim.build import load_traces
    from sim.config import Scenario
    from sim.runner import run

    final = Path(folder)
    key = task_key(scenario_json, base_dir, replication)
    if task_state(final, key) == "done":
        return json.loads((final / "summary.json").read_text())
    scenario = Scenario.model_validate_json(scenario_json)
    result = run(scenario, load_traces(scenario, Path(base_dir)), replication=replication)
    summary = metrics.frames(result)[0]
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, allow_nan=False) + "\n")
        (tmp / "scenario.json").write_text(scenario_json)
        (tmp / "task.json").write_text(json.dumps(key) + "\n")
        if task_state(final, key) == "stale":
            shutil.rmtree(final, ignore_errors=True)
        try:
            os.rename(tmp, final)
        except OSError:  # another worker finished the same task first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return json.loads((final / "summary.json").read_text())


def execute(sweep: Sweep, out: Path, workers: int = 1, scheduler: str | None = None,
            progress: Callable[[int, int], None] | None = None) -> tuple[int, int, int]:
    """Run every task not done for this sweep's current content; returns (tasks run now, tasks
    skipped as done, of those run how many replaced stale results)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in (out / "points").glob(".*") if (out / "points").exists() else []:
        shutil.rmtree(stale, ignore_errors=True)  # partial folders of an interrupted run
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
    for name, write in (("points.parquet", lambda f: points.to_parquet(f, index=False)),
                        ("aggregate.parquet", lambda f: aggregate.to_parquet(f, index=False)),
                        ("sweep.json", lambda f: f.write_text(json.dumps(meta, indent=1) + "\n"))):
        tmp = out / f".{name}.partial"
        write(tmp)
        os.replace(tmp, out / name)
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
