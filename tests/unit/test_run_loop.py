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



def test_the_adapter_environment_steps_as_simpy_does():
    """sim.simclock.Environment gives SimPy's event order and times, with ``now`` an attribute."""
    from sim.simclock import Environment, call_at

    runs = []
    for make in (simpy.Environment, Environment):
        env, seen = make(), []

        def proc(k):
            for d in (0.3, 0.0, 1.7):
                yield env.timeout(d * k)
                seen.append((env.now, k))

        for k in range(1, 4):
            env.process(proc(k))
        call_at(env, 1.1, lambda ev: seen.append((env.now, "call")))
        env.run(until=6.0)
        runs.append(seen)
        assert env.now == 6.0
    assert runs[0] == runs[1] and len(runs[0]) == 9  # (the third tick of k=3 falls at 6.0, not before)


def test_only_the_adapter_touches_simpys_internals():
    """No module of the simulator but sim/simclock.py reads SimPy's private attributes."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "sim"
    private = re.compile(r"\b(env|environment)\._(now|queue|eid)\b|\._(now|queue|eid)\b")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py") if p.name != "simclock.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if private.search(line)]
    assert offenders == []
