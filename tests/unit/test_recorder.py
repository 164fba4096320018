"""The recorder's aggregates: sums per window, place and exit; device totals; the sketch."""

import numpy as np
import pytest

from sim.recorder import C, Recorder, window_count
from sim.sketch import ALPHA, LatencySketch


def make(horizon_s=10.0, window_s=5.0, servers=("edge",)):
    rec = Recorder(["l.up"], list(servers), horizon_s, window_s)
    g = rec.group(count=3, input_bytes=100, result_bytes=10, radio_j=0.5, targets=[0])
    return rec, g


def test_local_block_lands_in_the_window_of_its_finish_time():
    rec, g = make()
    g.arrivals += 4
    g.local(np.array([0.0, 1.0, 4.0, 9.0]), np.array([1.0, 2.0, 6.0, 11.0]), np.array([0, 1, 2, 0]), 0,
            np.array([True, False, True, True]), np.array([0.1, 0.2, 0.3, 0.4]))
    # the last one ends after the 10 s horizon: unfinished, not counted
    assert g.completed == 3
    w0, w1 = g.table[0, 0, 0], g.table[1, 0, 0]
    assert (w0[C["n"]], w0[C["correct"]], w0[C["latency_sum"]]) == (2, 1, 2.0)
    assert (w1[C["n"]], w1[C["correct"]], w1[C["compute_energy_j"]]) == (1, 1, pytest.approx(0.3))
    tot = g.device_totals()
    assert tot["n"].tolist() == [1, 1, 1] and tot["offloaded"].tolist() == [0, 0, 0]


def test_offloaded_rows_are_summed_with_their_bytes_and_radio_energy():
    rec, g = make()
    g.offloaded((0.0, 0.5, 2, 0, True, float("nan"), 0.01, 0.2, 0.5))  # the last: its radio energy (radio_j)
    g.offloaded((1.0, 6.5, 2, 0, False, 0.8, 0.02, 0.3, 0.5))
    rec.finish()
    cell0, cell1 = g.table[0, 1, 2], g.table[1, 1, 2]  # place 1 = the group's first target, exit 2 = offloaded
    assert cell0[C["n"]] == 1 and cell0[C["bytes_up"]] == 100 and cell0[C["radio_energy_j"]] == 0.5
    assert cell1[C["map_sum"]] == pytest.approx(0.8) and cell1[C["map_n"]] == 1 and cell0[C["map_n"]] == 0
    tot = g.device_totals()
    assert tot["offloaded"].tolist() == [0, 0, 2] and tot["bytes_down"].tolist() == [0, 0, 20]
    assert tot["latency_sum"][2] == pytest.approx(0.5 + 5.5)


def test_a_group_keeps_places_only_for_its_own_targets():
    rec = Recorder(["l"], [f"s{i}" for i in range(50)], 10.0, 5.0)
    g = rec.group(count=1, input_bytes=1, result_bytes=1, radio_j=0.0, targets=[37])
    assert g.table.shape[1] == 2
    g.offloaded((0.0, 1.0, 0, 37, True, float("nan"), 0.0, 0.0, 0.0))
    rec.finish()
    assert g.table[0, 1, 2, C["n"]] == 1 and g.table.sum() > 0


def test_window_count_matches_the_sampler():
    assert window_count(3600, 60) == 60 and window_count(10, 3) == 4 and window_count(0.3, 0.1) == 3
    assert window_count(1.0, 5.0) == 1


def test_request_rows_reach_the_sink():
    chunks = []
    rec = Recorder([], [], 10.0, 5.0, sink=chunks.append)
    g = rec.group(count=1, input_bytes=1, result_bytes=1, radio_j=0.0)
    g.local(np.array([0.0, 1.0]), np.array([0.5, 1.5]), np.array([0, 0]), 0, np.array([True, False]),
            np.zeros(2))
    assert len(chunks) == 1 and chunks[0]["done_s"].tolist() == [0.5, 1.5]
    assert chunks[0]["correct"].tolist() == [True, False]


def test_sketch_quantiles_are_within_the_stated_relative_error():
    x = np.random.default_rng(1).lognormal(-3, 2, 50_000)
    sk = LatencySketch(1)
    sk.add(0, x)
    exact = np.sort(x)
    for q in (0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 1.0):
        (est,) = sk.quantiles([q])
        true = exact[int(np.floor(q * (len(x) - 1)))]
        assert abs(est / true - 1) <= ALPHA * (1 + 1e-9)


def test_sketch_merges_by_key_and_ignores_order():
    a, b = LatencySketch(2), LatencySketch(2)
    x = np.linspace(0.001, 2.0, 1000)
    a.add(np.zeros(1000, dtype=int), x)
    b.add(0, x[::-1][:500])
    b.add(0, x[::-1][500:])
    assert (a.counts == b.counts).all() and a.quantiles([0.5], [1]) == [None]


def test_a_varying_radio_energy_is_summed_row_by_row():
    # radio_j None (the air-time model under fading): each offload carries its own
    rec = Recorder(["l.up"], ["edge"], 10.0, 5.0)
    g = rec.group(count=2, input_bytes=100, result_bytes=10, radio_j=None, targets=[0])
    g.offloaded((0.0, 0.5, 1, 0, True, float("nan"), 0.0, 0.0, 0.25))
    g.offloaded((1.0, 2.5, 1, 0, True, float("nan"), 0.0, 0.0, 0.5))
    rec.finish()
    assert g.device_totals()["radio_energy_j"].tolist() == [0.0, 0.75]
    assert g.table[0, 1, 2, C["radio_energy_j"]] == 0.75
