"""The standard benchmark set (`make bench`): one process per size, a Markdown table in
benchmarks/RESULTS.md with the machine, date, commit and each target met or not.

    python benchmarks/run_all.py [--million]

``--million`` adds the 1,000,000-device hour (over an hour on 2 cores).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# (devices, horizon_s, mode, target wall s, target peak RSS MB)
RUNS = [
    (1_000, 3600, "scale", None, None),
    (10_000, 3600, "scale", 60, 1024),
    (10_000, 3600, "request", None, 2048),
    (100_000, 3600, "scale", 600, 4096),
]
MILLION = (1_000_000, 3600, "scale", None, 16384)
NAIVE = [1_000, 10_000]  # benchmarks/naive_simpy.py --compare, one hour


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def last_json(cmd: list[str]) -> dict:
    print(" ".join(cmd[1:]), flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    print(out, flush=True)
    return json.loads(out)


def verdict(value: float, target: float | None) -> str:
    return "" if target is None else (" (target <= %g: %s)" % (target, "met" if value <= target else "NOT met"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--million", action="store_true")
    a = p.parse_args()
    rows = []
    for devices, horizon, mode, t_wall, t_rss in RUNS + ([MILLION] if a.million else []):
        r = last_json([sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--devices", str(devices),
                       "--horizon-s", str(horizon), "--mode", mode])
        r["targets"] = (t_wall, t_rss)
        rows.append(r)
    naive = [last_json([sys.executable, str(ROOT / "benchmarks" / "naive_simpy.py"), "--devices", str(n),
                        "--horizon-s", "3600", "--compare"]) for n in NAIVE]
    classes = last_json([sys.executable, str(ROOT / "benchmarks" / "flow_classes.py")])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = [
        "# Benchmarks", "",
        f"Made by `make bench` on {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, commit {commit}, "
        f"{cpu()} ({os.cpu_count()} logical CPUs), Python {platform.python_version()}. One process per row; the "
        "scenario is `scenarios/multi_device.yaml`, scaled to the device count (above 10,000 devices by copying its "
        "deployment: three access points and an edge server per 10,000 devices). The machine is shared and its speed "
        "drifts: `wall x baseline` (wall seconds times the events per second of a bare SimPy loop timed in the same "
        "process) is the run's cost in bare-loop events and compares across runs; seconds do not.", "",
        "| devices | access points | mode | wall (s) | events | bare loop (events/s) | wall x baseline (M events) "
        "| device-s per wall-s | peak RSS (MB) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        t_wall, t_rss = r["targets"]
        lines.append(f"| {r['devices']:,} | {r['access_points']} | {r['mode']} | {r['wall_s']:.1f}{verdict(r['wall_s'], t_wall)} "
                     f"| {r['events']:,} | {r['simpy_baseline_events_per_s']:,} | {r['wall_x_baseline_M']} "
                     f"| {r['device_seconds_per_wall_s']:,} | {r['peak_rss_mb']:.0f}{verdict(r['peak_rss_mb'], t_rss)} |")
    lines += ["", "Answers (summary headline numbers) of each run:", ""]
    for r in rows:
        lines.append(f"- {r['devices']:,} devices, {r['mode']}: {json.dumps(r['summary'])}")
    lines += ["", "Against a straightforward SimPy model (`benchmarks/naive_simpy.py`: one process per device and per "
              "inference, `simpy.Resource` servers, a per-flow fair-share link; no update loop, so both run the main "
              "job without it; goal: 20x faster with the same answers):", "",
              "| devices | naive wall (s) | naive peak RSS (MB) | simulator wall (s) | speed-up | naive answers | simulator answers |",
              "|---:|---:|---:|---:|---:|---|---|"]
    for r in naive:
        lines.append(f"| {r['devices']:,} | {r['naive_wall_s']} | {r['naive_peak_rss_mb']:.0f} | {r['sim_wall_s']} | "
                     f"{r['speedup']}x | {json.dumps(r['naive'])} | {json.dumps(r['sim'])} |")
    lines += ["", "Flow classes (`benchmarks/flow_classes.py`): flows of distinct weights (the update loop's) against "
              "flows of one weight on one link, wall seconds (median of 3) and their ratio (target: a small factor, "
              "not growing with the flows):", "", "| flows | distinct weights (s) | one weight (s) | ratio |",
              "|---:|---:|---:|---:|"]
    for r in classes:
        lines.append(f"| {r['flows']:,} | {r['distinct_weights_s']} | {r['one_weight_s']} | {r['ratio']} |")
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("wrote benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
