"""run(scenario, traces) -> RunResult.  No file I/O: results_io writes, metrics summarise."""

from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from sim.build import LoadedTraces, Model, build, finish
from sim.config import Scenario
from sim.recorder import Recorder
from sim.rng import Streams
from sim.simclock import run_until  # noqa: F401  (importable from here too)

PROGRESS_STEPS = 100  # progress callbacks per run (equal slices of simulated time)
# allocations between young collections while the event loop runs (Python's default: 700): each
# young collection also walks the containers of every block in progress (one per device group),
# so with the default their cost grew with the square of the number of groups
YOUNG_COLLECTION_OBJECTS = 100_000


@dataclass
class RunResult:
    scenario: Scenario
    replication: int
    recorder: Recorder
    link_capacity_bps: dict[str, float]
    server_workers: dict[str, int]
    events: int
    wall_s: float
    extras: dict


def run(scenario: Scenario, traces: LoadedTraces, replication: int = 0,
        progress: Callable[[float], None] | None = None, sink: Callable[[dict], None] | None = None,
        tracer=None, flow_sink: Callable[[dict], None] | None = None) -> RunResult:
    """Simulate ``scenario`` up to its horizon.  ``progress(sim_time_s)`` is called now and then;
    ``sink`` receives per-request rows in chunks, if given (see :class:`sim.recorder.Recorder`);
    ``tracer`` (a :class:`sim.tracing.Tracer`) records a timeline, written afterwards by its ``write``;
    ``flow_sink`` receives one row per flow in chunks (:class:`sim.entities.flowlog.FlowLog`)."""
    t0 = time.perf_counter()
    model: Model = build(scenario, traces, Streams(scenario.seed, replication), sink, tracer=tracer,
                         flow_sink=flow_sink)
    env, horizon = model.env, scenario.horizon_s
    with frozen_heap():
        events = run_until(env, horizon, progress, PROGRESS_STEPS)
    if model.network.flow_log is not None:
        model.network.flow_log.close()  # the flows still in progress: unfinished
    finish(model)
    model.network.advance()
    for s in model.servers:
        s.advance()
    r = model.recorder
    r.sample(horizon, [l.delivered_bits for l in model.network.links], [s.queue_area for s in model.servers],
             [s.busy_area for s in model.servers], [s.in_system for s in model.servers])
    ups = model.updates or []
    extras = {"edge_received_bytes": sum(u.edge_received_bytes for u in ups),
              "model_installs": sum(u.installs for u in ups)}
    radio_links = [l for l in model.network.links if l.airtime is not None]
    if radio_links:  # a radio medium's share of air time used (link_utilisation counts its bits at the unit rate)
        extras["airtime_utilisation"] = {l.name: l.air_used_s / horizon for l in radio_links}
    return RunResult(scenario, replication, r, {l.name: l.mean_capacity_bps(horizon) for l in model.network.links},
                     {s.name: s.workers for s in model.servers}, events, time.perf_counter() - t0, extras)


@contextmanager
def frozen_heap():
    """Objects that exist before the event loop (the model: per-device lists of state,
    traces) are moved out of the cyclic garbage collector's reach while it runs, and
    given back after.  A full collection visits every element of every list it walks,
    and full collections come more often as the model grows, so without this the
    collector's cost grows with the square of the device count (measured: 0.37 s of a
    10,000-device run, 2.8 s of a 40,000-device one).  Garbage from before is collected
    first, so nothing stale is kept alive."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_OBJECTS, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
