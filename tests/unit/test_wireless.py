"""Wireless sharing, time-varying capacity and fading (issue 15): hand-computed cases.

Two devices at 54 and 6 Mb/s on one radio medium (an 802.11a/g pair of rates):

* ``throughput_fair`` (max-min in bits): each gets x with x/54 + x/6 = 1 s of air per s,
  x = 54 x 6 / 60 = 5.4 Mb/s: the fast device is pulled down to the slow one's rate (the
  802.11 performance anomaly, Heusse et al., INFOCOM 2003).
* ``airtime_fair`` (max-min in air time): each gets half the time, 27 and 3 Mb/s.
"""

import pytest

from sim.entities.link import Channel, DirectedLink, Network, maxmin_rates
from sim.simclock import Environment

MB = 1e6


def _finish_times(link, rates, sizes_bits, starts=None, weight=1.0, events=()):
    """Flows of ``sizes_bits`` from devices at ``rates`` on ``link``; ``events``: (time, fn(net))."""
    env = Environment()
    net = Network(env, [link])
    chans = [Channel(link, r) for r in rates]
    done = {}

    def go(i, start):
        yield env.timeout(start)
        cut = yield net.send(net.flow_class([link], weight, chans[i]), sizes_bits[i] / 8)
        done[i] = (env.now, cut)

    for i in range(len(rates)):
        env.process(go(i, (starts or [0.0] * len(rates))[i]))

    _run_with_events(env, net, chans, events)
    return [done[i] for i in range(len(rates))]


def _run_with_events(env, net, chans, events):
    """Run ``env`` to its end, calling each ``fn(net, chans)`` of ``events`` at its time."""
    def at(t, fn):
        yield env.timeout(t)
        fn(net, chans)

    for t, fn in events:
        env.process(at(t, fn))
    env.run()


def test_throughput_fair_performance_anomaly():
    # 5.4 Mb each at 5.4 Mb/s: both done at 1.0 s (alone, the fast one would need 0.1 s)
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    (t1, c1), (t2, c2) = _finish_times(air, [54 * MB, 6 * MB], [5.4 * MB, 5.4 * MB])
    assert (t1, t2) == pytest.approx((1.0, 1.0))
    assert not c1 and not c2


def test_airtime_fair_rates_in_proportion():
    # 27 Mb and 3 Mb at 27 and 3 Mb/s: both done at 1.0 s
    air = DirectedLink("ap.air", 54 * MB, airtime="airtime_fair")
    (t1, _), (t2, _) = _finish_times(air, [54 * MB, 6 * MB], [27 * MB, 3 * MB])
    assert (t1, t2) == pytest.approx((1.0, 1.0))


def test_throughput_fair_after_the_fast_one_leaves():
    # 2.7 Mb and 5.4 Mb: 5.4 Mb/s each; the fast one is done at 0.5 s (2.7 Mb), the slow one has
    # 2.7 Mb left at its own 6 Mb/s: 0.45 s more -> 0.95 s
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    (t1, _), (t2, _) = _finish_times(air, [54 * MB, 6 * MB], [2.7 * MB, 5.4 * MB])
    assert (t1, t2) == pytest.approx((0.5, 0.95))


def test_a_device_alone_is_capped_at_its_own_rate():
    # the medium's unit rate is 54 Mb/s, but a 6 Mb/s device alone sends 6 Mb in 1 s; goodput 0.5: 2 s
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    assert _finish_times(air, [6 * MB], [6 * MB])[0][0] == pytest.approx(1.0)
    air = DirectedLink("ap.air", 54 * MB, goodput=0.5, airtime="airtime_fair")
    assert _finish_times(air, [6 * MB], [6 * MB])[0][0] == pytest.approx(2.0)


