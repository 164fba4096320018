"""Speed and memory of the main scenario at a given size; prints one JSON line.

    python benchmarks/scale.py --devices 10000 --horizon-s 3600 [--mode scale|request] [--repeat N]

Sizes grow the way deployments do: up to 10,000 devices the groups of
scenarios/multi_device.yaml are scaled in proportion; above, the main job's deployment
(three access points with their devices and one edge server) is copied ``devices /
10,000`` times, each copy with its own edge server, all sharing one cloud (its workers
scaled with the copies).  ``simpy_baseline_events_per_s`` is a bare SimPy timeout loop
of 100 processes timed in the same process just before and just after each run (their
mean): the machine's speed drifts, so compare ``wall_x_baseline`` (wall seconds times
baseline events per second: the run's cost in bare-loop events) across runs, not
seconds.  ``--repeat N`` reports medians.  Peak RSS is the process's maximum resident
set size: run one size per process.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import simpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim import metrics  # noqa: E402
from sim.build import load_traces  # noqa: E402
from sim.runner import run, run_until  # noqa: E402
from sim.scenario_io import apply_overrides, read_yaml, validate  # noqa: E402

SCENARIO = ROOT / "scenarios" / "multi_device.yaml"
HEADLINE = ("inferences", "arrivals", "unfinished", "offloaded_fraction", "mean_accuracy", "mean_map",
            "latency_mean_s", "latency_p95_s", "model_installs")


def simpy_baseline(events: int = 300_000, processes: int = 100) -> float:
    """Events per second of a bare SimPy loop of ``processes`` processes yielding timeouts,
    run and counted by the same loop as the simulator (:func:`sim.runner.run_until`)."""
    env = simpy.Environment()

    def tick(k):
        while True:
            yield env.timeout(1.0 + k * 1e-6)

    for k in range(processes):
        env.process(tick(k))
    t0 = time.perf_counter()
    n = run_until(env, events / processes)
    return n / (time.perf_counter() - t0)


def replicated(data: dict, copies: int) -> dict:
    """The main job's deployment ``copies`` times: access points, their metro links, the
    edge server and the device groups get a suffix; the cloud is shared."""
    if copies == 1:
        return data
    out = copy.deepcopy(data)
    edges = [s for s in data["servers"] if s["tier"] == "edge"]
    cloud = [s for s in data["servers"] if s["tier"] == "cloud"]
    local = {a["name"] for a in data["access_points"]} | {s["name"] for s in edges}

    def rename(name: str, i: int) -> str:
        return f"{name}_{i}" if name in local else name

    out["access_points"], out["links"], out["servers"], out["device_groups"] = [], [], [], []
    for i in range(copies):
        out["access_points"] += [{**a, "name": rename(a["name"], i)} for a in data["access_points"]]
        out["links"] += [{**link, "name": f"{link['name']}_{i}", "between": [rename(n, i) for n in link["between"]]}
                         for link in data["links"]]
        out["servers"] += [{**s, "name": rename(s["name"], i)} for s in edges]
        for g in data["device_groups"]:
            g = copy.deepcopy(g)
            g["name"], g["access_point"] = f"{g['name']}_{i}", rename(g["access_point"], i)
            if "updates" in g:
                g["updates"]["edge"] = rename(g["updates"]["edge"], i)
            if "routing" in g and "target" in g["routing"]:
                g["routing"]["target"] = rename(g["routing"]["target"], i)
            out["device_groups"].append(g)
    out["servers"] += [{**s, "workers": s.get("workers", 1) * copies} for s in cloud]
    return out


def scaled(devices: int, horizon_s: float, mode: str):
    data = read_yaml(SCENARIO)
    counts = [g["count"] for g in data["device_groups"]]
    total = sum(counts)
    copies = max(1, round(devices / total))
    per_copy = devices / copies
    new = [max(1, round(c * per_copy / total)) for c in counts]
    new[0] += round(per_copy) - sum(new)
    for g, n in zip(data["device_groups"], new):
        g["count"] = n
    data = replicated(data, copies)
    data = apply_overrides(data, {"horizon_s": horizon_s, "fidelity.mode": mode}, str(SCENARIO))
    return validate(data, str(SCENARIO)), copies


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--horizon-s", type=float, default=3600.0)
    p.add_argument("--mode", choices=("scale", "request"), default="scale")
    p.add_argument("--repeat", type=int, default=1, help="repeated measurements; medians are reported")
    p.add_argument("--json", action="store_true", help="print one JSON line (the default output)")
    a = p.parse_args()
    if a.devices < 3 or a.horizon_s <= 0 or a.repeat < 1:
        p.error("--devices must be >= 3, --horizon-s > 0 and --repeat >= 1")
    sc, copies = scaled(a.devices, a.horizon_s, a.mode)
    traces = load_traces(sc, SCENARIO.parent)
    walls, baselines = [], []
    result = None
    for _ in range(a.repeat):
        result = None  # the previous repeat's results are not this run's cost
        gc.collect()
        before = simpy_baseline()
        t0 = time.perf_counter()
        result = run(sc, traces)
        walls.append(time.perf_counter() - t0)
        baselines.append((before + simpy_baseline()) / 2)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = metrics.frames(result)[0]
    wall, baseline = statistics.median(walls), statistics.median(baselines)
    out = {
        "devices": sc.devices, "access_points": len(sc.access_points), "copies": copies, "horizon_s": a.horizon_s,
        "mode": a.mode, "wall_s": round(wall, 3), "walls_s": [round(w, 2) for w in walls], "events": result.events,
        "events_per_s": round(result.events / wall), "device_seconds_per_wall_s": round(sc.devices * a.horizon_s / wall),
        "peak_rss_mb": round(rss_mb, 1), "simpy_baseline_events_per_s": round(baseline),
        "wall_x_baseline_M": round(wall * baseline / 1e6, 1), "repeats": a.repeat,
        "summary": {k: summary.get(k) for k in HEADLINE},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
