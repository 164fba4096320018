"""Speed and memory of the main scenario at a given size; prints one JSON line.

    python benchmarks/scale.py --devices 10000 --horizon-s 3600 --mode window --json

The device groups of scenarios/multi_device.yaml are scaled in proportion to reach
``--devices``.  ``simpy_baseline_events_per_s`` is a bare SimPy timeout loop of 100 processes
timed in the same process just before and just after the run (their mean), so
``events_per_s`` can be compared with it on a machine whose speed drifts; both are
stepped by SimPy's own ``run`` loop and counted the same way
(:func:`sim.run.run_until`).  ``--repeat N`` makes N such pairs and reports
medians (``events_vs_simpy`` is the median of the per-pair ratios, all listed in
``events_vs_simpy_each``).  ``simpy_device_baseline_events_per_s`` and
``events_vs_simpy_devices`` are the same with one bare process per simulated device.
Peak RSS is the process's maximum resident set size: run one size per process.
"""

from __future__ import annotations

import argparse
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

from sim.build import load_traces  # noqa: E402
from sim.run import run, run_until  # noqa: E402
from sim.scenario_io import apply_overrides, read_yaml, validate  # noqa: E402

SCENARIO = ROOT / "scenarios" / "multi_device.yaml"


def simpy_baseline(events: int = 300_000, processes: int = 100) -> float:
    """Events per second of a bare SimPy loop: ``processes`` processes yielding timeouts,
    run and counted by the same loop as the simulator (:func:`sim.run.run_until`).
    SimPy's own speed falls as processes are added (a bigger event heap and working set),
    so the benchmark times two loops: 100 processes, and one process per device."""
    env = simpy.Environment()

    def tick(k):
        while True:
            yield env.timeout(1.0 + k * 1e-6)

    for k in range(processes):
        env.process(tick(k))
    t0 = time.perf_counter()
    n = run_until(env, events / processes)
    return n / (time.perf_counter() - t0)


def scaled(devices: int, horizon_s: float, mode: str):
    data = read_yaml(SCENARIO)
    counts = [g["count"] for g in data["device_groups"]]
    total = sum(counts)
    new = [max(1, round(c * devices / total)) for c in counts]
    new[0] += devices - sum(new)
    overrides = {f"device_groups.{i}.count": n for i, n in enumerate(new)}
    overrides.update({"horizon_s": horizon_s, "fidelity.mode": mode})
    return validate(apply_overrides(data, overrides, str(SCENARIO)), str(SCENARIO))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, default=10_000)
    p.add_argument("--horizon-s", type=float, default=3600.0)
    p.add_argument("--mode", choices=("window", "request"), default="window")
    p.add_argument("--repeat", type=int, default=1, help="paired measurements; medians are reported")
    p.add_argument("--json", action="store_true", help="print one JSON line (the default output)")
    a = p.parse_args()
    if a.devices < 3 or a.horizon_s <= 0 or a.repeat < 1:
        p.error("--devices must be >= 3, --horizon-s > 0 and --repeat >= 1")
    sc = scaled(a.devices, a.horizon_s, a.mode)
    traces = load_traces(sc, SCENARIO.parent)
    walls, baselines, ratios, dev_baselines, dev_ratios = [], [], [], [], []
    for _ in range(a.repeat):
        # the previous repeat's results are dropped and collected: they are not this run's
        # cost (a fresh process has none; peak RSS is then one run's)
        result = None
        gc.collect()
        before = simpy_baseline(), simpy_baseline(processes=sc.devices)
        t0 = time.perf_counter()
        result = run(sc, traces)
        wall = time.perf_counter() - t0
        # the machine's speed drifts: bracket the run, use the mean
        baseline = (before[0] + simpy_baseline()) / 2
        dev_baseline = (before[1] + simpy_baseline(processes=sc.devices)) / 2
        walls.append(wall)
        baselines.append(baseline)
        ratios.append(result.events / wall / baseline)
        dev_baselines.append(dev_baseline)
        dev_ratios.append(result.events / wall / dev_baseline)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    wall, baseline = statistics.median(walls), statistics.median(baselines)
    out = {
        "devices": sc.devices, "horizon_s": a.horizon_s, "mode": a.mode, "wall_s": round(wall, 3),
        "events": result.events, "events_per_s": round(result.events / wall),
        "device_seconds_per_wall_s": round(sc.devices * a.horizon_s / wall),
        "peak_rss_mb": round(rss_mb, 1), "simpy_baseline_events_per_s": round(baseline),
        "events_vs_simpy": round(statistics.median(ratios), 3),
        "simpy_baseline_processes": 100,
        "simpy_device_baseline_events_per_s": round(statistics.median(dev_baselines)),
        "events_vs_simpy_devices": round(statistics.median(dev_ratios), 3),
        "repeats": a.repeat, "events_vs_simpy_each": [round(r, 3) for r in ratios],
        "events_vs_simpy_devices_each": [round(r, 3) for r in dev_ratios],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
