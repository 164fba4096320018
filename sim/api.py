"""The Python API: load a scenario, change it, run it, keep the results.

    import sim
    sc = sim.load("scenarios/early_exit.yaml")
    r = sim.run(sc.with_({"horizon_s": 60, "device_groups.0.count": 50}), seed=3)
    r.summary["mean_accuracy"], r.timeline, r.devices
    r.save("results")

Every scenario the API hands out has been validated like a scenario file (one
:class:`ScenarioError` line per problem); ``with_`` validates again.  ``run`` is the
same pipeline ``sim run`` uses (build, run, metrics), so the same seed gives the same
numbers from the command line and from Python.  See docs/api.md.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from sim.config import Scenario
from sim.scenario_io import ScenarioError, apply_overrides, load_scenario, validate

__all__ = ["Scenario", "ScenarioError", "Result", "load", "with_", "run"]


def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """The scenario in ``path`` (YAML), with dotted-path ``overrides`` applied, validated.
    Its trace paths stay relative to the file's folder."""
    path = Path(path)
    sc = load_scenario(path, overrides)
    object.__setattr__(sc, "__sim_source__", path.resolve())
    return sc


def source_of(scenario: Scenario) -> Path | None:
    return getattr(scenario, "__sim_source__", None)


def with_(scenario: Scenario, overrides: dict[str, Any] | None = None, **fields: Any) -> Scenario:
    """A copy of ``scenario`` with dotted-path ``overrides`` (``{"device_groups.0.count": 5}``)
    and top-level ``fields`` (``horizon_s=60``) changed, validated again (unlike
    ``model_copy``, which pydantic does not validate)."""
    src = source_of(scenario)
    data = apply_overrides(scenario.model_dump(mode="json", exclude_unset=True), {**(overrides or {}), **fields},
                           str(src or scenario.name))
    sc = validate(data, str(src or scenario.name))
    if src is not None:
        object.__setattr__(sc, "__sim_source__", src)
    return sc


@dataclass
class Result:
    """One run: ``summary`` (dict), ``timeline`` and ``devices`` (pandas), the raw ``run``."""

    scenario: Scenario
    summary: dict
    timeline: pd.DataFrame
    devices: pd.DataFrame
    run: Any = field(repr=False)
    started: _dt.datetime = field(repr=False, default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))

    def save(self, out: str | Path = "results") -> Path:
        """Write the run folder ``out/<scenario>/<run id>/`` as ``sim run`` does; returns it."""
        from sim.results_io import write_run

        src = source_of(self.scenario)
        return write_run(self.run, self.summary, self.timeline, self.devices, Path(out),
                         str(src) if src else "(python)", self.started)


def run(scenario: Scenario | str | Path, seed: int | None = None, mode: str | None = None, replication: int = 0,
        traces_dir: str | Path | None = None, progress: Callable[[float], None] | None = None) -> Result:
    """Simulate ``scenario`` (a Scenario or a path).  ``seed`` and ``mode`` (``scale`` or
    ``request``: the same answers) override the scenario's; ``traces_dir`` is where its
    trace paths are relative to (default: the scenario file's folder)."""
    from sim import metrics
    from sim.build import load_traces
    from sim.runner import run as run_model

    sc = load(scenario) if isinstance(scenario, (str, Path)) else scenario
    changes = {}
    if seed is not None:
        changes["seed"] = seed
    if mode is not None:
        changes["fidelity.mode"] = mode
    if changes:
        sc = with_(sc, changes)
    base = Path(traces_dir) if traces_dir is not None else (source_of(sc).parent if source_of(sc) else Path.cwd())
    started = _dt.datetime.now(_dt.timezone.utc)
    result = run_model(sc, load_traces(sc, base), replication=replication, progress=progress)
    summary, timeline, devices = metrics.frames(result)
    return Result(sc, summary, timeline, devices, result, started)
