"""A simulated week: every shipped scenario (at a reduced device count) and tiny.yaml
complete in both modes, in wall time proportional to the horizon (a day's run times 7,
with a margin).  Slow: ``make validate`` runs it; ``make test`` runs tiny.yaml at a day in
both modes (tests/unit/test_long_horizon.py)."""

import time
from pathlib import Path

import pytest

from sim import metrics
from sim.build import load_traces
from sim.runner import run
from sim.scenario_io import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DAY, WEEK = 86_400, 7 * 86_400
SMALL = {  # device counts that keep a week within minutes
    "tests/data/tiny.yaml": {},
    "scenarios/multi_device.yaml": {"device_groups.0.count": 20, "device_groups.1.count": 20,
                                    "device_groups.2.count": 20},
    "scenarios/bandwidth_allocation.yaml": {"device_groups.0.count": 4},
    "scenarios/paper_a_images.yaml": {"device_groups.0.count": 4},
    "scenarios/early_exit.yaml": {"device_groups.0.count": 10},
    "scenarios/early_exit_drift.yaml": {"device_groups.0.count": 10},
    "scenarios/early_exit_updates.yaml": {"device_groups.0.count": 4},
    "scenarios/server_selection.yaml": {"device_groups.0.count": 5},
    "scenarios/wireless.yaml": {"device_groups.0.count": 3, "policies.allocation": {"kind": "equal_share"}},
}


def test_every_shipped_scenario_is_in_the_week_test():
    shipped = {f"scenarios/{p.name}" for p in (ROOT / "scenarios").glob("*.yaml")}
    assert shipped <= set(SMALL)


def timed(path: str, horizon: float, mode: str) -> tuple[float, dict]:
    p = ROOT / path
    sc = load_scenario(p, {**SMALL[path], "horizon_s": horizon, "fidelity.mode": mode, "metrics.window_s": 3600})
    t = time.perf_counter()
    s = metrics.summary(run(sc, load_traces(sc, p.parent)))
    return time.perf_counter() - t, s


@pytest.mark.validate
@pytest.mark.parametrize("mode", ["scale", "request"])
@pytest.mark.parametrize("path", sorted(SMALL))
def test_a_simulated_week_completes_in_time_proportional_to_it(path, mode):
    day_s, day = timed(path, DAY, mode)
    week_s, week = timed(path, WEEK, mode)
    assert week["horizon_s"] == WEEK and week["arrivals"] == week["completed"] + week["failed"] + week["unfinished"]
    assert week["arrivals"] > 6.5 * day["arrivals"]
    assert week_s <= 7 * 1.6 * day_s + 5, f"{path} {mode}: a day {day_s:.1f} s, a week {week_s:.1f} s"
