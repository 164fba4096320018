"""Server selection: each rule picks what it says, load is read with its information delay,
bad rules are rejected, and on two edge servers the rules give the differences they should."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import simpy

from sim import metrics
from sim.build import load_traces
from sim.entities.selection import Selector
from sim.entities.server import Server
from sim.policies import selection as sel
from sim.runner import run
from sim.scenario_io import ScenarioError, apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "server_selection.yaml"
FIFO = lambda seq, now, service: (seq,)  # noqa: E731


def target(env, name, workers, latency_s, mean_s=0.01, cap_bps=1e6, job_j=0.0):
    link = SimpleNamespace(capacity_bps=cap_bps)
    return SimpleNamespace(server=Server(env, name, workers, FIFO), up=[link], down=[link], up_latency_s=latency_s,
                           down_latency_s=latency_s, timing=SimpleNamespace(mean_s=mean_s), speed_factor=1.0,
                           energy=SimpleNamespace(job_j=lambda s: job_j), accuracy=0.8, name=name)


def test_nearest_and_random():
    env = simpy.Environment()
    far, near = target(env, "far", 1, 0.02), target(env, "near", 1, 0.001)
    s = Selector(sel.Nearest(among=["far", "near"]), [far, near], 100, 10)
    assert s.pick(0.0, 0.3, 0.9) is near
    r = Selector(sel.Random(among=["far", "near"]), [far, near], 100, 10)
    assert [r.pick(0.0, u, 0.0).name for u in (0.0, 0.49, 0.5, 0.999999)] == ["far", "far", "near", "near"]


def test_least_loaded_and_power_of_two_read_the_load_as_it_was():
    env = simpy.Environment()
    a, b, c = target(env, "a", 1, 0.0), target(env, "b", 2, 0.0), target(env, "c", 1, 0.0)
    now = Selector(sel.LeastLoaded(among=["a", "b", "c"]), [a, b, c], 100, 10)
    late = Selector(sel.LeastLoaded(among=["a", "b", "c"], information_delay_s=1.0), [a, b, c], 100, 10)
    p2 = Selector(sel.PowerOfTwo(among=["a", "b", "c"]), [a, b, c], 100, 10)

    def load():
        yield env.timeout(5.0)
        for _ in range(3):
            a.server.submit_then(10.0, lambda: None)  # a: 3 jobs on 1 worker from t=5
        c.server.submit_then(10.0, lambda: None)
        b.server.submit_then(10.0, lambda: None)  # b: 1 job on 2 workers, c: 1 on 1

    env.process(load())
    env.run(until=5.5)
    assert now.pick(env.now, 0, 0) is b  # 0.5 job per worker, against 3 and 1
    assert late.pick(env.now, 0, 0) is a  # at t=4.5 all were empty: the first listed
    assert a.server.in_system_at(4.5) == 0 and a.server.in_system_at(5.2) == 3
    # the two candidates of power of two: u1 picks the first (a, b, c), u2 one of the others
    assert p2.pick(env.now, 0.0, 0.0) is b  # a vs b
    assert p2.pick(env.now, 0.0, 0.99) is c  # a vs c: equal? no, a has 3 -> c
    assert p2.pick(env.now, 0.99, 0.0) is a if False else p2.pick(env.now, 0.99, 0.0) is c  # c vs a -> c


def test_cost_weighs_latency_and_energy():
    env = simpy.Environment()
    cheap_slow = target(env, "cheap", 1, 0.02, job_j=0.1)
    dear_fast = target(env, "dear", 1, 0.0, job_j=2.0)
    latency_only = Selector(sel.Cost(among=["cheap", "dear"]), [cheap_slow, dear_fast], 100, 10)
    assert latency_only.pick(0.0, 0, 0) is dear_fast
    frugal = Selector(sel.Cost(among=["cheap", "dear"], energy_weight_s_per_j=0.1), [cheap_slow, dear_fast], 100, 10)
    assert frugal.pick(0.0, 0, 0) is cheap_slow
    for _ in range(20):  # a queue of 20 jobs of 10 ms on the fast one outweighs its 40 ms advantage
        dear_fast.server.submit_then(0.01, lambda: None)
    assert latency_only.pick(0.0, 0, 0) is cheap_slow


def test_cost_times_transfers_at_the_devices_own_radio_rate():
    # a radio medium of unit rate 100 Mb/s; edge "thin" behind a 10 Mb/s backhaul (1 ms each way), "fat"
    # behind 100 Mb/s (20 ms each way); 100 kB up, 10 B down, 10 ms jobs.  At the unit rate (the fast
    # device, 100 Mb/s): thin 0.8 Mb / 10 Mb/s = 80 ms + 2 ms, fat 8 ms + 40 ms: fat.  The slow device
    # (5 Mb/s) crosses its own channel at 5 Mb/s on both: 160 ms + 2 ms against 160 ms + 40 ms: thin.
    env = simpy.Environment()
    air_up, air_down = (SimpleNamespace(capacity_bps=100e6, goodput=1.0) for _ in range(2))
    thin, fat = target(env, "thin", 1, 0.001), target(env, "fat", 1, 0.02)
    for t, bh in ((thin, 10e6), (fat, 100e6)):
        t.up, t.down = [air_up, SimpleNamespace(capacity_bps=bh)], [SimpleNamespace(capacity_bps=bh), air_down]
    radio = SimpleNamespace(up=[SimpleNamespace(link=air_up, rate_bps=r) for r in (100e6, 5e6)],
                            down=[SimpleNamespace(link=air_down, rate_bps=r) for r in (100e6, 5e6)])
    rule = sel.Cost(among=["thin", "fat"])
    s = Selector(rule, [thin, fat], 100_000, 10, radio)
    assert s.pick(0.0, 0, 0, 0) is fat
    assert s.pick(0.0, 0, 0, 1) is thin
    assert Selector(rule, [thin, fat], 100_000, 10).pick(0.0, 0, 0) is fat  # the unit rate for every device
    radio.up[1].rate_bps = 100e6  # its rate now (a fade up): as the fast device
    assert s.pick(0.0, 0, 0, 1) is fat
    radio.up[1].rate_bps = 0.0  # out of coverage: every candidate infinite, the first (its flow is cut)
    assert s.pick(0.0, 0, 0, 1) is thin


@pytest.mark.parametrize("target, message", [
    ({"select": "power_of_two", "among": ["edge_a"]}, "at least two servers"),
    ({"select": "nearest", "among": ["edge_a", "edge_a"]}, "listed twice"),
    ({"select": "nearest", "among": ["edge_a", "edge_b", "nowhere"]}, "nowhere"),
    ({"select": "nearest", "among": ["edge_a"], "information_delay_s": 1.0}, "information_delay_s"),
    ({"select": "closest", "among": ["edge_a"]}, "select"),
])
def test_bad_selection_rules_are_rejected(target, message):
    data = apply_overrides(read_yaml(SCENARIO), {"policies.routing.target": target}, str(SCENARIO))
    with pytest.raises(ScenarioError) as e:
        validate(data, str(SCENARIO))
    assert message in str(e.value) and "\n" not in str(e.value)


def summarise(target: dict) -> dict:
    over = {"horizon_s": 60, "policies.routing.target": target}
    sc = validate(apply_overrides(read_yaml(SCENARIO), over, str(SCENARIO)), str(SCENARIO))
    return metrics.summary(run(sc, load_traces(sc, SCENARIO.parent)))


def test_the_rules_differ_on_two_edge_servers():
    among = ["edge_a", "edge_b"]
    nearest = summarise({"select": "nearest", "among": among})
    rand = summarise({"select": "random", "among": among})
    fresh = summarise({"select": "least_loaded", "among": among})
    stale = summarise({"select": "least_loaded", "among": among, "information_delay_s": 0.5})
    p2 = summarise({"select": "power_of_two", "among": among})
    # nearest sends everything to the small near server: the far one idles, the queue explodes
    assert nearest["server_utilisation"]["edge_b"] == 0 and nearest["unfinished"] > 0.5 * nearest["arrivals"]
    # random still overloads the 2-worker server (half the load is 1.5x its capacity)
    assert rand["server_utilisation"]["edge_b"] > 0.3 and rand["unfinished"] > 0.1 * rand["arrivals"]
    # fresh load information balances: almost nothing late or left over
    for s in (fresh, p2):
        assert s["unfinished"] < 0.01 * s["arrivals"] and s["missed"] < 0.01 * s["completed"]
        assert s["latency_p95_s"] < 0.1
    # half a second old, it herds: every device sends to the server that looked empty
    assert stale["latency_p95_s"] > 5 * fresh["latency_p95_s"] and stale["missed"] > 0.1 * stale["completed"]
    assert (fresh["mean_accuracy_all_arrivals"] > stale["mean_accuracy_all_arrivals"]
            > rand["mean_accuracy_all_arrivals"] > nearest["mean_accuracy_all_arrivals"])
