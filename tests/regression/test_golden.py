"""Pinned numbers: the headline summary of every shipped scenario (at a reduced size and a
fixed seed) against the values in tests/regression/golden/, within a relative 1e-9 (float
noise across platforms).  A change that moves any of them fails here and must be argued
and the files regenerated:

    .venv/bin/python tests/regression/test_golden.py --regenerate
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "regression" / "golden"
SIZE = {  # overrides that keep each run to a second or two
    "multi_device": {"horizon_s": 600, "device_groups.0.count": 60, "device_groups.1.count": 60,
                     "device_groups.2.count": 60},
    "bandwidth_allocation": {"horizon_s": 300},
    "paper_a_images": {"horizon_s": 300},
    "early_exit": {"horizon_s": 120, "device_groups.0.count": 50},
    "early_exit_drift": {"device_groups.0.count": 30},
    "early_exit_updates": {"device_groups.0.count": 20},
    "server_selection": {"horizon_s": 30, "device_groups.0.count": 200},
    "wireless": {"horizon_s": 260, "device_groups.0.count": 6},  # through the start of the SNR dip (200 s)
}
KEYS = ("arrivals", "completed", "failed", "unfinished", "missed", "offloaded_fraction", "mean_accuracy",
        "mean_map", "mean_accuracy_all_arrivals", "mean_map_all_arrivals", "latency_mean_s", "latency_p50_s",
        "latency_p95_s", "latency_p99_s", "bytes_up", "bytes_down", "energy_j", "model_installs", "exit_fractions",
        "link_utilisation", "server_utilisation")


def headline(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import sim

    r = sim.run(sim.load(ROOT / "scenarios" / f"{name}.yaml", SIZE[name]), seed=2026)
    return {k: r.summary[k] for k in KEYS}


def close(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_every_shipped_scenario_has_golden_numbers():
    assert {p.stem for p in (ROOT / "scenarios").glob("*.yaml")} == set(SIZE)


@pytest.mark.parametrize("name", sorted(SIZE))
def test_golden_numbers(name):
    want = json.loads((GOLDEN / f"{name}.json").read_text())
    got = json.loads(json.dumps(headline(name)))
    differ = {k: (want[k], got[k]) for k in KEYS if not close(want[k], got[k])}
    assert not differ, f"{name}: numbers moved (regenerate only if the change is argued): {differ}"


if __name__ == "__main__" and "--regenerate" in sys.argv:
    for name in sorted(SIZE):
        (GOLDEN / f"{name}.json").write_text(json.dumps(headline(name), indent=1, sort_keys=True) + "\n")
        print("wrote", GOLDEN / f"{name}.json")
