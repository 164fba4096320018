"""The cost estimate counts the update loop's plans, so a tiny update period over a long
horizon is refused before the run (with --force to run anyway), not a silent hang."""

from pathlib import Path

import pytest

import sim
from sim.limits import MAX_WALL_S, WALL_PER_UPDATE_PLAN_S, estimate

ROOT = Path(__file__).resolve().parents[2]


def test_update_plans_are_in_the_estimate_and_refused_beyond_the_limit():
    sc = sim.load(ROOT / "scenarios" / "bandwidth_allocation.yaml")
    base = estimate(sc)
    g = sc.device_groups[0]
    assert base.update_plans == pytest.approx(g.count * sc.horizon_s / g.updates.period_s)
    tiny = sc.with_({"device_groups.0.updates.period_s": 1e-3, "horizon_s": 1e8, "metrics.window_s": 1e4})
    e = estimate(tiny)
    assert e.update_plans * WALL_PER_UPDATE_PLAN_S > MAX_WALL_S
    assert "device update plans" in e.line()
    with pytest.raises(sim.LimitError, match=r"device_groups\[0\]\.updates\.period_s: .*more than 3 days.*--force"):
        sim.check(tiny)
    assert sim.check(tiny, force=True).update_plans == e.update_plans


def test_a_group_without_updates_plans_nothing():
    sc = sim.load(ROOT / "tests" / "data" / "tiny.yaml")
    assert estimate(sc).update_plans == 0 and "plans" not in estimate(sc).line()
