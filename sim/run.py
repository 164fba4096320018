"""run(scenario, traces) -> RunResult.  No file I/O: results_io writes, metrics summarise."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from sim.build import LoadedTraces, Model, build, finish
from sim.config import Scenario
from sim.recorder import Recorder
from sim.rng import Streams

PROGRESS_EVERY = 20_000  # events between progress callbacks


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
        progress: Callable[[float], None] | None = None) -> RunResult:
    """Simulate ``scenario`` up to its horizon.  ``progress(sim_time_s)`` is called now and then."""
    t0 = time.perf_counter()
    model: Model = build(scenario, traces, Streams(scenario.seed, replication))
    env, horizon = model.env, scenario.horizon_s
    events = 0
    step, peek = env.step, env.peek
    while peek() < horizon:
        step()
        events += 1
        if progress is not None and events % PROGRESS_EVERY == 0:
            progress(env.now)
    env.run(until=horizon)  # moves the clock to the horizon; processes nothing
    finish(model)
    model.network.advance()
    for s in model.servers:
        s.advance()
    r = model.recorder
    r.sample(horizon, [l.delivered_bits for l in model.network.links], [s.queue_area for s in model.servers],
             [s.busy_area for s in model.servers], [s.in_system for s in model.servers])
    if progress is not None:
        progress(horizon)
    ups = model.updates or []
    extras = {"failed_inferences": r.failed,
              "edge_received_bytes": sum(u.edge_received_bytes for u in ups),
              "model_installs": sum(u.installs for u in ups)}
    return RunResult(scenario, replication, r, {l.name: l.capacity_bps for l in model.network.links},
                     {s.name: s.workers for s in model.servers}, events, time.perf_counter() - t0, extras)
