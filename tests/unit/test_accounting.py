"""Every arrival is accounted (completed, failed or unfinished; missed by deadline), the
summary's totals count every purpose, pooled figures say what they pool, and a group with
model updates follows its routing policy."""

from pathlib import Path

import pytest

from sim import metrics
from sim.build import load_traces
from sim.runner import run
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def summarise(path: Path, overrides: dict | None = None) -> dict:
    sc = validate(apply_overrides(read_yaml(path), overrides or {}, str(path)), str(path))
    return metrics.summary(run(sc, load_traces(sc, path.parent)))


def test_a_congested_uplink_leaves_inferences_unfinished_and_they_are_counted():
    # tiny.yaml offloads half its inputs; at 1e5 b/s the uplink cannot carry them (once, 700 of
    # 1,225 inferences were reported and an offloaded fraction of 0.104: the queued ones vanished)
    free = summarise(DATA / "tiny.yaml")
    jam = summarise(DATA / "tiny.yaml", {"access_points.0.uplink_bps": 1e5})
    assert jam["arrivals"] == free["arrivals"]  # same seed: the same arrivals
    assert jam["arrivals"] == jam["completed"] + jam["failed"] + jam["unfinished"]
    assert jam["unfinished"] > 0.3 * jam["arrivals"] and free["unfinished"] < 0.01 * free["arrivals"]
    # the policy's decision is over arrivals: 0.5 in both runs, congested or not
    assert jam["offloaded_fraction"] == free["offloaded_fraction"] == pytest.approx(0.5, abs=0.04)
    # an unfinished input counts as wrong over all arrivals, not in the completed-only figure
    assert jam["mean_accuracy_all_arrivals"] < 0.7 * jam["mean_accuracy"]
    assert free["mean_accuracy_all_arrivals"] == pytest.approx(free["mean_accuracy"], rel=0.02)
    g = jam["groups"]["cams"]
    assert (g["arrivals"], g["completed"], g["unfinished"]) == (jam["arrivals"], jam["completed"], jam["unfinished"])


def test_a_deadline_counts_late_inferences_as_missed():
    base = summarise(DATA / "tiny.yaml", {"access_points.0.uplink_bps": 3e5})
    late = summarise(DATA / "tiny.yaml", {"access_points.0.uplink_bps": 3e5, "device_groups.0.deadline_s": 0.5})
    loose = summarise(DATA / "tiny.yaml", {"access_points.0.uplink_bps": 3e5, "device_groups.0.deadline_s": 1e6})
    assert base["missed"] == loose["missed"] == 0
    assert late["completed"] == base["completed"] and late["missed"] > 0.05 * late["completed"]
    assert late["groups"]["cams"]["missed"] == late["missed"]
    assert late["mean_accuracy"] == base["mean_accuracy"]  # completed-only: unchanged
    assert late["mean_accuracy_all_arrivals"] < base["mean_accuracy_all_arrivals"]
    assert loose["mean_accuracy_all_arrivals"] == base["mean_accuracy_all_arrivals"]


def test_a_group_with_updates_follows_its_routing_policy():
    # once, an updating group ignored its routing and reported an offloaded fraction of 0.0
    path = ROOT / "scenarios" / "bandwidth_allocation.yaml"
    local = summarise(path, {"horizon_s": 120})
    off = summarise(path, {"horizon_s": 120,
                           "policies.routing": {"kind": "offload_fraction", "fraction": 0.9, "target": "edge"}})
    assert local["offloaded_fraction"] == 0.0
    assert off["offloaded_fraction"] == pytest.approx(0.9, abs=0.02)
    assert off["bytes_by_purpose"]["inference_input"] > 0 and "inference_input" not in local["bytes_by_purpose"]
    # offloaded inputs are served by the adaptation surface's large model, with its mAP
    assert off["mean_map"] is not None and off["mean_map"] != local["mean_map"]


def test_traffic_totals_count_every_purpose():
    # once, bytes_up was 0 here with the access point 47% busy uploading samples
    s = summarise(ROOT / "scenarios" / "bandwidth_allocation.yaml", {"horizon_s": 120})
    p = s["bytes_by_purpose"]
    assert p["data_upload"] > 0 and p["model_download"] > 0
    assert s["bytes_up"] == p["data_upload"] + p.get("inference_input", 0)
    assert s["bytes_down"] == p["model_download"] + p.get("inference_result", 0)


def test_exit_figures_cover_early_exit_groups_only():
    # the main job mixes whole-model cameras and phones with MEANet devices: its exit fractions
    # and accuracy by exit are those of the MEANet group's rows alone (once, its "main" share
    # pooled the whole-model inferences), and per-group accuracy is reported for each group
    from tests.rows import run_with_rows

    path = ROOT / "scenarios" / "multi_device.yaml"
    over = {"horizon_s": 120, "device_groups.0.count": 30, "device_groups.1.count": 30, "device_groups.2.count": 60}
    sc = validate(apply_overrides(read_yaml(path), over, str(path)), str(path))
    result, rows = run_with_rows(sc, load_traces(sc, path.parent))
    s = metrics.summary(result)
    ee = [i for i, g in enumerate(sc.device_groups) if g.early_exit is not None]
    assert len(ee) == 1 and len(sc.device_groups) > 1
    mine = rows[rows["group"] == ee[0]]
    assert s["groups"][sc.device_groups[ee[0]].name]["family"] == "early_exit"
    for k, name in enumerate(("main", "extension", "cloud")):
        at = mine[mine["exit"] == k]
        assert s["exit_fractions"][name] == pytest.approx(len(at) / len(mine), rel=1e-12)
        assert s["accuracy_by_exit"][name] == pytest.approx(at["correct"].mean(), rel=1e-12)
    assert (rows["exit"] == 0).mean() != pytest.approx(s["exit_fractions"]["main"], abs=0.01)  # pooling differs
    for gi, g in enumerate(sc.device_groups):
        assert s["groups"][g.name]["accuracy"] == pytest.approx(rows[rows["group"] == gi]["correct"].mean(), rel=1e-12)
    assert {"mean_accuracy", "exit_fractions", "latency"} <= set(s["pooled"])


def test_without_early_exit_groups_exit_figures_are_empty():
    s = summarise(DATA / "tiny.yaml")
    assert set(s["exit_fractions"].values()) == {None} and set(s["accuracy_by_exit"].values()) == {None}
