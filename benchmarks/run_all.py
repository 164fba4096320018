"""The standard benchmark set (`make bench`): one process per size, a Markdown table in
benchmarks/RESULTS.md with the machine, date and commit."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = [  # (devices, horizon_s, mode)
    (1_000, 3600, "window"),
    (10_000, 3600, "window"),
    (100_000, 3600, "window"),
    (1_000, 300, "request"),  # request runs: 5 paired repeats each
    (10_000, 60, "request"),
]


def cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    rows = []
    for devices, horizon, mode in RUNS:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--devices", str(devices),
               "--horizon-s", str(horizon), "--mode", mode, "--json", "--repeat", "5" if mode == "request" else "1"]
        print(" ".join(cmd[1:]), flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
        rows.append(json.loads(out))
        print(out, flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = [
        "# Benchmarks", "",
        f"Made by `make bench` on {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}, commit {commit}, "
        f"{cpu()} ({os.cpu_count()} logical CPUs), Python {platform.python_version()}. One process per row; "
        "the scenario is `scenarios/multi_device.yaml` with its groups scaled to the device count. The machine is "
        "shared and its speed drifts: compare ratios measured in the same process (events per second against a "
        "bare SimPy timeout loop timed just before and just after each run), not absolute seconds across runs. "
        "Request rows are the median of 5 paired measurements; window rows are one run. Peak RSS is the "
        "process's maximum over its runs.", "",
        "| devices | horizon (s) | mode | wall (s) | events | events/s | bare loop, 100 processes (events/s) | ratio "
        "| bare loop, one process per device (events/s) | ratio | device-s per wall-s | peak RSS (MB) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['devices']:,} | {r['horizon_s']:g} | {r['mode']} | {r['wall_s']:.1f} | {r['events']:,} | "
                     f"{r['events_per_s']:,} | {r['simpy_baseline_events_per_s']:,} | {r['events_vs_simpy']:.2f} | "
                     f"{r['simpy_device_baseline_events_per_s']:,} | {r['events_vs_simpy_devices']:.2f} | "
                     f"{r['device_seconds_per_wall_s']:,} | {r['peak_rss_mb']:.0f} |")
    window = [r for r in rows if r["mode"] == "window"]
    if len(window) >= 2:
        lines += ["", "Cost per device-second relative to the smallest window run (1.0 = linear scaling): " + ", ".join(
            f"{r['devices']:,}: {window[0]['device_seconds_per_wall_s'] / r['device_seconds_per_wall_s']:.2f}"
            for r in window) + "."]
    lines += ["", "Per-pair ratios of the request rows (100-process loop; one process per device):"]
    for r in rows:
        if r["repeats"] > 1:
            lines.append(f"- {r['devices']:,} devices: {r['events_vs_simpy_each']}; {r['events_vs_simpy_devices_each']}")
    (ROOT / "benchmarks" / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print("wrote benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
