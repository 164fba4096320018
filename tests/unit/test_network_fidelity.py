"""Issue 14, network fidelity: flows.parquet (one row per flow, every flow accounted), explicit
nodes, links and traffic, with completion times computed by hand."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.errors import InputError, ScenarioError

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
LOCAL = {"policies.routing": {"kind": "local_only"}}
FLUID = {"transport": {"model": "fluid"}}  # the ideal fluid model, for the completion times computed by hand

# a dumbbell: h1 and h3 -- r1 ==(10 Mb/s, 10 ms)== r2 -- h2 and h4; access links 100 Mb/s, 1 ms
DUMBBELL = {
    "nodes": [{"name": n} for n in ("h1", "h2", "h3", "h4", "r1", "r2")],
    "links": [{"name": "bh1", "between": ["ap1", "edge"], "bandwidth_bps": 1.0e8, "latency_s": 0.001},
              {"name": "a1", "between": ["h1", "r1"], "bandwidth_bps": 1e8, "latency_s": 0.001},
              {"name": "a3", "between": ["h3", "r1"], "bandwidth_bps": 1e8, "latency_s": 0.001},
              {"name": "mid", "between": ["r1", "r2"], "bandwidth_bps": 1e7, "latency_s": 0.010},
              {"name": "a2", "between": ["r2", "h2"], "bandwidth_bps": 1e8, "latency_s": 0.001},
              {"name": "a4", "between": ["r2", "h4"], "bandwidth_bps": 1e8, "latency_s": 0.001}],
}


def run(overrides: dict, **kw) -> sim.Result:
    return sim.run(sim.load(TINY, copy.deepcopy({**LOCAL, **DUMBBELL, **FLUID, **overrides})), flows=True, **kw)


def traffic_rows(result: sim.Result) -> pd.DataFrame:
    f = result.flows
    return f[f.purpose == "traffic"].set_index("name")


# ---------------------------------------------------------------------------------------- flows.parquet
def test_every_flow_of_a_run_has_a_row(tmp_path):
    r = sim.run(sim.load(TINY, FLUID), flows=True)
    f = r.flows
    assert list(f.columns) == ["id", "name", "src", "dst", "purpose", "device", "start_s", "size_bytes",
                               "finish_s", "fct_s", "path", "status"]
    assert f["id"].tolist() == list(range(len(f)))
    # the finished transfers are the traffic frame's flows, purpose by purpose
    done = f[f.status == "finished"].groupby("purpose").size()
    per_purpose = r.traffic.groupby("purpose")["flows"].sum()
    assert done.to_dict() == per_purpose.to_dict()
    # each completed offload is an input flow and a result flow, both finished
    offloaded = r.summary["completed"] - r.summary["completed_by_tier"]["device"]
    assert (f[(f.purpose == "inference_result") & (f.status == "finished")].shape[0]) == offloaded
    row = f.iloc[0]
    assert (row["name"], row["src"], row["dst"], row["purpose"]) == ("cams", "ap1", "edge", "inference_input")
    assert row["path"] == "ap1.up,bh1.ap1>edge"
    # a lone 3072-byte input on the 2 Mb/s uplink: 12.288 ms, plus 2 + 1 ms of propagation
    alone = f[(f.purpose == "inference_input") & (f.fct_s < 0.0153)]
    assert alone.fct_s.min() == pytest.approx(3072 * 8 / 2e6 + 0.003, rel=1e-9)
    folder = r.save(tmp_path)
    saved = pd.read_parquet(folder / "flows.parquet").sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(saved, f)
    pd.testing.assert_frame_equal(r.flows, f)  # read from the run folder now
    again = r.save(tmp_path)  # a second save copies it
    assert (again / "flows.parquet").exists() and (folder / "flows.parquet").exists()


def test_failed_and_unfinished_flows_are_accounted():
    # an outage cuts flows; a horizon in the middle of a busy uplink leaves some unfinished
    sc = sim.load(TINY, {"access_points.0.outages": [[10, 12]], "access_points.0.uplink_bps": 1.5e5,
                         "horizon_s": 20})
    r = sim.run(sc, flows=True)
    f = r.flows
    counts = f.status.value_counts().to_dict()
    assert counts.get("failed", 0) > 0 and counts.get("unfinished", 0) > 0
    assert f[f.status != "finished"].finish_s.isna().all()
    assert (f[f.status == "finished"].finish_s <= 20).all()
    # the inferences: failed ones lost a flow; every started flow has its row
    assert r.summary["failed"] == counts["failed"]
    assert f.start_s.max() < 20


def test_flows_are_opt_in():
    assert sim.run(TINY).flows is None


# ---------------------------------------------------------------------------------------- explicit traffic
def test_two_flows_on_a_dumbbell():
    # A: h1 -> h2, 1 MB; B: h3 -> h4, 0.5 MB, both at t = 1 s.  They share the 10 Mb/s middle link:
    # 5 Mb/s each; B's 4 Mb are done at 1.8 s, A then has 4 Mb left alone at 10 Mb/s: 2.2 s.
    # Each arrives 12 ms (1 + 10 + 1) after its last bit leaves.
    r = run({"traffic": [{"name": "A", "src": "h1", "dst": "h2", "start_s": 1, "size_bytes": 1_000_000},
                         {"name": "B", "src": "h3", "dst": "h4", "start_s": 1, "size_bytes": 500_000}]})
    t = traffic_rows(r)
    assert t.loc["A", "finish_s"] == pytest.approx(2.212, abs=1e-9)
    assert t.loc["B", "finish_s"] == pytest.approx(1.812, abs=1e-9)
    assert t.loc["A", "fct_s"] == pytest.approx(1.212, abs=1e-9)
    assert t.loc["A", "path"] == "a1.h1>r1,mid.r1>r2,a2.r2>h2"
    assert (t.src.tolist(), t.dst.tolist()) == (["h1", "h3"], ["h2", "h4"])
    assert r.summary["bytes_by_purpose"]["traffic"] == 1_500_000
    assert r.summary["bytes_up"] == r.summary["bytes_down"] == 0  # devices' figures: not the traffic's


def test_directions_of_a_link_have_their_own_bandwidth():
    links = [{"name": "bh1", "between": ["ap1", "edge"], "bandwidth_bps": 1.0e8},
             {"name": "x", "between": ["h1", "h2"], "bandwidth_ab_bps": 8e6, "bandwidth_ba_bps": 2e6}]
    r = sim.run(sim.load(TINY, {**LOCAL, **FLUID, "nodes": [{"name": "h1"}, {"name": "h2"}], "links": links,
                                "traffic": [{"name": "up", "src": "h1", "dst": "h2", "size_bytes": 1_000_000},
                                            {"name": "down", "src": "h2", "dst": "h1", "size_bytes": 1_000_000}]}),
                flows=True)
    t = traffic_rows(r)
    assert t.loc["up", "fct_s"] == pytest.approx(1.0, abs=1e-9)
    assert t.loc["down", "fct_s"] == pytest.approx(4.0, abs=1e-9)


def test_traffic_from_an_access_point_crosses_its_uplink():
    # a flow from ap1 to the edge crosses ap1.up (2 Mb/s) like a device's input: 1 s for 250 kB, + 3 ms
    r = sim.run(sim.load(TINY, {**LOCAL, **FLUID, "traffic": [{"name": "x", "src": "ap1", "dst": "edge", "start_s": 5,
                                                      "size_bytes": 250_000}]}), flows=True)
    t = traffic_rows(r)
    assert t.loc["x", "path"] == "ap1.up,bh1.ap1>edge"
    assert t.loc["x", "fct_s"] == pytest.approx(1.003, abs=1e-9)
    assert r.traffic.set_index(["link", "purpose"]).loc[("ap1.up", "traffic"), "bytes"] == 250_000


def test_poisson_background_traffic():
    spec = {"name": "bg", "src": "h1", "dst": "h2", "process": "poisson", "rate_hz": 5, "start_s": 10,
            "stop_s": 50, "size_bytes": 10_000}
    r = run({"traffic": [spec]})
    t = r.flows[r.flows.purpose == "traffic"]
    assert 140 < len(t) < 260  # 5/s over 40 s: 200, +- 4 sigma
    assert t.start_s.min() >= 10 and t.start_s.max() < 50
    assert (t.size_bytes == 10_000).all()
    drawn = run({"traffic": [{**{k: v for k, v in spec.items() if k != "size_bytes"},
                              "size": {"distribution": "exponential", "mean_bytes": 10_000}}]})
    t2 = drawn.flows[drawn.flows.purpose == "traffic"]
    assert t2.start_s.tolist() == t.start_s.tolist()  # sizes from their own stream: the same start times
    assert t2.size_bytes.nunique() > 100
    assert t2.size_bytes.mean() == pytest.approx(10_000, rel=0.25)
    for size in ({"distribution": "uniform", "min_bytes": 1000, "max_bytes": 2000},
                 {"distribution": "lognormal", "mean_bytes": 5000, "sigma": 1.0}):
        d = run({"traffic": [{**{k: v for k, v in spec.items() if k != "size_bytes"}, "size": size}]})
        s = d.flows[d.flows.purpose == "traffic"].size_bytes
        if size["distribution"] == "uniform":
            assert s.min() >= 1000 and s.max() <= 2000
        else:
            assert s.mean() == pytest.approx(5000, rel=0.4)


@pytest.mark.parametrize("overrides, field", [
    ({"traffic": [{"name": "x", "src": "h1", "dst": "nowhere", "size_bytes": 1}]}, "traffic[0].dst"),
    ({"traffic": [{"name": "x", "src": "h1", "dst": "h1", "size_bytes": 1}]}, "traffic[0].dst"),
    ({"traffic": [{"name": "x", "src": "h1", "dst": "h2"}]}, "traffic[0]"),
    ({"traffic": [{"name": "x", "src": "h1", "dst": "h2", "size_bytes": 1, "rate_hz": 1}]}, "traffic[0]"),
    ({"traffic": [{"name": "x", "src": "h1", "dst": "h2", "process": "poisson", "rate_hz": 1}]}, "traffic[0]"),
    ({"traffic": [{"name": "x", "src": "h1", "dst": "h2", "size_bytes": 1, "start_s": 60}]}, "traffic[0].start_s"),
    ({"nodes.6": {"name": "lonely"}}, "nodes[6].name"),
    ({"nodes.6": {"name": "edge"}}, "nodes[6].name"),
    ({"links.1.bandwidth_ab_bps": 1e6}, "links[1]"),
    ({"links.1": {"name": "a1", "between": ["h1", "r1"], "bandwidth_ab_bps": 1e6}}, "links[1]"),
])
def test_bad_topology_and_traffic_are_one_line(overrides, field):
    with pytest.raises(ScenarioError) as e:
        sim.load(TINY, copy.deepcopy({**LOCAL, **DUMBBELL, **overrides}))
    lines = e.value.lines()
    assert len(lines) == 1 and field in lines[0], lines


def test_no_route_is_a_build_error():
    with pytest.raises(sim.BuildError, match="no route"):
        run({"nodes.6": {"name": "h9"}, "links.6": {"name": "z", "between": ["h9", "edge"], "bandwidth_bps": 1e6},
             "links.0": {"name": "bh1", "between": ["ap1", "r1"], "bandwidth_bps": 1e8},
             "traffic": [{"name": "x", "src": "h1", "dst": "h9", "size_bytes": 1}]})


# ---------------------------------------------------------------------------------------- transport: tcp
TWO_HOSTS = {"nodes": [{"name": "h1"}, {"name": "h2"}],
             "links": [{"name": "bh1", "between": ["ap1", "edge"], "bandwidth_bps": 1.0e8, "latency_s": 0.001},
                       {"name": "x", "between": ["h1", "h2"], "bandwidth_bps": 1e7, "latency_s": 0.010}]}


def lone(size_bytes: int, transport: dict, latency_s: float = 0.010) -> tuple[pd.Series, sim.Result]:
    r = sim.run(sim.load(TINY, copy.deepcopy({**LOCAL, **TWO_HOSTS, "links.1.latency_s": latency_s,
                                              "transport": transport,
                                              "traffic": [{"name": "f", "src": "h1", "dst": "h2", "start_s": 1,
                                                           "size_bytes": size_bytes}]})), flows=True)
    return traffic_rows(r).loc["f"], r


def test_tcp_lone_flow_by_hand():
    # 1 MB over 10 Mb/s, 10 ms each way (RTT 20 ms); MSS 1448, headers 52, initial window 10, an ACK per 2
    segments = 691  # ceil(1e6 / 1448)
    wire_bits = 8 * (1_000_000 + segments * 52)  # 8,287,456
    seg_s = 8 * 1500 / 1e7  # 1.2 ms per wire segment
    handshake = 0.020  # one round trip
    stall = seg_s + 0.020 - 10 * seg_s  # after the first window of 10: 9.2 ms; the window of 20 covers an RTT
    expected = handshake + stall + wire_bits / 1e7 + 0.010
    row, r = lone(1_000_000, {"model": "tcp", "byte_counting": True})
    assert row["fct_s"] == pytest.approx(expected, abs=1e-9)
    assert expected == pytest.approx(0.8679456, abs=1e-12)
    # without byte counting (one segment per ACK, an ACK per 2 segments) the window grows x1.5 per round
    # trip (10, 15, 22.5): it stalls after 10 (9.2 ms) and 15 (3.2 ms); 22.5 segments take 27 ms, more than an RTT
    stalls = sum(seg_s + 0.020 - w * seg_s for w in (10, 15))
    row, _ = lone(1_000_000, {"model": "tcp", "byte_counting": False})
    assert row["fct_s"] == pytest.approx(handshake + stalls + wire_bits / 1e7 + 0.010, abs=1e-9)
    assert row["fct_s"] == pytest.approx(0.8711456, abs=1e-9)
    fluid, _ = lone(1_000_000, {"model": "fluid"})
    assert fluid["fct_s"] == pytest.approx(0.81, abs=1e-9)
    # the ACKs: ceil(691 / 2) = 346 of 52 bytes on the way back, in the link's utilisation (not in traffic)
    back = r.summary["link_utilisation"]["x.h2>h1"] * 1e7 * 60 / 8
    assert back == pytest.approx(346 * 52, rel=1e-9)
    fwd = r.summary["link_utilisation"]["x.h1>h2"] * 1e7 * 60 / 8
    assert fwd == pytest.approx(wire_bits / 8, rel=1e-9)


def test_tcp_slow_start_of_a_short_flow_by_hand():
    # a 150 kB image over 10 Mb/s with RTT 100 ms: 104 segments in windows of 10, 20, 40 (stalling after
    # each: the window takes less than a round trip) and the last 34 of a window of 80
    seg_s = 8 * 1500 / 1e7
    stalls = sum(seg_s + 0.100 - w * seg_s for w in (10, 20, 40))  # 89.2 + 77.2 + 53.2 ms
    wire_bits = 8 * (150_000 + 104 * 52)
    row, _ = lone(150_000, {"model": "tcp", "byte_counting": True}, latency_s=0.050)
    assert row["fct_s"] == pytest.approx(0.100 + stalls + wire_bits / 1e7 + 0.050, abs=1e-9)
    # one segment per ACK (x1.5): windows of 10, 15, 22.5, 33.75 stall (81.25 sent), then the last 22.75 of 50.6
    stalls = sum(seg_s + 0.100 - w * seg_s for w in (10, 15, 22.5, 33.75))  # 89.2 + 83.2 + 74.2 + 60.7 ms
    row, _ = lone(150_000, {"model": "tcp", "byte_counting": False}, latency_s=0.050)
    assert row["fct_s"] == pytest.approx(0.100 + stalls + wire_bits / 1e7 + 0.050, abs=1e-9)
    # an open connection (no handshake) and a large initial window: only the transfer and the latency
    row, _ = lone(150_000, {"model": "tcp", "setup_rtts": 0, "initial_window_segments": 1000}, latency_s=0.050)
    assert row["fct_s"] == pytest.approx(wire_bits / 1e7 + 0.050, abs=1e-9)


# ACK queueing: h1 -- x -- h2, 10 Mb/s from h1 to h2, 1 Mb/s back, 10 ms; 1500-byte segments without headers (no
# ACK flows: the terms below are then the only difference), so a wire segment is 1.2 ms at 10 Mb/s, 12 ms at 1 Mb/s
ASYMMETRIC = {"nodes": [{"name": "h1"}, {"name": "h2"}],
              "links": [{"name": "bh1", "between": ["ap1", "edge"], "bandwidth_bps": 1.0e8, "latency_s": 0.001},
                        {"name": "x", "between": ["h1", "h2"], "bandwidth_ab_bps": 1e7, "bandwidth_ba_bps": 1e6,
                         "latency_s": 0.010}]}
# (byte counting: the window doubles per round trip, which keeps the stalls below short to write out)
BARE_TCP = {"model": "tcp", "mss_bytes": 1500, "header_bytes": 0, "byte_counting": True}


def asymmetric(traffic: list, queue: str = "fair") -> pd.DataFrame:
    return traffic_rows(sim.run(sim.load(TINY, copy.deepcopy({
        **LOCAL, **ASYMMETRIC, "links.1.queue": queue, "transport": BARE_TCP, "traffic": traffic})), flows=True))


def test_acks_wait_behind_other_flows_data_by_hand():
    # D: 1 MB (667 segments) from h1 at t = 1, with U: 100 kB from h2 (its data on the 1 Mb/s direction, which
    # carries D's ACKs) at t = 1 and D again at t = 5, when nothing crosses the way back
    t = asymmetric([{"name": "D", "src": "h1", "dst": "h2", "start_s": 1, "size_bytes": 1_000_000},
                    {"name": "U", "src": "h2", "dst": "h1", "start_s": 1, "size_bytes": 100_000},
                    {"name": "D2", "src": "h1", "dst": "h2", "start_s": 5, "size_bytes": 1_000_000}])
    # D's handshake ends at 1.020, U is in progress: its ACKs wait 1.5 packets at 1 Mb/s, 18 ms: RTT 38 ms.
    # Windows of 10 and 20 stall 1.2 + 38 - 12 = 27.2 ms and 1.2 + 38 - 24 = 15.2 ms; 40 take 48 ms > 38 ms
    wait = 1.5 * 12_000 / 1e6
    stalls = (0.0012 + 0.020 + wait - 10 * 0.0012) + (0.0012 + 0.020 + wait - 20 * 0.0012)
    assert t.loc["D", "fct_s"] == pytest.approx(0.020 + stalls + 8e6 / 1e7 + 0.010, abs=1e-9)
    assert t.loc["D", "fct_s"] == pytest.approx(0.8724, abs=1e-9)
    # alone (the same class and size: the plan is kept per ACK wait): one stall of 1.2 + 20 - 12 = 9.2 ms
    assert t.loc["D2", "fct_s"] == pytest.approx(0.020 + 0.0092 + 0.8 + 0.010, abs=1e-9)
    # U's ACKs wait 1.5 packets at 10 Mb/s (1.8 ms): its first window of 10 takes 120 ms at 1 Mb/s, longer than
    # its round trip of 21.8 ms: no stall, 0.8 s alone on the 1 Mb/s direction
    assert t.loc["U", "fct_s"] == pytest.approx(0.020 + 0.8 + 0.010, abs=1e-9)


def test_acks_wait_behind_a_droptail_standing_queue_by_hand():
    t = asymmetric([{"name": "D", "src": "h1", "dst": "h2", "start_s": 1, "size_bytes": 1_000_000},
                    {"name": "U", "src": "h2", "dst": "h1", "start_s": 1, "size_bytes": 100_000}], "droptail")
    # the 1 Mb/s FIFO's buffer: the longest drop-tail round trip of the flows whose data or ACKs cross it, U's:
    # 20 ms + 12 ms (a packet at 1 Mb/s) = 32 ms (D's: 20 + 1.2 ms), a bandwidth-delay product of P = 2.67
    # packets, so the floor of 10 packets; U's window halves to (P + 10) / 2, which leaves (10 - P) / 2 = 3.67
    # packets queued, and fills it again: (10 + 3.67) / 2 = 6.83 packets on average
    p = 1e6 * (0.020 + 0.012) / 12_000
    queue = (10 + (10 - p) / 2) / 2
    assert queue == pytest.approx(6.8333, abs=1e-4)
    rtt = 0.020 + (1.5 + queue) * 0.012  # 120 ms
    # windows of 10, 20, 40 and 80 stall 109.2, 97.2, 73.2 and 25.2 ms; the next, 160, covers the round trip
    stalls = sum(0.0012 + rtt - w * 0.0012 for w in (10, 20, 40, 80))
    assert t.loc["D", "fct_s"] == pytest.approx(0.020 + stalls + 0.8 + 0.010, abs=1e-9)
    assert t.loc["D", "fct_s"] == pytest.approx(1.1348, abs=1e-9)


def test_droptail_shares_count_the_acks_wait_by_hand():
    # D1 (h1 -> h2) and D2 (h3 -> h2), 1 MB each at t = 1, share r -> h2 (10 Mb/s, 10 ms, drop-tail); h1 -- r and
    # h3 -- r take 1 ms, at 100 Mb/s but 1 Mb/s from r to h1, where U (h3 -> h1, 1 MB from t = 1) delays D1's ACKs
    links = [{"name": "bh1", "between": ["ap1", "edge"], "bandwidth_bps": 1.0e8, "latency_s": 0.001},
             {"name": "a1", "between": ["h1", "r"], "bandwidth_ab_bps": 1e8, "bandwidth_ba_bps": 1e6,
              "latency_s": 0.001},
             {"name": "a3", "between": ["h3", "r"], "bandwidth_bps": 1e8, "latency_s": 0.001},
             {"name": "m", "between": ["r", "h2"], "bandwidth_bps": 1e7, "latency_s": 0.010, "queue": "droptail"}]
    traffic = [{"name": n, "src": s, "dst": d, "start_s": 1, "size_bytes": 1_000_000}
               for n, s, d in (("D1", "h1", "h2"), ("D2", "h3", "h2"), ("U", "h3", "h1"))]
    t = traffic_rows(sim.run(sim.load(TINY, copy.deepcopy({
        **LOCAL, "nodes": [{"name": n} for n in ("h1", "h2", "h3", "r")], "links": links, "transport": BARE_TCP,
        "traffic": traffic})), flows=True))
    wait = 1.5 * 12_000 / 1e6  # D1's ACKs behind U's data on r -> h1 (fair): 18 ms; D2's way back is idle
    # handshakes of 22 ms; stalls at RTT 40 ms (D1): 1.2 + 40 - 12 and 1.2 + 40 - 24 = 46.4 ms; at 22 ms (D2): 11.2 ms
    d1_start, d2_start = 1.022 + 0.0292 + 0.0172, 1.022 + 0.0112
    # the drop-tail weights: 1 / (RTT + the ACKs' wait), RTT = 22 ms + a packet on each link (0.12 + 1.2 ms)
    rtt = 0.022 + 12_000 / 1e8 + 12_000 / 1e7
    share1 = 1 / (rtt + wait) / (1 / (rtt + wait) + 1 / rtt)  # 0.3608 of 10 Mb/s
    left2 = 8e6 - 1e7 * (d1_start - d2_start)  # D2 alone until D1 starts
    t2 = d1_start + left2 / (1e7 * (1 - share1))
    t1 = t2 + (8e6 - 1e7 * share1 * (t2 - d1_start)) / 1e7  # then D1 alone
    assert share1 == pytest.approx(0.36077, abs=1e-5)
    assert t.loc["D2", "finish_s"] == pytest.approx(t2 + 0.011, abs=1e-9)
    assert t.loc["D1", "finish_s"] == pytest.approx(t1 + 0.011, abs=1e-9)
    assert t.loc["D1", "finish_s"] == pytest.approx(2.6442, abs=1e-4)


def test_tcp_settings_are_rejected_under_fluid():
    with pytest.raises(ScenarioError, match="transport.mss_bytes: not used by transport model 'fluid'"):
        sim.load(TINY, {"transport": {"model": "fluid", "mss_bytes": 1000}})


# ---------------------------------------------------------------------------------------- queues: droptail
def test_droptail_shares_by_inverse_rtt_by_hand():
    # the dumbbell's middle link (10 Mb/s) under drop-tail; A's access links take 50 ms each way, B's 1 ms.
    # RTT (SimGrid's weight): 2 x latency + a 1500-byte packet's transmission on each link of the path
    pkt = 8 * 1500
    rtt_a = 2 * (0.050 + 0.010 + 0.050) + pkt / 1e8 + pkt / 1e7 + pkt / 1e8
    rtt_b = 2 * (0.001 + 0.010 + 0.001) + pkt / 1e8 + pkt / 1e7 + pkt / 1e8
    rate_a, rate_b = 1e7 * rtt_b / (rtt_a + rtt_b), 1e7 * rtt_a / (rtt_a + rtt_b)  # shares in 1 / RTT
    t_b = 8e6 / rate_b  # B's 1 MB done; then A has the link alone
    t_a = t_b + (8e6 - rate_a * t_b) / 1e7
    flows = [{"name": "A", "src": "h1", "dst": "h2", "start_s": 1, "size_bytes": 1_000_000},
             {"name": "B", "src": "h3", "dst": "h4", "start_s": 1, "size_bytes": 1_000_000}]
    slow = {"links.1.latency_s": 0.050, "links.4.latency_s": 0.050}  # a1 and a2: A's access links
    t = traffic_rows(run({**slow, "links.3.queue": "droptail", "traffic": flows}))
    assert t.loc["B", "fct_s"] == pytest.approx(t_b + 0.012, abs=1e-9)
    assert t.loc["A", "fct_s"] == pytest.approx(t_a + 0.110, abs=1e-9)
    # under fair queueing both get 5 Mb/s and end together: 1.6 s
    t = traffic_rows(run({**slow, "traffic": flows}))
    assert t.loc["B", "fct_s"] == pytest.approx(1.6 + 0.012, abs=1e-9)
    assert t.loc["A", "fct_s"] == pytest.approx(1.6 + 0.110, abs=1e-9)


def test_runaway_background_traffic_is_refused_before_it_runs():
    sc = sim.load(TINY, copy.deepcopy({**LOCAL, **DUMBBELL, "horizon_s": 1e9, "metrics.window_s": 1e5,
                                       "traffic": [{"name": "bg", "src": "h1", "dst": "h2", "process": "poisson",
                                                    "rate_hz": 1e6, "size_bytes": 100}]}))
    with pytest.raises(sim.LimitError, match="horizon_s"):
        sim.check(sc)


def test_cli_writes_flows_when_asked(tmp_path):
    import subprocess
    import sys
    for flag, want in ((["--flows"], True), ([], False)):
        out = tmp_path / str(want)
        r = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "-q", "--out", str(out),
                            *flag], cwd=ROOT, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        (folder,) = (out / "tiny").iterdir()
        assert (folder / "flows.parquet").exists() == want
        assert not [p for p in (out / "tiny").iterdir() if p.name.startswith(".")]  # no partial left behind
        if want:
            assert (folder / "flows.parquet").stat().st_mode & 0o777 == (folder / "summary.json").stat().st_mode & 0o777


# ---------------------------------------------------------------------------------------- ns-3 cross-check logic
# (sim validate-model ns3, docs/fidelity.md): what needs no ns-3; tests/validation/test_ns3.py runs ns-3
from sim.validation import ns3 as ns3v  # noqa: E402

VALIDATION = ROOT / "scenarios" / "validation"


def test_errors_and_case_statistics_by_hand():
    start = [0.0, 1.0, 2.0, 3.0]
    ours = [1.1, 2.0, 0.5, float("nan")]  # the 4th did not finish in the simulator
    theirs = [1.0, 2.5, 0.5, 1.0]
    e = ns3v.errors(ours, theirs)
    assert e[:3] == pytest.approx([0.1, -0.2, 0.0]) and pd.isna(e[3])
    s = ns3v.compare(start, ours, theirs)
    assert (s["flows"], s["missing"]) == (3, 1)
    assert s["median"] == pytest.approx(0.1) and s["max"] == pytest.approx(0.2)
    assert s["mean_fct"] == pytest.approx((1.1 + 2.0 + 0.5) / (1.0 + 2.5 + 0.5) - 1)
    # makespan: first start 0, last finish 3.0 (ours: flow 2 at 2.5 ... flow 1 at 3.0) against 3.5 (flow 1)
    assert s["makespan"] == pytest.approx(3.0 / 3.5 - 1)
    assert ns3v.compare([0.0], [None], [1.0])["flows"] == 0  # nothing to compare: NaN statistics, not an error
    with pytest.raises(ValueError):
        ns3v.errors([1.0], [1.0, 2.0])  # one list per flow: lengths must agree


def test_flows_are_matched_by_name_and_order():
    sc = sim.load(VALIDATION / "poisson.yaml").with_({"traffic.1": {"name": "one", "src": "h1", "dst": "s1",
                                                                    "start_s": 2, "size_bytes": 1000}})
    rows = pd.DataFrame({"name": ["bg", "one", "bg", "bg"]})
    assert ns3v.flow_keys(rows, sc) == ["bg#0", "one", "bg#1", "bg#2"]


def test_mirror_maps_an_access_point_to_a_host_behind_it():
    sc = sim.load(VALIDATION / "images_100.yaml")
    nodes, links, endpoint = ns3v.mirror(sc)
    assert endpoint["cell"] == "cell.devices" and endpoint["edge"] == "edge"
    assert "ap0" not in nodes  # the idle access point carries nothing: not mirrored
    cell = next(l for l in links if l.name == "cell")
    assert (cell.a, cell.b, cell.ab_bps, cell.ba_bps, cell.latency_s) == ("cell.devices", "cell", 2e7, 5e7, 0.005)
    assert cell.directed == ("cell.up", "cell.down")
    spec = ns3v.ns3_spec(sc, "cubic", ns3v.our_flows(sc, "fluid"))
    assert len(spec["flows"]) == 100 and spec["cc"] == "cubic"
    assert {nodes[f["src"]] for f in spec["flows"]} == {"cell.devices"}


@pytest.mark.parametrize("overrides, field", [
    ({"policies.routing": {"kind": "offload_fraction", "fraction": 0.5, "target": "edge"},
      "servers": [{"name": "edge", "tier": "edge", "model": "resnet101",
                   "compute": {"trace": "../../traces/timings_cpu.json", "model": "resnet101"}}],
      "nodes": [{"name": "h1"}, {"name": "s1"}, {"name": "r1"}, {"name": "r2"}],
      "links.3": {"name": "e", "between": ["ap0", "r1"], "bandwidth_bps": 1e8},
      "links.4": {"name": "e2", "between": ["r2", "edge"], "bandwidth_bps": 1e8}}, "device_groups[0]"),
    ({"links.0.goodput_factor": 0.9}, "links[0].goodput_factor"),
    ({"links.0.capacity_trace": {"path": "../../traces/capacity/capacity_walk_synthetic.csv"}},
     "links[0].capacity_trace"),
    ({"transport": {"setup_rtts": 0}}, "transport.setup_rtts"),
    ({"transport": {"header_bytes": 40}}, "transport.header_bytes"),
    ({"access_points.0.duplex": "half", "traffic.0.src": "ap0",
      "links.3": {"name": "e", "between": ["ap0", "r1"], "bandwidth_bps": 1e8}}, "access_points[0].duplex"),
])
def test_what_ns3_cannot_mirror_is_one_line(overrides, field):
    sc = sim.load(VALIDATION / "dumbbell_1.yaml", copy.deepcopy(overrides))
    with pytest.raises(ScenarioError) as e:
        ns3v.mirror(sc)
    lines = e.value.lines()
    assert len(lines) == 1 and lines[0].startswith(field), lines


def test_droptail_buffers_are_a_bandwidth_delay_product_by_hand():
    sc = sim.load(VALIDATION / "dumbbell_1.yaml", {"links.0.queue": "droptail"})
    _, links, _ = ns3v.mirror(sc)
    buf = ns3v.buffers(links, ns3v.our_flows(sc, "fluid"))
    # the flow's round trip: 2 x (1 + 10 + 1) ms + one 1500-byte packet on each of its links
    rtt = 0.024 + 12_000 / 1e8 + 12_000 / 1e7 + 12_000 / 1e8
    assert buf["mid.r1>r2"] == buf["mid.r2>r1"] == math.ceil(1e7 * rtt / 12_000)  # 22 packets
    assert buf["a1.h1>r1"] == math.ceil(1e8 * rtt / 12_000)
    spec = ns3v.ns3_spec(sc, "newreno", ns3v.our_flows(sc, "fluid"))
    mid = spec["links"][0]
    assert (mid["queue"], mid["buffer_ab"]) == ("droptail", 22)
    assert spec["links"][1]["queue"] == "fair" and spec["links"][1]["buffer_ab"] == ns3v.FAIR_BUFFER_PACKETS


def test_the_shipped_suite_loads_and_mirrors():
    cases = ns3v.load_suite()
    assert len(cases) >= 28 and {c.cc for c in cases} == {"newreno", "cubic"}
    assert {c.queue for c in cases} == {"fair", "droptail"}
    for c in cases:
        sc = c.load()
        ns3v.mirror(sc)  # every case can be given to ns-3
        assert ns3v.queue_kind(sc) == c.queue


def test_a_bad_suite_entry_is_one_line(tmp_path):
    bad = tmp_path / "suite.yaml"
    bad.write_text("cases:\n  - {name: a, scenario: nowhere.yaml}\n  - {name: b, scenario: x.yaml, cc: vegas}\n")
    with pytest.raises(ScenarioError) as e:
        ns3v.load_suite(bad)
    lines = e.value.lines()
    assert any("cases[0].scenario" in l for l in lines) and any("cases[1].cc" in l for l in lines)


def test_without_ns3_the_command_says_which_extra(monkeypatch):
    monkeypatch.setattr(ns3v, "available", lambda: False)
    with pytest.raises(sim.api.Ns3Unavailable, match=r"\.\[validate\]"):
        sim.api.validate_model(VALIDATION / "dumbbell_1.yaml")


def test_report_table_and_files(tmp_path):
    cases = pd.DataFrame([{"case": "c", "cc": "newreno", "queue": "fair", "model": m, "flows": 2, "missing": 0,
                           "median": 0.01, "max": 0.02, "mean_fct": -0.005, "makespan": 0.0} for m in ns3v.MODELS])
    flows = pd.DataFrame([{"case": "c", "queue": "fair", "fluid_error": x, "tcp_error": -x} for x in (0.01, 0.03)])
    pooled = ns3v.pooled(flows)
    assert pooled.set_index("model").loc["tcp", "median"] == pytest.approx(0.02)
    rep = ns3v.Report(cases, flows, pooled, "3.44", 1.0)
    table = rep.table()
    assert "| c | newreno | fair | 2 | 1.00 | 2.00 | -0.50 | 0.00 |" in table
    paths = ns3v.write(rep, tmp_path)
    assert [p.name for p in paths] == ["cases.csv", "flows.csv", "report.md"]
    assert "ns-3 3.44" in paths[2].read_text()


def test_cli_refuses_what_ns3_cannot_mirror_in_one_line():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "cli", "validate-model", "ns3", "tests/data/tiny.yaml"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len([l for l in lines if l.startswith("error:")]) >= 1 and "Traceback" not in r.stderr
    assert "device_groups[0]" in lines[0] and "tiny.yaml" in lines[0]


def test_validate_model_takes_a_scenario_or_a_suite():
    for kw in ({}, {"scenario": VALIDATION / "dumbbell_1.yaml", "suite": True}):
        with pytest.raises(sim.InputError, match="a scenario or a suite"):
            sim.api.validate_model(**kw)
    with pytest.raises(sim.InputError, match="cc: expected one of newreno, cubic"):
        sim.api.validate_model(VALIDATION / "dumbbell_1.yaml", cc="vegas")


def test_a_failed_ns3_process_is_an_environment_error(monkeypatch):
    monkeypatch.setattr(ns3v, "available", lambda: True)
    with pytest.raises(sim.api.Ns3Unavailable, match="the ns-3 process failed"):
        ns3v.run_ns3([{}])  # a spec without links: the worker fails before it loads ns-3


def test_a_case_is_named_by_the_queues_of_its_mirrored_links():
    sc = sim.load(VALIDATION / "dumbbell_1.yaml")
    assert ns3v.queue_kind(sc) == "fair"
    every = {f"links.{i}.queue": "droptail" for i in range(3)}
    assert ns3v.queue_kind(sc.with_(every)) == "droptail"  # the idle access point (fair) is not mirrored
    assert ns3v.queue_kind(sc.with_({"links.0.queue": "droptail"})) == "mixed"


def test_a_flow_with_no_bottleneck_rate_waits_on_no_window():
    # a device out of radio coverage has a bottleneck of 0 bit/s: its flow is cut at once (as by an outage),
    # so its plan has no slow-start stalls, where dividing by the rate would fail
    from sim.entities.transport import Transport
    t = Transport(1448, 52, 1.0, 10, 2, byte_counting=False)
    assert t.stalls_s(22, 0.006, 0.0) == 0.0
    assert t.stalls_s(22, 0.006, 1e8) > 0.0  # 10 segments take 1.2 ms of a 6 ms round trip


def test_reruns_shift_every_start_by_less_than_the_jitter_and_the_same_way_each_time():
    sc = sim.load(VALIDATION / "dumbbell_16.yaml")
    spec = ns3v.ns3_spec(sc, "newreno", ns3v.our_flows(sc, "fluid"))
    starts = [f["start_s"] for f in spec["flows"]]
    runs = ns3v.rerun_specs(spec, 3, 1e-3, "dumbbell_16")
    assert len(runs) == 3 and ns3v.rerun_specs(spec, 3, 1e-3, "dumbbell_16") == runs  # seeded by the case
    for run in runs:
        shifts = [b["start_s"] - a["start_s"] for a, b in zip(spec["flows"], run["flows"])]
        assert all(0.0 <= d < 1e-3 for d in shifts) and len(set(shifts)) == len(shifts)
        assert [{**f, "start_s": 0} for f in run["flows"]] == [{**f, "start_s": 0} for f in spec["flows"]]
        assert {k: v for k, v in run.items() if k != "flows"} == {k: v for k, v in spec.items() if k != "flows"}
    assert runs[0] != runs[1]  # each rerun its own shifts
    assert ns3v.rerun_specs(spec, 1, 1e-3, "other") != runs[:1]
    assert [f["start_s"] for f in spec["flows"]] == starts  # the first run's spec is left as it was


def test_reruns_are_pooled_and_tabled_against_ns3s_first_run():
    cases = pd.DataFrame([{"case": "c", "cc": "newreno", "queue": "droptail", "model": m, "flows": 2, "missing": 0,
                           "median": med, "max": 0.3, "mean_fct": 0.0, "makespan": mk}
                          for m, med, mk in [("fluid", 0.1, -0.02), ("tcp", 0.05, 0.01),
                                             ("ns3_rerun1", 0.2, -0.05), ("ns3_rerun2", 0.4, 0.30)]])
    flows = pd.DataFrame({"case": ["c", "c"], "queue": ["droptail"] * 2, "fluid_error": [0.1, -0.1],
                          "tcp_error": [0.05, 0.05], "ns3_rerun1_error": [0.2, -0.2], "ns3_rerun2_error": [0.4, 0.1]})
    p = ns3v.pooled(flows).set_index("model")
    assert p.loc["ns3_reruns", "flows"] == 4 and p.loc["ns3_reruns", "median"] == pytest.approx(0.2)
    assert p.loc["tcp", "flows"] == 2
    table = ns3v.markdown_table(cases, ns3v.pooled(flows))
    assert "ns-3 x2 median" in table and "| 30.00 | -5.00 to 30.00 |" in table
    assert ns3v.reruns_of(["tcp", "ns3_rerun10", "ns3_rerun2", "ns3_reruns", "ns3_rerun2"]) == ["ns3_rerun2",
                                                                                                 "ns3_rerun10"]
    no_reruns = ns3v.pooled(flows.drop(columns=["ns3_rerun1_error", "ns3_rerun2_error"]))
    assert set(no_reruns["model"]) == {"fluid", "tcp"}


@pytest.mark.parametrize("kwargs, field", [({"reruns": -1}, "reruns"), ({"reruns": 101}, "reruns"),
                                           ({"reruns": True}, "reruns"), ({"jitter_s": 0.002}, "jitter_s"),
                                           ({"reruns": 2, "jitter_s": 0.0}, "jitter_s"),
                                           ({"reruns": 2, "jitter_s": float("nan")}, "jitter_s")])
def test_bad_rerun_settings_are_one_line_before_anything_runs(kwargs, field):
    with pytest.raises(InputError, match=f"^{field}: "):
        ns3v.validate_model([ns3v.Case("x", VALIDATION / "dumbbell_1.yaml", "newreno")], **kwargs)


# ---------------------------------------------------------------------------------------- replaying a run's flows
def test_a_replay_carries_every_flow_of_the_run_and_gives_each_its_completion_time():
    sc = sim.load(ROOT / "scenarios" / "early_exit.yaml").with_({"horizon_s": 10})
    from sim.pipeline import simulate, traces

    original = simulate(sc, traces(sc, None), flows=True).flows.sort_values("id").reset_index(drop=True)
    replay = ns3v.replay_scenario(sc)
    assert {p for p in original["purpose"]} >= {"inference_input", "inference_result"}
    assert len(replay.traffic) == len(original) and all(t.process == "single" for t in replay.traffic)
    assert [t.name for t in replay.traffic[:2]] == [f"{p}.{i}" for p, i in zip(original["purpose"][:2],
                                                                                original["id"][:2])]
    assert {v.name for v in sc.servers} <= {n.name for n in replay.nodes} and not replay.servers
    assert [g.name for g in replay.device_groups] == ["idle"]
    replayed = simulate(replay, traces(replay, None), flows=True).flows
    replayed = replayed[replayed.purpose == "traffic"].sort_values("id").reset_index(drop=True)
    assert replayed["path"].tolist() == original["path"].tolist()
    assert replayed["fct_s"].to_numpy() == pytest.approx(original["fct_s"].to_numpy(), rel=1e-12, nan_ok=True)
    nodes, _, endpoint = ns3v.mirror(replay)  # ns-3 can be given it: the idle group makes no flows
    assert endpoint["ap"] == "ap.devices" and "idle" not in nodes


def test_a_replay_too_large_or_empty_is_one_line():
    sc = sim.load(ROOT / "scenarios" / "early_exit.yaml").with_({"horizon_s": 10})
    with pytest.raises(ScenarioError) as e:
        ns3v.replay_scenario(sc, max_flows=10)
    assert len(e.value.lines()) == 1 and e.value.lines()[0].startswith("horizon_s: the run makes ")
    quiet = sim.load(VALIDATION / "dumbbell_1.yaml", {"traffic": []})  # local inference only: no flow
    with pytest.raises(ScenarioError, match="no flows"):
        ns3v.replay_scenario(quiet)
    with pytest.raises(InputError, match="^replay: "):
        sim.api.validate_model(suite=True, replay=True)
    with pytest.raises(InputError, match="^horizon_s: "):
        sim.api.validate_model(ROOT / "scenarios" / "early_exit.yaml", horizon_s=5)
    # what ns-3 cannot be given is said before the run (which would be of 10,000 devices here)
    with pytest.raises(ScenarioError) as e:
        sim.api.validate_model(ROOT / "scenarios" / "multi_device.yaml", replay=True)
    assert [line.split(": ", 1)[1] for line in e.value.lines()][0].startswith("device_groups[0].updates: ")
    assert any(": access_points[0].duplex: " in line for line in e.value.lines())
