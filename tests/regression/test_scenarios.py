"""Every shipped scenario runs at a fixed seed; runs are reproducible; writes are atomic."""

import json
from pathlib import Path

import pandas as pd
import pytest

from sim import metrics, pipeline, results_io
from sim.build import load_traces
from sim.runner import run
from sim.scenario_io import load_scenario
from tests.rows import run_with_rows

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def simulate(path: Path, seed: int | None = None):
    sc = load_scenario(path)
    if seed is not None:
        sc = sc.model_copy(update={"seed": seed})
    result = run(sc, load_traces(sc, path.parent))
    return result, *metrics.frames(result)


# the main job at full size (10,000 devices, an hour) runs in make validate (and is what make run
# runs); make test covers it at reduced size in the golden numbers and the cross-mode suite
FULL_SIZE_ONLY_IN_VALIDATE = {"multi_device"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.validate) if p.stem in FULL_SIZE_ONLY_IN_VALIDATE
                                  else p for p in SCENARIOS], ids=lambda p: p.stem)
def test_shipped_scenario_runs(path):
    result, summary, timeline, devices = simulate(path, seed=12345)
    sc = result.scenario
    assert summary["devices"] == sc.devices == len(devices)
    assert summary["inferences"] > 0 and summary["inferences"] == devices["inferences"].sum()
    assert 0 <= summary["mean_accuracy"] <= 1
    assert summary["latency_p50_s"] <= summary["latency_p95_s"] <= summary["latency_p99_s"]
    assert all(0 <= u <= 1 + 1e-9 for u in summary["link_utilisation"].values())
    assert all(0 <= u <= 1 + 1e-9 for u in summary["server_utilisation"].values())
    assert timeline["window_end_s"].iloc[-1] == pytest.approx(sc.horizon_s)
    assert timeline["inferences"].sum() == summary["inferences"]
    # every purpose's bytes are what its entry links carried for it, and no more than the access
    # links carried in all (flows still in flight at the horizon are in the links' bits only)
    cap, h = result.link_capacity_bps, sc.horizon_s
    for purpose, b in summary["bytes_by_purpose"].items():
        carried = sum(u[purpose] * cap[n] * h for n, u in summary["link_utilisation_by_purpose"].items() if purpose in u)
        assert carried == pytest.approx(8 * b, rel=1e-9)
    access_bits = sum(u * cap[n] * h for n, u in summary["link_utilisation"].items()
                      if n.split(".")[-1] in ("up", "down", "air"))
    assert access_bits >= 8 * (summary["bytes_up"] + summary["bytes_down"]) * (1 - 1e-9)
    assert summary["bytes_up"] + summary["bytes_down"] == sum(summary["bytes_by_purpose"].values())
    assert summary["arrivals"] == summary["completed"] + summary["failed"] + summary["unfinished"]
    for g in summary["groups"].values():
        assert g["arrivals"] == g["completed"] + g["failed"] + g["unfinished"]
    json.dumps(summary, allow_nan=False)


def test_main_scenario_meets_its_brief():
    sc = load_scenario(ROOT / "scenarios" / "multi_device.yaml")
    assert sc.devices >= 1000 and len(sc.device_groups) >= 2 and len(sc.access_points) >= 2
    assert {s.tier for s in sc.servers} == {"edge", "cloud"} and sc.horizon_s >= 600


def test_same_seed_same_results(tmp_path, data_dir):
    outs = []
    for k in range(2):
        r = pipeline.simulate(sc := pipeline.load(data_dir / "tiny.yaml"), pipeline.traces(sc))
        r.started = __import__("datetime").datetime(2026, 1, 1)
        outs.append(r.save(tmp_path / str(k), "tiny.yaml"))
    a, b = outs
    assert (a / "summary.json").read_bytes() == (b / "summary.json").read_bytes()
    for name in ("timeline.parquet", "devices.parquet", "traffic.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(a / name), pd.read_parquet(b / name))
        assert (a / name).read_bytes() == (b / name).read_bytes()
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["scenario_sha256"] and manifest["events"] > 0 and manifest["seed"] == 3


def test_different_seed_different_results(data_dir):
    s1 = simulate(data_dir / "tiny.yaml", seed=1)[1]
    s2 = simulate(data_dir / "tiny.yaml", seed=2)[1]
    assert s1 != s2


def test_changing_routing_leaves_arrivals_unchanged(data_dir):
    """Common random numbers: the routing policy draws from its own stream."""
    sc = load_scenario(data_dir / "tiny.yaml")
    traces = load_traces(sc, data_dir)
    arrivals = []
    for fraction in (0.0, 0.9):
        policy = sc.policies.routing.model_copy(update={"fraction": fraction})
        other = sc.model_copy(update={"policies": sc.policies.model_copy(update={"routing": policy})})
        _, inf = run_with_rows(other, traces)
        arrivals.append(sorted(inf["arrival_s"]))
    # same arrival instants, except those whose inference had not finished by the horizon
    common = set(arrivals[0]) & set(arrivals[1])
    assert len(common) >= 0.99 * max(map(len, arrivals))


def test_interrupted_write_leaves_no_folder(tmp_path, data_dir, monkeypatch):
    r = pipeline.simulate(sc := pipeline.load(data_dir / "tiny.yaml"), pipeline.traces(sc))

    def boom(path, df):
        raise KeyboardInterrupt

    monkeypatch.setattr(results_io, "write_frame", boom)
    with pytest.raises(KeyboardInterrupt):
        r.save(tmp_path, "tiny.yaml")
    assert list((tmp_path / "tiny").iterdir()) == []
