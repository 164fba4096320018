"""The Python API: load a scenario, change it, run it, study it, plot it.

    import sim
    sc = sim.load("scenarios/early_exit.yaml")
    r = sim.run(sc.with_({"horizon_s": 60, "device_groups.0.count": 50}), seed=3)
    r.summary["mean_accuracy"], r.timeline, r.devices, r.traffic
    r.save("results")
    study = sim.sweep("scenarios/sweeps/early_exit_threshold.yaml", out="results")
    sim.plot.sweep_lines(study.aggregate, x=..., y="mean_accuracy")

Every scenario the API hands out has been validated like a scenario file (one
:class:`ScenarioError` line per problem); ``with_`` validates again.  ``run`` and
``sweep`` are the pipeline ``sim run`` and ``sim sweep`` use (:mod:`sim.pipeline`), so
the same seed gives the same numbers from the command line and from Python.  Bad
input raises the classes of :mod:`sim.errors`.  This module and the ones it names
(``sim.plots``, ``sim.reports``, ``sim.errors``, ``sim.provenance``, ``sim.profiling``)
are the public surface; the command line uses nothing else.  See docs/api.md.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from sim import pipeline
from sim.config import Scenario
from sim.errors import (BuildError, DataError, FieldError, InputError, LimitError, ResultsError, ScenarioError,
                        TraceError)
from sim.limits import Estimate
from sim.pipeline import Result, load, located, simulate, source_of, traces, with_
from sim.tracing import Tracer, TraceSelectionError
from sim.validation.ns3 import Ns3Unavailable

__all__ = ["Scenario", "Result", "Estimate", "SweepResult", "load", "with_", "traces", "simulate", "run", "check",
           "validate",
           "load_sweep", "sweep", "schema", "report", "figure", "located", "source_of",
           "InputError", "ScenarioError", "BuildError", "LimitError", "TraceError", "ResultsError", "DataError",
           "FieldError", "Tracer", "TraceSelectionError", "validate_model", "Ns3Unavailable"]


def run(scenario: Scenario | str | Path, seed: int | None = None, mode: str | None = None, replication: int = 0,
        traces_dir: str | Path | None = None, progress: Callable[[float], None] | None = None,
        requests_dir: str | Path | None = None, trace: str | Path | None = None, trace_devices: str | int = "1",
        trace_max_events: int | None = None, trace_resolution_s: float | None = None,
        **pipeline_options: Any) -> Result:
    """Simulate ``scenario`` (a Scenario or a path to a scenario file).

    ``seed`` and ``mode`` (``scale`` or ``request``: the same answers) override the
    scenario's; ``traces_dir`` is where its trace paths are relative to (default: the
    scenario file's folder); ``progress(sim_time_s)`` is called 100 times over the run;
    ``requests_dir``: stream one row per finished inference to a file there, which
    :meth:`Result.save` moves into the run folder as ``requests.parquet``; ``trace``: write a
    timeline trace of the run to that file (docs/tracing.md) with tracks for ``trace_devices``
    (N: the first N devices, or ``group:index,...``), at most ``trace_max_events`` events
    (a warning says when the cap cut it) and counters sampled every ``trace_resolution_s``.
    ``pipeline_options`` go to :func:`sim.pipeline.simulate`: ``flows=True`` keeps one row per
    flow, read back by ``Result.flows`` (docs/network.md)."""
    sc = load(scenario) if isinstance(scenario, (str, Path)) else scenario
    changes: dict[str, Any] = {}
    if seed is not None:
        changes["seed"] = seed
    if mode is not None:
        changes["fidelity.mode"] = mode
    if changes:
        sc = with_(sc, changes)
    tracer = None
    if trace is not None:  # the selection is checked before the run
        options = {k: v for k, v in (("max_events", trace_max_events), ("counter_resolution_s", trace_resolution_s))
                   if v is not None}
        tracer = pipeline_options["tracer"] = Tracer(sc, trace_devices, replication=replication,
                                                     flag="trace_devices", **options)
    result = pipeline.simulate(sc, pipeline.traces(sc, traces_dir), replication=replication, progress=progress,
                               requests_dir=requests_dir, **pipeline_options)
    if tracer is not None:
        tracer.write(trace)
        if tracer.note:
            warnings.warn(tracer.note, stacklevel=2)
    return result


def check(scenario: Scenario, force: bool = False) -> Estimate:
    """The estimated cost of a run (arrivals, windows, memory, wall time); raises
    :class:`LimitError` when it would not fit this machine (``force``: hard limits only)."""
    return pipeline.check(scenario, force)


def validate(scenario: Scenario | str | Path, traces_dir: str | Path | None = None) -> Estimate:
    """Everything ``run`` would check, without running: the schema, the traces, the limits,
    and the wiring (the model is built, e.g. a route to every server).  Returns the estimate."""
    from sim.build import build
    from sim.rng import Streams

    sc = load(scenario) if isinstance(scenario, (str, Path)) else scenario
    loaded = pipeline.traces(sc, traces_dir)
    est = check(sc)  # before building: a runaway scenario would not fit in memory
    build(sc, loaded, Streams(sc.seed))
    return est


def is_sweep_file(path: str | Path) -> bool:
    """Whether ``path`` holds a sweep (a mapping with a ``base`` scenario) rather than a scenario."""
    from sim.scenario_io import read_yaml

    try:
        data = read_yaml(Path(path))
    except ScenarioError:
        return False
    return isinstance(data, dict) and "base" in data


def load_sweep(path: str | Path):
    """A sweep file, every point validated, within the limits, and its traces loaded once
    (:class:`sim.sweeps.Sweep`).  Raises :class:`ScenarioError` (one line per problem, naming
    the point) or :class:`InputError`."""
    from sim import sweeps as sweep_mod

    path = Path(path)
    sw = sweep_mod.load_sweep(path)
    for p in sw.points:
        try:
            check(Scenario.model_validate_json(p.scenario_json))
        except LimitError as e:
            raise ScenarioError([f"{path} [point {p.index}]: {e}"]) from None
    for p in sw.points[:1] + sw.points[-1:]:  # traces are shared by all points: check them up front
        try:
            pipeline.traces(Scenario.model_validate_json(p.scenario_json), sw.base_dir)
        except BuildError as e:
            raise ScenarioError([f"{path}: base scenario: {e}"]) from None
    return sw


@dataclass
class SweepResult:
    """A finished parameter study: ``points`` (one row per point and replication),
    ``aggregate`` (mean and 95% confidence half-width per point), where it was written,
    and how many tasks ran now, were reused, or replaced stale results."""

    points: pd.DataFrame
    aggregate: pd.DataFrame
    folder: Path
    ran: int
    skipped: int
    stale: int


def sweep(study, out: str | Path = "results", workers: int = 1, scheduler: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run a parameter study (a sweep file's path, or what :func:`load_sweep` returned) into
    ``out/<sweep name>/``: every grid point x replication not already done for this content,
    serially, on ``workers`` local processes (at most the CPUs), or on a Dask scheduler."""
    from sim import sweeps as sweep_mod

    sw = load_sweep(study) if isinstance(study, (str, Path)) else study
    if workers < 1:
        raise InputError(f"workers: expected at least 1, found {workers}")
    out = Path(out).resolve()  # absolute: Dask workers may run in another directory
    folder = out / sw.spec.name
    ran, skipped, stale = sweep_mod.execute(sw, folder, workers, scheduler, progress=progress)
    points, aggregate = sweep_mod.collect(sw, folder)
    return SweepResult(points, aggregate, folder, ran, skipped, stale)