def test_equal_rates_are_the_plain_fixed_rate_link():
    # devices at the unit rate: the same times as today's fixed-rate link (1.0 and 1.5 s)
    for sharing in ("throughput_fair", "airtime_fair"):
        air = DirectedLink("ap.air", 10 * MB, airtime=sharing)
        times = [t for t, _ in _finish_times(air, [10 * MB, 10 * MB], [5 * MB, 10 * MB])]
        assert times == pytest.approx([1.0, 1.5])


def test_radio_link_behind_a_wired_bottleneck():
    # the two devices cross the medium and then a 2 Mb/s backhaul: the backhaul decides (1 Mb/s each)
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    wan = DirectedLink("wan", 2 * MB)
    a, b = Channel(air, 54 * MB), Channel(air, 6 * MB)
    env = Environment()
    net = Network(env, [air, wan])
    ends = []
    for ch in (a, b):
        net.send(net.flow_class([air, wan], 1.0, ch), 1 * MB / 8).callbacks.append(lambda e: ends.append(env.now))
    env.run()
    assert ends == pytest.approx([1.0, 1.0])


def test_maxmin_with_coefficients():
    # one medium of 1 unit; flows at 54 and 6: coefficients 1/54 and 1/6 (in Mb/s units)
    r = maxmin_rates([1.0], [(1.0, [0]), (1.0, [0])], [[1 / 54], [1 / 6]])
    assert r == pytest.approx([5.4, 5.4])
    # without coefficients: the plain weighted max-min
    assert maxmin_rates([4e6], [(1, [0]), (3, [0])], None) == pytest.approx([1e6, 3e6])


def test_capacity_step_halfway_through_a_flow():
    # 10 Mb on 10 Mb/s; at 0.5 s (5 Mb sent) the link drops to 5 Mb/s: 5 Mb more take 1 s -> 1.5 s
    link = DirectedLink("l", 10 * MB)
    env = Environment()
    net = Network(env, [link])
    end = []
    net.transfer([link], 10 * MB / 8).callbacks.append(lambda e: end.append(env.now))

    def step():
        yield env.timeout(0.5)
        net.set_capacity(link, 5 * MB)

    env.process(step())
    env.run()
    assert end == pytest.approx([1.5])
    assert link.nominal_bps == 10 * MB  # the declared rate stays (utilisation is of it)


def test_rate_change_of_one_device_reshares_in_flight():
    # throughput-fair, 54 and 6 Mb/s, 5.4 Mb each: at 0.5 s (2.7 Mb sent each) the slow device
    # fades up to 54: then 27 Mb/s each, 2.7 Mb more take 0.1 s -> 0.6 s
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    res = _finish_times(air, [54 * MB, 6 * MB], [5.4 * MB, 5.4 * MB],
                        events=[(0.5, lambda net, ch: net.set_rates([ch[1]], [54 * MB]))])
    assert [t for t, _ in res] == pytest.approx([0.6, 0.6])


def _air_times(link, rates, sizes_bits, events=()):
    """Each flow's air time (``air_s`` of its event) on ``link``, flows from devices at ``rates``."""
    env = Environment()
    net = Network(env, [link])
    chans = [Channel(link, r) for r in rates]
    evs = [net.transfer([link], s / 8, channel=c) for s, c in zip(sizes_bits, chans)]

    _run_with_events(env, net, chans, events)
    return [e.air_s for e in evs]


