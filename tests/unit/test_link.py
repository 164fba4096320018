import math

import pytest
import simpy

from sim.entities.link import DirectedLink, Network, maxmin_rates
from tests.flows import run_flows


def test_two_flows_share_then_one_finishes():
    # 5 Mb and 10 Mb on a 10 Mb/s link: 5 Mb/s each until 1.0 s, then 10 Mb/s for the last 5 Mb
    link = DirectedLink("l", 10e6)
    assert run_flows([link], [(0, [0], 5e6 / 8, 1), (0, [0], 10e6 / 8, 1)]) == pytest.approx([1.0, 1.5])


def test_late_arrival_slows_the_first_flow():
    # 10 Mb alone on 10 Mb/s for 0.5 s (5 Mb left), then shared: 5 Mb at 5 Mb/s -> t=1.5
    link = DirectedLink("l", 10e6)
    t = run_flows([link], [(0, [0], 10e6 / 8, 1), (0.5, [0], 10e6 / 8, 1)])
    # second flow: 5 Mb by 1.5 s, then alone: 5 Mb more at 10 Mb/s -> 2.0 s
    assert t == pytest.approx([1.5, 2.0])


def test_weighted_shares():
    assert maxmin_rates([4e6], [(1, [0]), (3, [0])]) == pytest.approx([1e6, 3e6])


def test_two_hop_path_limited_by_its_bottleneck():
    # flow A crosses links 0 (10 Mb/s) and 1 (2 Mb/s); flow B only link 0
    rates = maxmin_rates([10e6, 2e6], [(1, [0, 1]), (1, [0])])
    assert rates == pytest.approx([2e6, 8e6])


def test_parking_lot():
    # classic: long flow over 3 links of 1 Mb/s, one short flow per link -> all get 0.5
    rates = maxmin_rates([1e6] * 3, [(1, [0, 1, 2]), (1, [0]), (1, [1]), (1, [2])])
    assert rates == pytest.approx([0.5e6] * 4)


def test_flow_with_empty_path_is_instant():
    assert math.isinf(maxmin_rates([1.0], [(1, [])])[0])


def test_delivered_bits_and_completion_count():
    env = simpy.Environment()
    link = DirectedLink("l", 8e6)
    net = Network(env, [link])
    net.transfer([link], 1e6)  # 8 Mb -> 1 s
    env.run(until=0.5)
    net.advance()
    assert link.delivered_bits == pytest.approx(4e6)
    env.run()
    assert net.completed == 1 and env.now == pytest.approx(1.0)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError):
        DirectedLink("bad", 0)


def test_goodput_factor_and_flow_setup():
    # 10 Mb of payload on a 10 Mb/s link that carries 95% payload, 50 ms set-up: 0.05 + 1/0.95 s
    link = DirectedLink("l", 10e6, goodput=0.95, setup_s=0.05)
    (t,) = run_flows([link], [(0, [0], 10e6 / 8, 1)])
    assert t == pytest.approx(0.05 + 1 / 0.95)


def test_a_flow_in_set_up_takes_no_bandwidth():
    # A: 10 Mb from t=0, bytes from 0.5; B: 1 Mb from t=0.2, bytes from 0.7.  A alone sends 2 Mb by 0.7,
    # then both at 5 Mb/s: B done at 0.9 (A has 7 Mb left), A alone again: done at 1.6
    link = DirectedLink("l", 10e6, setup_s=0.5)
    assert run_flows([link], [(0.0, [0], 10e6 / 8, 1), (0.2, [0], 1e6 / 8, 1)]) == pytest.approx([1.6, 0.9])