def cpus() -> int:
    return os.cpu_count() or 1


def schema() -> dict:
    """The JSON Schema of scenario files."""
    from sim.scenario_io import json_schema

    return json_schema()


def report(results: str | Path, out: str | Path | None = None) -> Path:
    """One self-contained HTML page with a run's or a sweep's summary and figures; returns its path."""
    from sim.reports import report as make_report

    results = Path(results)
    return make_report(results, Path(out) if out is not None else results / "report.html")


def figure(results: str | Path, kind: str | None = None, x: str | None = None, y: str | None = None,
           color: str | None = None):
    """One plotly figure of a run folder or a sweep folder (the figures of ``sim plot``)."""
    from sim.reports import figure as make_figure

    return make_figure(Path(results), kind, x, y, color)


def validate_model(scenario: str | Path | None = None, suite: str | Path | bool | None = None, cc: str = "newreno",
                   out: str | Path | None = None, fair_disc: str = "fair",
                   progress: Callable[[str], None] | None = None, reruns: int = 0, jitter_s: float | None = None,
                   replay: bool = False, horizon_s: float | None = None):
    """Cross-check the network model against ns-3 (docs/fidelity.md): ``scenario`` (one case, with
    congestion control ``cc``, its queues as the file says) or ``suite`` (a suite file; ``True``:
    the shipped ``scenarios/validation/suite.yaml``).  Each case runs in the simulator under both
    transport models and in ns-3; returns a :class:`sim.validation.ns3.Report`, also written to
    ``out`` (``cases.csv``, ``flows.csv``, ``report.md``) when given.  ``fair_disc``: ns-3's
    discipline for ``fair`` queues (``fair``: per-flow fair queueing without AQM; ``fqcodel``:
    FqCoDel as shipped).  ``reruns``: ns-3 runs each case that many times more, every flow's start
    later by up to ``jitter_s`` seconds (default 1 ms), each rerun compared with its first run (ns-3 against
    itself: the floor under any model's error).  ``replay``: ``scenario``'s own run, every flow
    (inference inputs and results, updates, traffic) replayed as explicit traffic on its network
    (:func:`sim.validation.ns3.replay_scenario`), for a scenario whose devices offload or update;
    ``horizon_s``: the run's first seconds only (with ``replay``).
    Raises :class:`Ns3Unavailable` without the bindings, and
    :class:`ScenarioError` for a scenario ns-3 cannot mirror."""
    from sim.validation import ns3

    if (scenario is None) == (suite is None or suite is False):
        raise InputError("give a scenario or a suite, not both or neither")
    if fair_disc not in ("fair", "fqcodel"):
        raise InputError(f"fair_disc: expected fair or fqcodel, found {fair_disc!r}")
    if cc not in ns3.CONGESTION_CONTROLS:
        raise InputError(f"cc: expected one of {', '.join(ns3.CONGESTION_CONTROLS)}, found {cc!r}")
    if replay and scenario is None:
        raise InputError("replay: replays one scenario's run, not a suite")
    if horizon_s is not None and not replay:
        raise InputError("horizon_s: shortens the run a replay replays; give replay too")
    if scenario is not None:
        cases = [ns3.Case(load(scenario).name, Path(scenario), cc, replay=replay,
                          overrides={} if horizon_s is None else {"horizon_s": horizon_s})]
    else:
        cases = ns3.load_suite(ns3.SUITE if suite is True else suite)
    report_ = ns3.validate_model(cases, fair_disc, progress, reruns, jitter_s)
    if out is not None:
        ns3.write(report_, Path(out))
    return report_
