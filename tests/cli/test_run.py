import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_run_writes_a_complete_results_folder(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--seed", "9", "--out",
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (folder,) = (tmp_path / "tiny").iterdir()
    assert folder.name.endswith("-s9")
    assert sorted(p.name for p in folder.iterdir()) == ["devices.parquet", "manifest.json", "summary.json",
                                                         "timeline.parquet", "traffic.parquet"]
    summary = json.loads((folder / "summary.json").read_text())
    for key in ("devices", "horizon_s", "inferences", "mean_accuracy", "latency_p50_s", "latency_p95_s",
                "latency_p99_s", "bytes_up", "bytes_down", "energy_j", "link_utilisation"):
        assert key in summary
    assert summary["seed"] == 9 and summary["devices"] == 20
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["scenario"]["seed"] == 9 and len(manifest["scenario_sha256"]) == 64
    assert manifest["packages"]["simpy"] and manifest["wall_s"] > 0 and manifest["events"] > 0
    assert manifest["simulator"]["version"] and len(manifest["simulator"]["code_sha256"]) == 16
    assert manifest["command"].startswith("sim run tests/data/tiny.yaml")
    timeline = pd.read_parquet(folder / "timeline.parquet")
    assert len(timeline) == 12 and "link:ap1.up:utilisation" in timeline and "server:edge:queue_length_mean" in timeline
    assert "mean_accuracy" in r.stdout and str(folder) in r.stdout.replace("\n", "")


def test_requests_flag_streams_one_row_per_finished_inference(tmp_path):
    r = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/cross_mode/overloaded_uplink.yaml",
                        "--requests", "--quiet", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (folder,) = (tmp_path / "overloaded_uplink").iterdir()
    assert not [p for p in (tmp_path / "overloaded_uplink").iterdir() if p.name.startswith(".")]  # no partial left
    rows = pd.read_parquet(folder / "requests.parquet")
    s = json.loads((folder / "summary.json").read_text())
    assert len(rows) == s["inferences"] and s["unfinished"] > 0
    assert s["arrivals"] == s["inferences"] + s["unfinished"] + s["failed"]
    assert rows["correct"].mean() == s["mean_accuracy"]
    # bytes count every finished flow (inputs whose result is still on its way too)
    assert s["bytes_up"] == s["bytes_by_purpose"]["inference_input"] >= rows["bytes_up"].sum()
    # the policy's offloaded fraction is over arrivals; most offloaded ones are still queued for the link
    assert (rows["place"] >= 0).mean() < 0.5 * s["offloaded_fraction"]
    assert (rows["done_s"] <= s["horizon_s"]).all() and (rows["done_s"] >= rows["arrival_s"]).all()
    lat = (rows["done_s"] - rows["arrival_s"]).sort_values().to_numpy()
    exact_p95 = lat[int(0.95 * (len(lat) - 1))]
    assert abs(s["latency_p95_s"] / exact_p95 - 1) <= s["latency_quantile_relative_error"]


def test_concurrent_runs_into_one_folder_are_all_kept(tmp_path):
    # once, two runs finishing in the same second collided at the final rename and one was lost
    procs = [subprocess.Popen([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--quiet", "--out",
                               str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    runs = [d for d in (tmp_path / "tiny").iterdir() if not d.name.startswith(".")]
    assert len(runs) == 4 and all((d / "summary.json").exists() for d in runs)
    assert not [d for d in (tmp_path / "tiny").iterdir() if d.name.startswith(".")]
    assert all(d.stat().st_mode & 0o055 for d in runs), "a published run is readable by others (umask allowing)"


def test_publish_takes_the_next_name_and_stale_partials_are_cleaned(tmp_path):
    import os

    from sim.results_io import clean_stale_partials, publish

    final = tmp_path / "run"
    (final).mkdir()
    (final / "summary.json").write_text("{}")
    tmp = tmp_path / ".run.p1.x.partial"
    tmp.mkdir()
    (tmp / "summary.json").write_text("{}")
    assert publish(tmp, final) == tmp_path / "run-2"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".run.p{dead.pid}.y.partial"
    live = tmp_path / f".run.p{os.getppid()}.z.partial"  # this test's parent: alive
    stale.mkdir()
    live.mkdir()
    clean_stale_partials(tmp_path)
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("out", ["/proc/edge-sim-results", "/sys/edge-sim-results", "/dev/null/results"])
def test_an_unwritable_output_path_is_one_line_before_running(out):
    r = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--quiet", "--out", out],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [f"error: --out: cannot write in {out}: " + r.stderr.split(": ")[-1].strip()]


def _tmpfs(path, *opts):
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(opts), "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")


@pytest.mark.parametrize("opts, message", [(("size=48k",), "No space left on device"),
                                           (("size=1m", "ro"), "Read-only file system")])
def test_a_full_or_read_only_disk_is_one_line_and_leaves_nothing(tmp_path, opts, message):
    disk = tmp_path / "disk"
    _tmpfs(disk, *opts)
    try:
        for _ in range(3):  # the first run may fit; a later one cannot
            r = subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--quiet", "--out",
                                str(disk)], cwd=ROOT, capture_output=True, text=True)
            if r.returncode:
                break
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
        assert not [p for p in disk.rglob(".*") if p.name != ".write-check"], "partial files left"
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_killed_run_leaves_only_hidden_partials_that_the_next_run_removes(tmp_path):
    import os
    import signal
    import time

    import yaml

    proc = subprocess.Popen([sys.executable, "-m", "cli", "run", "scenarios/multi_device.yaml", "--quiet", "--out",
                             str(tmp_path), "--requests"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    folder = tmp_path / "multi_device"
    deadline = time.time() + 60
    while time.time() < deadline and not list(folder.glob(".requests.*")):
        time.sleep(0.05)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = list(folder.iterdir())
    assert left and all(p.name.startswith(".") and p.name.endswith(".partial") for p in left), left
    # the next run of the same scenario name (here a small copy of it) removes them
    data = yaml.safe_load((ROOT / "scenarios/multi_device.yaml").read_text().replace("../traces/",
                                                                                     f"{ROOT / 'traces'}/"))
    data["horizon_s"] = 5
    for g in data["device_groups"]:
        g["count"] = 10
    small = tmp_path / "small.yaml"
    small.write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "cli", "run", str(small), "--quiet", "--out", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not [p for p in folder.iterdir() if p.name.startswith(".")], "stale partials were not removed"


def test_version():
    r = subprocess.run([sys.executable, "-m", "cli", "--version"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("edge-sim ")
