"""Window mode agrees with request mode on means, fractions, energy and bytes.

Each scenario runs in both modes over several replications; the difference of the
replication means must lie within a 99% interval of the difference (Welch)."""

import math
from pathlib import Path

import numpy as np
import pytest

from sim import metrics
from sim.build import load_traces
from sim.run import run
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
REPS = 6


def summaries(path: Path, mode: str, overrides: dict) -> list[dict]:
    data = apply_overrides(read_yaml(path), {**overrides, "fidelity.mode": mode}, str(path))
    sc = validate(data, str(path))
    traces = load_traces(sc, path.parent)
    return [metrics.frames(run(sc, traces, replication=r))[0] for r in range(REPS)]


def agree(a: list[float], b: list[float], name: str):
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a.mean() - b.mean()
    half = 3.2 * math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) + 1e-9 * abs(a.mean())
    assert abs(diff) <= half, f"{name}: request {a.mean():.6g} vs window {b.mean():.6g} (±{half:.3g})"


CASES = {
    "early_exit": ("early_exit.yaml", {"horizon_s": 120, "device_groups.0.count": 100},
                   ["mean_accuracy", "exit_fractions.main", "exit_fractions.extension", "exit_fractions.cloud",
                    "energy_j_per_inference", "compute_energy_j_per_inference", "bytes_up", "inferences"]),
    "updates": ("bandwidth_allocation.yaml", {"horizon_s": 240, "device_groups.0.count": 10},
                ["mean_accuracy", "mean_map", "energy_j_per_inference", "inferences"]),
    "offloading": ("multi_device.yaml", {"horizon_s": 120, "device_groups.0.count": 20, "device_groups.1.count": 20,
                                         "device_groups.2.count": 100, "device_groups.2.arrivals.process": "poisson"},
                   ["mean_accuracy", "offloaded_fraction", "energy_j_per_inference", "bytes_up", "inferences"]),
}


def get(summary: dict, dotted: str):
    for part in dotted.split("."):
        summary = summary[part]
    return summary


@pytest.mark.parametrize("case", sorted(CASES))
def test_window_mode_agrees_with_request_mode(case):
    name, overrides, keys = CASES[case]
    req = summaries(ROOT / "scenarios" / name, "request", overrides)
    win = summaries(ROOT / "scenarios" / name, "window", overrides)
    for key in keys:
        agree([get(s, key) for s in req], [get(s, key) for s in win], key)