def _weighted_stream(n: int, distinct: bool, held_every: int = 0):
    """``n`` Poisson flows of 1 kB on one 1 Mb/s uplink and a 2 Mb/s second hop (load about
    0.8), each with its own weight if ``distinct``; every ``held_every``-th flow is sent on
    one class the caller keeps, as the offload chain does.  Returns (finish times, network,
    live classes seen at most, links)."""
    import numpy as np

    env = simpy.Environment()
    up, hop = DirectedLink("up", 1e6), DirectedLink("hop", 2e6)
    net = Network(env, [up, hop])
    held = net.flow_class([up, hop], 1.0)
    gaps = np.random.default_rng(1).exponential(0.01, n)
    done = [None] * n
    most = [0]

    def src():
        for i in range(n):
            yield env.timeout(gaps[i])
            ev = (net.send(held, 1000) if held_every and i % held_every == 0
                  else net.transfer([up, hop] if i % 3 else [up], 1000, 1.0 + (i * 1e-4 if distinct else 0.0)))
            ev.callbacks.append(lambda e, i=i: done.__setitem__(i, env.now))
            most[0] = max(most[0], len(net.classes))

    env.process(src())
    env.run()
    return done, net, most[0], (up, hop)


def test_idle_flow_classes_are_forgotten():
    # a distinct weight per flow (the update loop's way): the live classes stay few, where every
    # class ever made used to be kept and scanned (16,000 flows took 44 s against 0.14 s)
    done, net, most, (up, hop) = _weighted_stream(16_000, distinct=True, held_every=7)
    assert None not in done and net.completed == 16_000
    assert most < 200
    assert up.delivered_bits == pytest.approx(16_000 * 8000)
    assert hop.delivered_bits == pytest.approx(sum(8000 for i in range(16_000) if i % 7 == 0 or i % 3))


def test_forgetting_classes_changes_no_finish_time(monkeypatch):
    import sim.entities.link as link_mod

    swept, *_ = _weighted_stream(3_000, distinct=True, held_every=5)
    monkeypatch.setattr(link_mod, "SWEEP_SLACK", 10**9)  # never sweep
    kept, net, most, _ = _weighted_stream(3_000, distinct=True, held_every=5)
    assert most > 2_000  # the reference really kept them
    assert swept == kept


def test_tcp_flows_count_on_their_links_from_start_to_end_or_cut():
    # the tcp transport's ACK queueing counts the data flows in progress on each link (sim/entities/link.py):
    # from the flow's start (its handshake included) to its end, an outage's cut included; ACKs do not count
    from sim.entities.transport import Transport

    env = simpy.Environment()
    down, up = DirectedLink("down", 1e7, latency_s=0.01), DirectedLink("up", 1e6, latency_s=0.01)
    down.reverse, up.reverse = up, down
    net = Network(env, [down, up])
    net.transport = Transport(1448, 52, 1.0, 10, 2, byte_counting=True)
    ends = []
    net.send_then(net.flow_class([down]), 1e6, lambda cut: ends.append(("D", cut)))
    net.send_then(net.flow_class([up]), 1e5, lambda cut: ends.append(("U", cut)))
    assert (down.data_flows, up.data_flows) == (1, 1)  # in their handshakes
    env.run(until=0.5)  # both sending; D's ACKs cross up, U's cross down
    assert (down.data_flows, up.data_flows) == (1, 1)
    net.set_up(up, False)  # cuts U (and D's ACKs)
    assert ends == [("U", True)] and (down.data_flows, up.data_flows) == (1, 0)
    env.run()
    assert ends == [("U", True), ("D", False)] and (down.data_flows, up.data_flows) == (0, 0)


def test_acks_wait_on_a_half_duplex_medium_for_other_flows_only():
    # one medium both ways (its own reverse): a flow's own data does not delay its ACKs, another flow's does,
    # by ACK_WAIT_PACKETS packets at the medium's rate (1.5 x 12,000 bits at 1 Mb/s: 18 ms)
    from sim.entities.transport import Transport

    env = simpy.Environment()
    air = DirectedLink("air", 1e6, latency_s=0.01)
    air.reverse = air
    net = Network(env, [air])
    net.transport = Transport(1448, 52, 1.0, 10, 2, byte_counting=True)
    cls = net.flow_class([air])
    net.send_then(cls, 1e5, lambda cut: None)
    assert net.ack_wait_s(cls) == 0.0  # alone
    net.send_then(cls, 1e5, lambda cut: None)
    assert net.ack_wait_s(cls) == pytest.approx(0.018, abs=1e-12)
    env.run()
    assert air.data_flows == 0 and net.ack_wait_s(cls) == 0.0