def test_air_time_follows_the_rate_during_a_flow():
    # alone, 10 Mb at 10 Mb/s; at 0.5 s (5 Mb sent, 0.5 s of air) the rate drops to 5 Mb/s:
    # 5 Mb more at 5 Mb/s, 1 s of air: 1.5 s in all (not the 1.0 s of the rate at its start)
    air = DirectedLink("ap.air", 10 * MB, airtime="throughput_fair")
    assert _air_times(air, [10 * MB], [10 * MB], [(0.5, lambda net, ch: net.set_rates(ch, [5 * MB]))]) \
        == pytest.approx([1.5])
    # goodput 0.5: a device alone sends at 5 Mb/s of payload, 2 s of air for 10 Mb
    half = DirectedLink("ap.air", 10 * MB, goodput=0.5, airtime="throughput_fair")
    assert _air_times(half, [10 * MB], [10 * MB]) == pytest.approx([2.0])
    # shared (throughput-fair, 54 and 6 Mb/s, 5.4 Mb each: 5.4 Mb/s each): the air is the device's own,
    # bits / its rate, not the wall time of the transfer: 0.1 s and 0.9 s; when the slow one fades up
    # to 54 at 0.5 s (2.7 Mb sent each): 2.7/6 + 2.7/54 = 0.5 s
    shared = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    assert _air_times(shared, [54 * MB, 6 * MB], [5.4 * MB, 5.4 * MB]) == pytest.approx([0.1, 0.9])
    assert _air_times(shared, [54 * MB, 6 * MB], [5.4 * MB, 5.4 * MB],
                      [(0.5, lambda net, ch: net.set_rates([ch[1]], [54 * MB]))]) == pytest.approx([0.1, 0.5])


def test_air_time_used_by_a_radio_medium():
    # 54 and 6 Mb/s, throughput-fair, 5.4 Mb each: by 0.5 s each sent 2.7 Mb: 2.7/54 + 2.7/6 = 0.5 s of
    # air (all of it), though its bits are only 5.4 / 54 = 10 % of its capacity at the unit rate; by
    # 1.0 s (both done): 0.1 + 0.9 = 1.0 s.  A flow without a device channel counts at the unit rate.
    link = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    env = Environment()
    net = Network(env, [link])
    chans = [Channel(link, 54 * MB), Channel(link, 6 * MB)]
    for c in chans:
        net.transfer([link], 5.4 * MB / 8, channel=c)
    env.run(until=0.5)
    net.advance()
    assert link.air_used_s == pytest.approx(0.5)
    assert link.delivered_bits / link.capacity_bps == pytest.approx(0.1)
    env.run(until=2.0)
    net.advance()
    assert link.air_used_s == pytest.approx(1.0)
    net.transfer([link], 5.4 * MB / 8)  # at the unit rate: 0.1 s
    env.run(until=3.0)
    net.advance()
    assert link.air_used_s == pytest.approx(1.1)


def test_out_of_coverage_cuts_flows():
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    res = _finish_times(air, [54 * MB, 6 * MB], [5.4 * MB, 5.4 * MB],
                        events=[(0.5, lambda net, ch: net.set_rates([ch[1]], [0.0]))])
    # the slow one is cut at 0.5 s; the fast one has 2.7 Mb left alone at 54 Mb/s: 0.05 s
    assert res[1] == (pytest.approx(0.5), True)
    assert res[0] == (pytest.approx(0.55), False)
    # a flow of a device out of coverage is cut at its start
    assert _finish_times(air, [0.0], [1 * MB])[0] == (0.0, True)


def test_channel_must_be_on_a_radio_link():
    with pytest.raises(ValueError):
        Channel(DirectedLink("l", 1e6), 1e6)


# ---------------------------------------------------------------------------------- scenarios
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from sim import metrics, radio  # noqa: E402
from sim.build import BuildError, build, load_traces  # noqa: E402
from sim.entities.wireless import CapacitySeries, load_capacity_trace  # noqa: E402
from sim.errors import TraceError  # noqa: E402
from sim.rng import Streams  # noqa: E402
from sim.runner import run  # noqa: E402
from sim.scenario_io import apply_overrides, read_yaml, validate  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CELL = ROOT / "tests" / "data" / "cross_mode" / "radio_cell.yaml"


def _cell(**overrides):
    return validate(apply_overrides(read_yaml(CELL), {"horizon_s": 30, **overrides}, str(CELL)), str(CELL))


def _problems(**overrides) -> str:
    with pytest.raises(Exception) as e:
        _cell(**overrides)
    return str(e.value)


