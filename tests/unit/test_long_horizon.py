"""Flows at any clock value finish: the completion timer never stalls on float rounding.

SimPy's clock is a float; from 65,536 s on, ``math.ulp(now)`` is 1.5e-11 s, so a flow left
short by a rounding residue would be timed below the clock's resolution, fire at the same
instant, serve nothing, and repeat forever.  These tests start flows at days and weeks.
"""

import math

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.entities.link import DirectedLink, Network

WEEK_S = 7 * 86400.0


def _finish_times(starts, sizes_bytes, capacity_bps, max_events=100_000):
    """Finish time of each flow ``i`` started at ``starts[i]`` on one link; fails on a stall."""
    env = simpy.Environment()
    link = DirectedLink("l", capacity_bps)
    net = Network(env, [link])
    done = [None] * len(starts)

    def flow(i):
        yield env.timeout(starts[i])
        yield net.transfer([link], sizes_bytes[i])
        done[i] = env.now

    for i in range(len(starts)):
        env.process(flow(i))
    events = 0
    while env._queue:
        env.step()
        events += 1
        assert events < max_events, f"stalled at t={env.now!r}"
    return done


@pytest.mark.parametrize("start_s", [65_536.0, 70_000.0, 100_000.0, 131_071.9, 86_400.0, WEEK_S, 4 * WEEK_S])
@pytest.mark.parametrize("size_bytes", [1, 200, 3072, 1e6])
def test_a_lone_flow_finishes_at_any_start_time(start_s, size_bytes):
    (t,) = _finish_times([start_s], [size_bytes], 50e6)
    assert t == pytest.approx(start_s + 8 * size_bytes / 50e6, rel=1e-12, abs=8 * math.ulp(start_s))


def test_two_thousand_start_times_in_the_stalling_octave():
    # every start time in [2**16, 2**17) stalled before the fix
    starts = [65_536.0 + i * 32.768 for i in range(2000)]
    ts = _finish_times(starts, [200] * len(starts), 50e6)
    assert all(t == pytest.approx(s + 3.2e-5, abs=1e-9) for s, t in zip(starts, ts))


@settings(max_examples=200, deadline=None)
@given(
    flows=st.lists(
        st.tuples(st.floats(0, 2 * WEEK_S), st.floats(1, 1e6)), min_size=1, max_size=8),
    capacity_bps=st.sampled_from([1e3, 1e5, 2e6, 50e6, 1e9]),
)
def test_overlapping_flows_at_week_horizons_all_finish(flows, capacity_bps):
    starts = [s for s, _ in flows]
    sizes = [b for _, b in flows]
    ts = _finish_times(starts, sizes, capacity_bps)
    # processor sharing is work-conserving: the last flow ends when the busy period that holds it ends
    order = sorted(range(len(starts)), key=lambda i: starts[i])
    busy_until = 0.0
    for i in order:
        busy_until = max(busy_until, starts[i]) + 8 * sizes[i] / capacity_bps
        assert ts[i] >= starts[i] + 8 * sizes[i] / capacity_bps * (1 - 1e-9) - 1e-9
    assert max(ts) == pytest.approx(busy_until, rel=1e-9, abs=1e-6)


def test_a_link_busy_for_a_week_keeps_its_rate():
    # back-to-back 1 MB flows for a simulated week on 1 Mb/s: the served-bits counter grows to 6e11
    # bits and the finish keys with it; every flow still takes its 8 s
    env = simpy.Environment()
    link = DirectedLink("l", 1e6)
    net = Network(env, [link])
    # a long background flow keeps the class busy (its counter never resets) while short ones come and go
    net.transfer([link], WEEK_S * 1e6 / 8)
    ends = []

    def shorts():
        while env.now < WEEK_S - 100:
            t0 = env.now
            yield net.transfer([link], 1e4)
            ends.append(env.now - t0)
            yield env.timeout(3600.0)

    env.process(shorts())
    env.run(until=WEEK_S + 3600)
    # each short flow shares 1 Mb/s with the background one: 8e4 bits at 0.5 Mb/s
    assert len(ends) > 160 and all(d == pytest.approx(0.16, rel=1e-6) for d in ends)


@pytest.mark.parametrize("mode", ["request", "scale"])
def test_tiny_scenario_runs_a_simulated_day(mode, data_dir):
    # the scenario that stalled at 9-18 simulated hours, at a quarter of its devices to stay quick
    from sim.build import load_traces
    from sim.runner import run
    from sim.scenario_io import load_scenario

    sc = load_scenario(data_dir / "tiny.yaml")
    groups = [g.model_copy(update={"count": 5}) for g in sc.device_groups]
    sc = sc.model_copy(update={"horizon_s": 86_400.0, "fidelity": sc.fidelity.model_copy(update={"mode": mode}), "device_groups": groups,
                               "metrics": sc.metrics.model_copy(update={"window_s": 3600.0})})
    result = run(sc, load_traces(sc, data_dir))
    # 5 devices at 1 Hz for a day, as one Poisson stream: 432,000 arrivals, 4 sigma = 2,600
    assert result.events > 0
    from sim import metrics
    summary, timeline, _ = metrics.frames(result)
    assert abs(summary["inferences"] - 432_000) < 5_000
    assert timeline["window_end_s"].iloc[-1] == pytest.approx(86_400.0)
