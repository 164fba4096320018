"""Sweeps: validation before running, executors agree, resumable after SIGKILL, outputs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim import sweeps as sweep_mod
from tests.command import sim

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SWEEP = DATA / "sweep_tiny.yaml"


def per_point(folder: Path) -> pd.DataFrame:
    df = pd.read_parquet(folder / "points.parquet")
    return df.sort_values(["point", "replication"]).reset_index(drop=True)


def test_sweep_outputs_and_confidence_intervals(tmp_path):
    r = sim("sweep", SWEEP, "--out", tmp_path, "--quiet")
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "tiny_sweep"
    pts = per_point(folder)
    assert len(pts) == 6 * 2 and set(pts["replication"]) == {0, 1}
    assert {"param:policies.routing.fraction", "param:device_groups.0.count", "mean_accuracy"} <= set(pts.columns)
    agg = pd.read_parquet(folder / "aggregate.parquet")
    assert len(agg) == 6 and (agg["replications"] == 2).all()
    g = pts[pts["point"] == 0]["mean_accuracy"]
    assert agg.loc[agg["point"] == 0, "mean_accuracy"].item() == pytest.approx(g.mean())
    # replications use independent streams
    assert pts.groupby("point")["inferences"].nunique().max() == 2
    # offloading everything puts every inference on the edge
    full = pts[pts["param:policies.routing.fraction"] == 1.0]
    assert (full["offloaded_fraction"] == 1.0).all()


def test_serial_parallel_and_dask_agree(tmp_path):
    distributed = pytest.importorskip("distributed")
    assert sim("sweep", SWEEP, "--out", tmp_path / "serial", "-q").returncode == 0
    assert sim("sweep", SWEEP, "--out", tmp_path / "pool", "--workers", "2", "-q").returncode == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        r = sim("sweep", SWEEP, "--out", tmp_path / "dask", "--scheduler", cluster.scheduler_address, "-q")
        assert r.returncode == 0, r.stderr
    cols = lambda df: df.drop(columns=[c for c in df.columns if c == "wall_s"])  # noqa: E731
    serial = cols(per_point(tmp_path / "serial" / "tiny_sweep"))
    pd.testing.assert_frame_equal(serial, cols(per_point(tmp_path / "pool" / "tiny_sweep")))
    pd.testing.assert_frame_equal(serial, cols(per_point(tmp_path / "dask" / "tiny_sweep")))


def test_killed_sweep_resumes_with_every_point_exactly_once(tmp_path):
    spec = yaml.safe_load(SWEEP.read_text())
    spec.update(base=str(DATA / "tiny.yaml"), replications=4, overrides={"horizon_s": 200})
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(spec))
    proc = subprocess.Popen([sys.executable, "-m", "cli", "sweep", str(f), "--out", str(tmp_path), "-q"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    points = tmp_path / "tiny_sweep" / "points"
    deadline = time.time() + 120
    while time.time() < deadline and len([p for p in points.glob("p*")]) < 3:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(list(points.glob("p*")))
    assert 0 < done_before < 24, "kill the sweep half-way"
    r = sim("sweep", f, "--out", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    assert f"skipped {done_before} already done" in r.stdout
    pts = per_point(tmp_path / "tiny_sweep")
    assert len(pts) == 24 and not pts.duplicated(["point", "replication"]).any()
    assert sorted(p.name for p in points.iterdir()) == sorted(f"p{i:04d}-r{r}" for i in range(6) for r in range(4))


@pytest.mark.parametrize("change, fragment", [
    ({"grid": {"policies.routing.fractoin": [0.1]}}, "unknown field"),
    ({"grid": {"device_groups.0.count": [0]}}, "device_groups[0].count"),
    ({"grid": {"device_groups.7.count": [3]}}, "no list item '7'"),
    ({"replications": 0}, "replications"),
    ({"colour": "red"}, "colour: unknown field"),
])
def test_bad_sweep_is_one_line_before_anything_runs(tmp_path, change, fragment):
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str(DATA / "tiny.yaml")
    spec.update(change)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(spec))
    r = sim("sweep", f, "--out", tmp_path / "out")
    assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert str(f) in r.stderr
    assert not (tmp_path / "out").exists()


def test_bad_scheduler_address():
    r = sim("sweep", SWEEP, "--scheduler", "localhost:8786")
    assert r.returncode == 2 and "--scheduler" in r.stderr


def test_sweep_file_points_are_validated_with_their_labels():
    sw = sweep_mod.load_sweep(SWEEP)
    assert len(sw.points) == 6 and sw.points[5].params == {"policies.routing.fraction": 1.0, "device_groups.0.count": 10}


def test_an_edited_sweep_never_reuses_stale_results(tmp_path):
    # once: edit the horizon, rerun into the same --out: "ran 0, skipped 12", old numbers, new labels
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str(DATA / "tiny.yaml")
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    assert sim("sweep", f, "--out", out, "--quiet").returncode == 0
    first = per_point(out / "tiny_sweep")
    r = sim("sweep", f, "--out", out, "--quiet")
    assert "ran 0 (0 replacing stale results), skipped 12" in r.stdout
    spec["overrides"]["horizon_s"] = 10
    spec["grid"]["device_groups.0.count"] = [5, 7]  # every point changes: the horizon, and half of them a count
    f.write_text(yaml.safe_dump(spec))
    r = sim("sweep", f, "--out", out, "--quiet")
    assert r.returncode == 0, r.stderr
    assert "ran 12 (12 replacing stale results), skipped 0" in r.stdout
    second = per_point(out / "tiny_sweep")
    assert (second["horizon_s"] == 10).all() and set(second["param:device_groups.0.count"]) == {5, 7}
    assert (second["arrivals"] < first["arrivals"]).all()
    # and a fresh folder gives exactly what the resumed one holds
    fresh = tmp_path / "fresh"
    assert sim("sweep", f, "--out", fresh, "--quiet").returncode == 0
    pd.testing.assert_frame_equal(per_point(fresh / "tiny_sweep"), second)


def test_a_task_folder_of_other_code_is_stale(tmp_path, monkeypatch):
    sw = sweep_mod.load_sweep(SWEEP)
    out = tmp_path / "out"
    point, r = sw.tasks()[0]
    sweep_mod.run_task(point.scenario_json, str(sw.base_dir), r, str(sweep_mod.task_dir(out, point, r)))
    key = sweep_mod.task_key(point.scenario_json, str(sw.base_dir), r)
    assert sweep_mod.task_state(sweep_mod.task_dir(out, point, r), key) == "done"
    from sim import provenance

    monkeypatch.setattr(provenance, "code_version", lambda: "other")
    other = sweep_mod.task_key(point.scenario_json, str(sw.base_dir), r)
    assert sweep_mod.task_state(sweep_mod.task_dir(out, point, r), other) == "stale"


def test_an_empty_grid_list_is_an_error(tmp_path):
    spec = yaml.safe_load(SWEEP.read_text())
    spec["base"] = str(DATA / "tiny.yaml")
    spec["grid"]["device_groups.0.count"] = []
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    r = sim("sweep", f, "--out", tmp_path / "out", "--quiet")
    assert r.returncode == 2 and "grid.device_groups.0.count" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_workers_are_capped_at_the_cpus(tmp_path):
    r = sim("sweep", SWEEP, "--out", tmp_path, "--quiet", "--workers", "10000")
    assert r.returncode == 0, r.stderr
    assert f"capped at the {os.cpu_count()} CPUs" in r.stderr


@pytest.mark.parametrize("change, fragment", [
    ({"grid": {f"seed": list(range(400)), "device_groups.0.count": list(range(1, 401))}}, "160,000 points"),
    ({"replications": 10**9}, "replications"),
    ({"overrides": {"horizon_s": 20, "metrics.window_s": 1e-6}}, "[point 0]: metrics.window_s"),
])
def test_runaway_sweeps_are_refused_before_running(tmp_path, change, fragment):
    spec = {**yaml.safe_load(SWEEP.read_text()), "base": str(DATA / "tiny.yaml"), **change}
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    t = time.time()
    r = sim("sweep", f, "--out", tmp_path / "out", "--quiet")
    assert r.returncode == 2 and fragment in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists() and time.time() - t < 30


def _children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _pooled(tmp_path):
    spec = yaml.safe_load(SWEEP.read_text())
    spec.update(base=str(DATA / "tiny.yaml"), replications=6, overrides={"horizon_s": 400})
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(spec))
    proc = subprocess.Popen([sys.executable, "-m", "cli", "sweep", str(f), "--out", str(tmp_path), "-q",
                             "--workers", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    points = tmp_path / "tiny_sweep" / "points"
    deadline = time.time() + 120
    while time.time() < deadline and (len(list(points.glob("p*"))) < 2 or len(_children(proc.pid)) < 2):
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the pool should be running"
    return f, proc, workers, points


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_ctrl_c_stops_a_pooled_sweep_at_once_and_it_resumes(tmp_path):
    f, proc, workers, points = _pooled(tmp_path)
    t = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.time() - t < 2.5 and proc.returncode == 130
    assert err.strip().splitlines() == [err.strip()] and "interrupted" in err and "Traceback" not in err
    time.sleep(0.3)
    assert not [w for w in workers if _alive(w)], "workers outlived the sweep"
    assert not list(points.glob(".*")), "partial folders left"
    r = sim("sweep", f, "--out", tmp_path, "-q")
    assert r.returncode == 0, r.stderr
    assert len(per_point(tmp_path / "tiny_sweep")) == 36


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_workers_die_with_a_killed_sweep(tmp_path):
    f, proc, workers, points = _pooled(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 5
    while time.time() < deadline and [w for w in workers if _alive(w)]:
        time.sleep(0.05)
    assert not [w for w in workers if _alive(w)], "pool workers outlived their killed parent"


def test_ctrl_c_stops_a_run_with_one_line(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cli", "run", str(ROOT / "scenarios/multi_device.yaml"),
                             "--out", str(tmp_path), "-q", "--requests"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    t = time.time()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.time() - t < 2 and proc.returncode == 130
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err
    assert not any(p.is_file() for p in tmp_path.rglob("*")), "a partial file was left"


def test_an_error_in_the_base_scenario_is_reported_once_against_it(tmp_path):
    base = yaml.safe_load((DATA / "tiny.yaml").read_text())
    base["device_groups"][0]["energy"]["colour"] = "red"
    for name in ("timings.json", "accuracy.json"):
        (tmp_path / name).write_text((DATA / name).read_text())
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    spec = {**yaml.safe_load(SWEEP.read_text()), "base": "base.yaml"}
    f = tmp_path / "sweep.yaml"
    f.write_text(yaml.safe_dump(spec))
    r = sim("sweep", f, "--out", tmp_path / "out", "-q")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'base.yaml'}:17:5: device_groups[0].energy.colour: unknown field"]


def test_sim_validate_checks_a_sweep_file(tmp_path):
    r = sim("validate", SWEEP)
    assert r.returncode == 0 and "ok (6 points x 2 replications)" in r.stdout
    spec = {**yaml.safe_load(SWEEP.read_text()), "base": str(DATA / "tiny.yaml"),
            "grid": {"device_groups.0.count": [5, 0]}}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(spec))
    r = sim("validate", f)
    assert r.returncode == 2 and "[point 1: device_groups.0.count=0]" in r.stderr