def test_settings_that_cannot_count_are_rejected():
    tiny = ROOT / "tests" / "data" / "tiny.yaml"
    with pytest.raises(Exception, match="has no radio"):
        validate(apply_overrides(read_yaml(tiny), {"access_points.0.sharing": "airtime_fair"}, str(tiny)), str(tiny))
    with pytest.raises(Exception, match="no SNR to fade"):
        validate(apply_overrides(read_yaml(tiny), {"device_groups.0.fading": {"model": "rayleigh", "coherence_s": 1}},
                                 str(tiny)), str(tiny))
    assert "not both" in _problems(**{"device_groups.0.energy.radio_up_j_per_bit": 1e-7})
    assert "air-time model" in _problems(**{"device_groups.0.energy": {"radio_tail_j": 0.1}})
    assert "k_factor: required" in _problems(**{"device_groups.0.fading": {"model": "rician", "coherence_s": 1}})
    assert "used by model 'rician' only" in _problems(**{"device_groups.0.fading": {
        "model": "rayleigh", "k_factor": 2, "coherence_s": 1}})


def test_capacity_trace_files(tmp_path):
    s = load_capacity_trace(ROOT / "traces" / "capacity" / "snr_dip_synthetic.csv")
    assert s.kind == "snr_offset_db" and s.times_s == (0.0, 200.0, 400.0) and s.values == (0.0, -15.0, 0.0)
    assert "synthetic" in s.provenance["source"]
    w = load_capacity_trace(ROOT / "traces" / "capacity" / "capacity_walk_synthetic.csv")
    assert w.kind == "capacity_bps" and len(w.times_s) == 300 and "synthetic" in w.provenance["source"]
    assert set(w.values[120:150]) == {0.5e6} and all(2e6 - 1 <= v <= 50e6 + 1 for v in w.values[:120])
    bad = tmp_path / "bad.csv"
    bad.write_text("time_s,capacity_bps\n0,1e6\n")
    with pytest.raises(TraceError, match="provenance.source"):
        load_capacity_trace(bad)
    bad.write_text("# source: x\n# date: y\n# command: z\ntime_s,capacity_bps\n0,1e6\n0,2e6\n")
    with pytest.raises(TraceError, match="increase"):
        load_capacity_trace(bad)
    table = pa.table({"time_s": [0.0, 5.0], "capacity_bps": [1e6, 2e6]})
    meta = {"provenance": {"source": "test", "date": "2026-12-07", "command": "pytest"}}
    table = table.replace_schema_metadata({"sim": json.dumps(meta)})
    pq.write_table(table, tmp_path / "c.parquet")
    p = load_capacity_trace(tmp_path / "c.parquet")
    assert p.kind == "capacity_bps" and p.values == (1e6, 2e6)


def test_repeat_and_hold():
    s = CapacitySeries("x", "capacity_bps", (0.0, 10.0, 15.0), (1.0, 2.0, 3.0), {})
    assert s.period_s == 20.0  # the last value lasts as long as the step before it
    assert list(s.changes("hold", 50)) == [(10.0, 2.0), (15.0, 3.0)]
    assert list(s.changes("repeat", 41)) == [(10.0, 2.0), (15.0, 3.0), (20.0, 1.0), (30.0, 2.0), (35.0, 3.0),
                                            (40.0, 1.0)]


def test_a_trace_of_the_wrong_kind_is_rejected():
    sc = _cell(**{"access_points.0.capacity_trace": {"path": "../capacity/bps_step.csv"}})
    with pytest.raises(BuildError, match="give snr_offset_db"):
        load_traces(sc, CELL.parent)


