"""The bandwidth study's ordering claim at a small size: the optimiser is at or above
the allocation baselines at every bandwidth, within the 95% interval.

The distributed baseline (every inference served by the adapted edge model) is above
the optimiser in this setting; docs/model_updates.md explains that finding, and the
last test pins it so that a change in it is noticed."""

import json
from pathlib import Path

import pytest
import yaml

from sim import sweeps as sweep_mod

ROOT = Path(__file__).resolve().parents[2]
BASELINES = ("fixed_split", "equal_share", "upload_all", "model_only", "cema")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    spec = yaml.safe_load((ROOT / "scenarios/sweeps/bandwidth_study.yaml").read_text())
    spec["base"] = str(ROOT / "scenarios" / "bandwidth_allocation.yaml")
    spec["replications"] = 2
    spec["overrides"] = {"horizon_s": 240, "device_groups.0.count": 6}
    spec["grid"]["access_points.0.uplink_bps"] = [2.5e5, 1.0e6, 4.0e6]
    spec["grid"]["device_groups.0.updates.samples_per_s"] = [16]
    f = tmp / "study.yaml"
    f.write_text(yaml.safe_dump(spec))
    sw = sweep_mod.load_sweep(f)
    sweep_mod.execute(sw, tmp / "out", workers=2)
    _, agg = sweep_mod.collect(sw, tmp / "out")
    agg["policy"] = agg["param:policies.allocation"].map(lambda s: json.loads(s)["kind"])
    return agg


def test_optimal_at_or_above_every_allocation_baseline(study):
    for bw, g in study.groupby("param:access_points.0.uplink_bps"):
        row = g.set_index("policy")
        opt = row.loc["optimal"]
        for b in BASELINES:
            base = row.loc[b]
            slack = opt["mean_map_all_arrivals:ci95"] + base["mean_map_all_arrivals:ci95"]
            assert opt["mean_map_all_arrivals"] >= base["mean_map_all_arrivals"] - slack, (bw, b, opt["mean_map_all_arrivals"], base["mean_map_all_arrivals"])


def test_distributed_baseline_finding(study):
    for _, g in study.groupby("param:access_points.0.uplink_bps"):
        row = g.set_index("policy")
        assert row.loc["distributed", "mean_map_all_arrivals"] > row.loc["optimal", "mean_map_all_arrivals"]
