"""The event loop: counting events without a per-event counter; no reference cycles."""

import gc

import simpy

from sim.build import build, load_traces
from sim.entities.link import DirectedLink, Network
from sim.rng import Streams
from sim.runner import run_until
from sim.scenario_io import load_scenario


def test_run_until_counts_what_stepping_counts(data_dir):
    sc = load_scenario(data_dir / "tiny.yaml")
    traces = load_traces(sc, data_dir)
    stepped = build(sc, traces, Streams(sc.seed, 0)).env
    n = 0
    while stepped.peek() < sc.horizon_s:
        stepped.step()
        n += 1
    env = build(sc, traces, Streams(sc.seed, 0)).env
    seen = []
    assert run_until(env, sc.horizon_s, seen.append, slices=7) == n > 1000
    assert env.now == sc.horizon_s and len(seen) == 7 and seen[-1] == sc.horizon_s


def test_run_until_on_a_bare_timeout_loop():
    env = simpy.Environment()

    def tick():
        while True:
            yield env.timeout(1.0)

    for _ in range(3):
        env.process(tick())
    # 3 initialisations + ticks at 1..9 (the ones at t=10 are not before the horizon)
    assert run_until(env, 10.0, slices=4) == 3 + 3 * 9


def test_finished_flows_leave_no_reference_cycles():
    """Finished flows must be freed by reference counting alone (no cycles between a
    flow's bookkeeping and its completion event): the collector would otherwise have
    to find every finished flow of a long run."""
    env = simpy.Environment()
    link = DirectedLink("l", 1e6)
    net = Network(env, [link])

    def user():
        for _ in range(50):
            yield net.transfer([link], 1000)

    env.process(user())
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        env.run()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        cyclic = [o for o in gc.garbage if isinstance(o, simpy.Event)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()
    assert net.completed == 50 and cyclic == []