def test_fading_changes_are_counted_and_drawn_from_the_group_stream():
    # coherence 2 s over 30 s: the first block at build, then at 2, 4, ..., 28 s: 15 draws
    sc = _cell(**{"device_groups.0.fading": {"model": "rayleigh", "coherence_s": 2.0}})
    model = build(sc, load_traces(sc, CELL.parent), Streams(sc.seed))
    r = model.groups[0].radio
    assert r.changes == 1
    model.env.run(until=sc.horizon_s)
    assert r.changes == 15
    # the rates now are the mapping of SNR + the last block's gain, device by device
    up = np.array([c.rate_bps for c in r.up])
    expect = radio.rate_bps(r.snr_up + r.gain_db, sc.access_points[0].radio)
    assert np.array_equal(up, expect) and not np.array_equal(up, r.base_up_bps)
    # the same seed draws the same gains
    again = build(sc, load_traces(sc, CELL.parent), Streams(sc.seed))
    again.env.run(until=sc.horizon_s)
    assert np.array_equal(again.groups[0].radio.gain_db, r.gain_db)


def test_snr_dip_slows_the_far_devices():
    step = {"access_points.0.capacity_trace": {"path": "../capacity/snr_step.csv"}}
    sc = _cell(**step)
    model = build(sc, load_traces(sc, CELL.parent), Streams(sc.seed))
    r = model.groups[0].radio
    model.env.run(until=15.0)  # -20 dB from 10 s
    ap = sc.access_points[0].radio
    assert [c.rate_bps for c in r.up] == pytest.approx(radio.rate_bps(r.snr_up - 20.0, ap).tolist())
    plain = metrics.frames(run(_cell(), load_traces(_cell(), CELL.parent)))[0]
    dipped = metrics.frames(run(sc, load_traces(sc, CELL.parent)))[0]
    assert dipped["completed"] < plain["completed"] and dipped["unfinished"] > plain["unfinished"]


def test_radio_energy_follows_air_time():
    # per completed offload: 0.5 W x 8 x 30720 B / (goodput x up rate) + 0.01 J tail, and
    # 0.2 W x 8 x 64 B / (goodput x down rate) + 0.01 J: a far (slow) device pays more per bit
    sc = _cell()
    res = run(sc, load_traces(sc, CELL.parent))
    _, _, dev = metrics.frames(res)
    rates = radio.device_rates(sc.access_points[0], sc.device_groups[0], Streams(sc.seed)["group/cams/radio"])
    per = 0.5 * 8 * 30720 / rates.up_bps + 0.01 + 0.2 * 8 * 64 / rates.down_bps + 0.01
    done = dev["offloaded"].to_numpy()
    seen = done > 0
    assert seen.sum() >= 10
    assert dev["radio_energy_j"].to_numpy()[seen] == pytest.approx(done[seen] * per[seen])
    assert per[1] > per[0]  # 50 m spends more per offload than 10 m


def test_the_summary_reports_air_time_utilisation():
    # the far devices saturate the uplink's air time; its bits at the unit rate are a lower bound
    sc = _cell()
    s = metrics.summary(run(sc, load_traces(sc, CELL.parent)))
    air, bits = s["airtime_utilisation"], s["link_utilisation"]
    assert set(air) == {"ap1.up", "ap1.down"}
    assert bits["ap1.up"] < 0.5 < air["ap1.up"] <= 1.0 + 1e-9
    assert air["ap1.down"] >= bits["ap1.down"]
    from sim import labels
    assert labels.label("airtime_utilisation.ap1.up") == "air-time utilisation of link ap1.up"
    # a run without a radio access point has no such key
    tiny = ROOT / "tests" / "data" / "tiny.yaml"
    sc = validate(read_yaml(tiny), str(tiny))
    assert "airtime_utilisation" not in metrics.summary(run(sc, load_traces(sc, tiny.parent)))


def test_utilisation_is_against_the_mean_capacity_of_a_trace():
    # 10 Mb/s for 0.5 s, then 5 Mb/s: over 2 s the mean is (5 + 7.5) / 2 = 6.25 Mb/s
    link = DirectedLink("l", 10 * MB)
    env = Environment()
    net = Network(env, [link])

    def step():
        yield env.timeout(0.5)
        net.set_capacity(link, 5 * MB)

    env.process(step())
    env.run(until=2.0)
    assert link.mean_capacity_bps(2.0) == pytest.approx(6.25 * MB)
    assert DirectedLink("k", 3 * MB, goodput=0.5).mean_capacity_bps(2.0) == 1.5 * MB


