"""The one pipeline: load -> check -> run -> metrics -> write.

``sim run``, every sweep task and the Python API (``sim.run``) go through these
functions and nothing else, so the same scenario and seed give the same numbers by
every road:

* :func:`load` reads a scenario file (with dotted-path overrides) and validates it;
* :func:`traces` loads the traces it references, relative to its folder;
* :func:`check` holds it to the limits of this machine (:mod:`sim.limits`);
* :func:`simulate` builds and runs the model and turns the recorder's aggregates into
  the summary and the frames: a :class:`Result`;
* :meth:`Result.save` writes the run folder (:mod:`sim.results_io`, atomically).

Errors are the classes of :mod:`sim.errors`: the command line prints them as one line
(naming the file) and exits 2; the API raises them.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from sim.build import LoadedTraces, load_traces
from sim.config import Scenario
from sim.errors import FieldError, InputError
from sim.limits import Estimate, check as check_limits
from sim.scenario_io import load_scenario, mark_source, source_of, with_  # noqa: F401 (re-exported)



def load(path: str | Path, overrides: dict[str, Any] | None = None) -> Scenario:
    """The scenario in ``path`` (YAML), with dotted-path ``overrides`` applied, validated.
    Raises :class:`sim.errors.ScenarioError` (one line per problem)."""
    return mark_source(load_scenario(Path(path), overrides), Path(path))


def traces(scenario: Scenario, traces_dir: str | Path | None = None) -> LoadedTraces:
    """The traces ``scenario`` references, relative to ``traces_dir`` (default: the folder of
    the file it was loaded from, else the current directory).  Raises
    :class:`sim.errors.BuildError` naming the field."""
    src = source_of(scenario)
    base = Path(traces_dir) if traces_dir is not None else (src.parent if src is not None else Path.cwd())
    return load_traces(scenario, base)


def check(scenario: Scenario, force: bool = False) -> Estimate:
    """The estimated cost of ``scenario`` (arrivals, windows, memory, wall time), or
    :class:`sim.errors.LimitError` when it would not fit this machine (``force``: only the
    hard limits)."""
    return check_limits(scenario, force)


def located(error: InputError, where: str | Path | None) -> list[str]:
    """The lines to print for ``error``; a field error is prefixed by the file it is about."""
    if isinstance(error, FieldError) and where is not None:
        return [f"{where}: {error}"]
    return error.lines()


@dataclass
class Result:
    """One run: ``summary`` (dict), ``timeline`` (one row per metrics window), ``devices`` (one
    row per device) and ``traffic`` (per link and purpose), as pandas frames; ``run`` is
    the raw :class:`sim.runner.RunResult`."""

    scenario: Scenario
    summary: dict
    timeline: pd.DataFrame
    devices: pd.DataFrame
    traffic: pd.DataFrame
    run: Any = field(repr=False)
    started: _dt.datetime = field(repr=False, default_factory=lambda: _dt.datetime.now(_dt.timezone.utc))
    requests_file: Path | None = field(repr=False, default=None)  # streamed per-request rows, moved in by save()
    flows_file: Path | None = field(repr=False, default=None)  # streamed per-flow rows (flows.parquet)
    flows_saved: bool = field(repr=False, default=False)  # flows_file is the one in a run folder

    @property
    def flows(self) -> pd.DataFrame:
        """One row per flow of the run (``flows.parquet``: docs/network.md), read from the file
        the run streamed them to (the run folder's after :meth:`save`), sorted by ``id`` (the
        order the flows started in), on each access (keep the frame); ``None`` unless the run
        kept them (``flows=True``)."""
        if self.flows_file is None:
            return None
        return pd.read_parquet(self.flows_file).sort_values("id", kind="stable").reset_index(drop=True)

    @property
    def events(self) -> int:
        return self.run.events

    @property
    def wall_s(self) -> float:
        return self.run.wall_s

    def save(self, out: str | Path = "results", scenario_file: str | None = None) -> Path:
        """Write the run folder ``out/<scenario>/<run id>/`` (as ``sim run`` does); returns it."""
        from sim.results_io import write_run

        src = source_of(self.scenario)
        folder = write_run(self, Path(out), scenario_file or (str(src) if src else "(python)"))
        self.requests_file = None  # moved into the folder
        if self.flows_file is not None:
            self.flows_file, self.flows_saved = folder / "flows.parquet", True
        return folder


def simulate(scenario: Scenario, loaded: LoadedTraces, replication: int = 0,
             progress: Callable[[float], None] | None = None, requests_dir: str | Path | None = None,
             tracer: Any = None, flows: bool = False, flows_dir: str | Path | None = None) -> Result:
    """Build and run ``scenario`` with its ``loaded`` traces, then summarise it.

    ``progress(sim_time_s)`` is called now and then; with ``requests_dir`` one row per
    finished inference is streamed to a hidden file there (``sim run --requests``), which
    :meth:`Result.save` moves into the run folder; ``tracer`` records a timeline trace
    (:mod:`sim.tracing`).  With ``flows`` one row per flow is streamed to a hidden file in
    ``flows_dir`` (default: the system's temporary folder; removed with the result unless
    saved), read back by :attr:`Result.flows` and moved into the run folder as
    ``flows.parquet`` by :meth:`Result.save` (opt-in: it cost 19-36% more CPU time on a run
    made of flows, and about 33 bytes per flow on disk: docs/network.md)."""
    from sim import atomic, metrics
    from sim.results_io import FlowWriter, RequestWriter
    from sim.runner import run as run_model

    started = _dt.datetime.now(_dt.timezone.utc)
    sink = RequestWriter(Path(requests_dir), scenario.name) if requests_dir is not None else None
    flow_sink = None
    if flows:
        def flow_path() -> Path:  # made when the first rows come: a run that fails to build leaves nothing
            if flows_dir is not None:
                return atomic.partial_file(Path(flows_dir) / scenario.name / "flows.parquet")
            fd, name = tempfile.mkstemp(prefix=".edge-sim-flows-", suffix=".parquet")
            os.close(fd)
            return Path(name)
        flow_sink = FlowWriter(flow_path)
    extra = {} if tracer is None else {"tracer": tracer}
    if flow_sink is not None:
        extra["flow_sink"] = flow_sink
    try:
        raw = run_model(scenario, loaded, replication=replication, progress=progress, sink=sink, **extra)
        rows = sink.close() if sink is not None else None
        flow_rows = flow_sink.close() if flow_sink is not None else None
    except BaseException:
        for s in (sink, flow_sink):
            if s is not None:
                s.discard()
        raise
    summary, timeline, devices = metrics.frames(raw)
    result = Result(scenario, summary, timeline, devices, metrics.traffic(raw), raw, started, rows, flow_rows)
    if flow_rows is not None:  # the hidden file goes with the result unless save() moved it
        weakref.finalize(result, _remove, flow_rows)
    return result


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