def test_the_allocation_counts_each_device_in_air_time():
    # scenarios/wireless.yaml: devices at 25, 100 and 300 m; the update loop's device types are
    # split by rate, and a sample or a model costs unit rate / the device's rate (to the nearest
    # half octave) times its bits
    from sim.entities.wireless import _half_octave

    path = ROOT / "scenarios" / "wireless.yaml"
    sc = validate(apply_overrides(read_yaml(path), {"horizon_s": 40, "device_groups.0.count": 6}, str(path)),
                  str(path))
    model = build(sc, load_traces(sc, path.parent), Streams(sc.seed))
    st = model.updates[0]
    r = st.radio
    unit = r.up[0].link.nominal_bps
    types = st.device_types()
    assert len(types) == 3 and sorted(len(devs) for devs, _ in types) == [2, 2, 2]
    for devices, t in types:
        d = devices[0]
        up = _half_octave(unit / r.base_up_bps[d])
        down = _half_octave(unit / r.base_down_bps[d])
        assert t.sample_bits == 8.0 * 784 * up and t.model_bits == pytest.approx(st.model_bits * down)
        # throughput-fair medium: the flow weight is the air share over the air per bit
        assert r.weight(d, 2.0, True) == pytest.approx(2.0 / up)
    assert _half_octave(1.0) == 1.0 and _half_octave(4.2) == 4.0 and _half_octave(2.9) == pytest.approx(2 ** 1.5)


def test_sharing_among_equal_rates_is_rejected():
    snr = {"access_points.0.radio": {"bandwidth_hz": 5e6}, "access_points.0.sharing": "airtime_fair",
           "device_groups.0.placement": None, "device_groups.0.snr_db": 10}
    assert "same SNR and no fading" in _problems(**snr)
    _cell(**snr, **{"device_groups.0.fading": {"model": "rayleigh", "coherence_s": 1}})  # fading: rates differ


def test_a_swept_class_follows_its_channel_when_it_revives():
    # many weights on one channel: swept idle classes leave the channel's list at a rate change;
    # a class a caller kept sends again at the channel's rate of now
    air = DirectedLink("ap.air", 54 * MB, airtime="throughput_fair")
    env = Environment()
    net = Network(env, [air])
    ch = Channel(air, 6 * MB)
    kept = net.flow_class([air], 1.0, ch)
    net.send(kept, 1000)
    env.run()
    for k in range(100):
        net.send(net.flow_class([air], 2.0 + k, ch), 1000)
        env.run()
    assert not kept.live
    net.set_rates([ch], [54 * MB])
    assert len(ch.classes) < 60
    end = []
    net.send(kept, 54 * MB / 8).callbacks.append(lambda e: end.append(env.now))
    start = env.now
    env.run()
    assert end[0] - start == pytest.approx(1.0) and kept in ch.classes


def test_a_run_of_endless_fading_blocks_is_refused():
    from sim.limits import LimitError, check

    sc = _cell(**{"horizon_s": 1e9, "metrics.window_s": 1e6, "device_groups.0.count": 5,
                  "device_groups.0.arrivals.rate_hz": 1e-6,
                  "device_groups.0.fading": {"model": "rayleigh", "coherence_s": 0.001}})
    with pytest.raises(LimitError, match="fading.coherence_s"):
        check(sc)
    assert check(_cell(**{"device_groups.0.fading": {"model": "rayleigh", "coherence_s": 1}})).fading_s > 0


def test_a_missing_placement_file_names_its_field():
    sc = _cell(**{"device_groups.0.placement": {"kind": "file", "path": "../radio/nope.csv"}})
    with pytest.raises(BuildError, match=r"device_groups\[0\].placement.path"):
        load_traces(sc, CELL.parent)


def test_radio_energy_follows_fading():
    # fading every 10 s; receive power 0: each offload pays 0.5 W x its upload's air time + two 10 mJ
    # tails; an offload done in the fading block it left in (at its arrival: offload_fraction) had one
    # rate throughout: its wire bits / that rate, 8 x (30720 B + 22 segments x 52 B of headers) under the
    # default tcp transport (1448-byte segments).  One whose upload spans a block pays each block's rate
    # for the bits sent in it (the network's air time; hand-computed in
    # test_air_time_follows_the_rate_during_a_flow), not the rate when it left.
    coh = 10.0
    sc = _cell(**{"device_groups.0.fading": {"model": "rayleigh", "coherence_s": coh},
                  "device_groups.0.energy.radio_rx_power_w": 0.0})
    chunks = []
    res = run(sc, load_traces(sc, CELL.parent), sink=chunks.append)
    rows = {k: np.concatenate([c[k] for c in chunks])
            for k in ("device", "arrival_s", "done_s", "place", "radio_energy_j")}
    off = rows["place"] >= 0
    dev, t, e = rows["device"][off].astype(int), rows["arrival_s"][off], rows["radio_energy_j"][off]
    within = (t // coh) == (rows["done_s"][off] // coh)
    streams = Streams(sc.seed)
    rates = radio.device_rates(sc.access_points[0], sc.device_groups[0], streams["group/cams/radio"])
    fading = streams["group/cams/fading"]
    n = sc.device_groups[0].count
    gains = np.array([radio.fading_gains("rayleigh", 0.0, n, fading) for _ in range(int(sc.horizon_s / coh))])
    block = (t // coh).astype(int)
    r_up = radio.rate_bps(rates.snr_up_db[dev] + 10 * np.log10(gains[block, dev]), sc.access_points[0].radio)
    assert within.sum() > 10 and (~within).sum() > 0
    at_start = 0.5 * 8 * (30720 + 22 * 52) / r_up + 0.02
    assert e[within] == pytest.approx(at_start[within])
    # the uploads that span a fading change are charged otherwise than at the rate they left at
    assert not np.allclose(e[~within], at_start[~within], rtol=1e-3)
    # the per-device totals sum the rows, and differ from the rate without fading
    dev_tot = metrics.frames(res)[2]["radio_energy_j"].to_numpy()
    assert dev_tot == pytest.approx(np.bincount(dev, weights=e, minlength=n))
    assert not np.allclose(e, 0.5 * 8 * 30720 / rates.up_bps[dev] + 0.02)


def test_competing_inference_traffic_is_counted_in_air_on_a_radio_access_point():
    # over a 2 s period the inference inputs through a radio uplink (unit rate 100 Mb/s, goodput 0.5:
    # 50 Mb/s of payload at the unit rate) took 0.4 s of air: 0.2 of the medium, 10 Mb/s at the unit
    # rate, though they carried only 1 MB (4 Mb/s: slow devices); results down: 0.01 s, 0.25 Mb/s.
    # A fixed-rate access point counts the bits.
    from types import SimpleNamespace

    from sim.entities.updates import UpdateController

    def competing(airtime):
        up = SimpleNamespace(name="ap.up", airtime=airtime, capacity_bps=50e6)
        down = SimpleNamespace(name="ap.down", airtime=airtime, capacity_bps=50e6)
        c = UpdateController.__new__(UpdateController)
        c.target, c.period_s, c._seen = SimpleNamespace(up=[up], down=[down]), 2.0, (0.0, 0.0)
        c.recorder = SimpleNamespace(
            flow_bytes={("ap.up", "inference_input"): [10, 1e6], ("ap.down", "inference_result"): [10, 1e4]},
            flow_air_s={("ap.up", "inference_input"): 0.4, ("ap.down", "inference_result"): 0.01})
        return c._competing()

    assert competing("throughput_fair") == pytest.approx((10e6, 0.25e6))
    assert competing(None) == pytest.approx((4e6, 0.04e6))
