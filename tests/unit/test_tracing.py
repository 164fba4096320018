"""Timeline traces (sim.tracing): each file is read back and checked against the run it traces.

What is checked: the structure a trace viewer needs (named processes and threads, slices
properly nested on each thread once timestamps are read as Perfetto reads them, counters
non-negative and spaced by the resolution); the content against the run (each chosen
device's inferences are its slices, with the arrival and finish times of the run's own
per-request rows; an offloaded inference's steps tile it in order; the model-version
counter steps where the update loop installed; server and link counters integrate to
the run's own busy time, queue length and delivered bits); that tracing changes no
result; that the ``scale`` and ``request`` drivers give the same trace; the cap; the
device selection and its errors.

(No Perfetto reader is used: the ``perfetto`` package's trace processor downloads a
binary at run time, which this project's machines cannot; docs/tracing.md.)
"""

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim import metrics
from sim.build import load_traces
from sim.runner import run
from sim.scenario_io import load_scenario
from sim.tracing import MAX_EVENTS, Tracer, TraceSelectionError, _us, select_devices

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
# model updates with switching drift and phones offloading 90% of their inputs, on one half-duplex AP
HALF = DATA / "cross_mode" / "updates_and_offloads_half_duplex.yaml"
PICK = "cameras:0,cameras:3,phones:2,phones:7"


def traced(path: Path, tmp: Path, overrides=None, devices=PICK, **kw):
    """(run result, tracer, the trace file read back, per-request rows) of one traced run."""
    sc = load_scenario(path, overrides)
    tracer = Tracer(sc, devices, **kw)
    chunks = []
    result = run(sc, load_traces(sc, path.parent), sink=chunks.append, tracer=tracer)
    out = tracer.write(tmp / "trace.json")
    return result, tracer, json.loads(out.read_text()), metrics.requests_frame(chunks)


def ns(us) -> int:
    """A JSON timestamp as Perfetto reads it: microseconds to whole nanoseconds, truncated."""
    return us * 1000 if isinstance(us, int) else int(us * 1000.0)


class Trace:
    """A trace file's events by kind, with names of processes and threads and the slice tree."""

    def __init__(self, doc: dict):
        ev = doc["traceEvents"]
        assert {e["ph"] for e in ev} <= {"M", "X", "C"}
        self.meta = doc["metadata"]
        self.process = {e["args"]["name"]: e["pid"] for e in ev if e["ph"] == "M" and e["name"] == "process_name"}
        self.thread = {(e["pid"], e["tid"]): e["args"]["name"] for e in ev
                       if e["ph"] == "M" and e["name"] == "thread_name"}
        self.slices = [e for e in ev if e["ph"] == "X"]
        self.counters = [e for e in ev if e["ph"] == "C"]
        for e in self.slices:
            assert (e["pid"], e["tid"]) in self.thread, e  # every track is named
            e["a"], e["b"] = ns(e["ts"]), ns(e["ts"]) + ns(e["dur"])
            assert 0 <= e["a"] <= e["b"] <= round(self.meta["horizon_s"] * 1e9), e
        for e in self.counters:
            assert e["pid"] in self.process.values() and e["ts"] >= 0
        self.children = self._nest()

    def _nest(self) -> dict[int, list]:
        """Per thread, in file order, slices must nest (a slice ends by its parent's end);
        returns each slice's children (by id of the parent)."""
        children = defaultdict(list)
        stacks = defaultdict(list)
        for e in self.slices:
            stack = stacks[(e["pid"], e["tid"])]
            while stack and stack[-1]["b"] <= e["a"]:
                stack.pop()
            if stack:
                assert e["b"] <= stack[-1]["b"], (stack[-1], e)  # improperly nested
                children[id(stack[-1])].append(e)
            stack.append(e)
        return children

    def device(self, group: str, d: int) -> list[dict]:
        """The slices of device ``d`` of ``group`` (its on-device track and its offload tracks)."""
        pid = self.process[f"group {group}"]
        tids = {tid for (p, tid), name in self.thread.items() if p == pid and name.startswith(f"{group}[{d}] ")}
        return [e for e in self.slices if e["pid"] == pid and e["tid"] in tids]

    def series(self, process: str, name: str) -> list[tuple[int, float]]:
        pid = self.process[process]
        out = [(ns(e["ts"]), *e["args"].values()) for e in self.counters if e["pid"] == pid and e["name"] == name]
        assert out and all(len(x) == 2 for x in out)
        return out


@pytest.fixture(scope="module")
def half(tmp_path_factory):
    return traced(HALF, tmp_path_factory.mktemp("half"))


def test_each_inference_of_a_chosen_device_is_a_slice_with_the_runs_times(half):
    result, tracer, doc, rows = half
    tr = Trace(doc)
    devices = metrics.devices(result)
    assert tr.meta["devices"] == PICK.split(",") and tr.meta["truncated"] is None
    for spec in PICK.split(","):
        group, d = spec.split(":")
        mine = [e for e in tr.device(group, int(d)) if e["cat"] == "inference"]
        row = devices[(devices.group == group) & (devices.device == int(d))].iloc[0]
        assert len(mine) == row.inferences > 0
        assert sum(e["name"] == "offloaded" for e in mine) == row.offloaded
        # the same inferences: arrival and finish times of the run's per-request rows
        gi = [g.name for g in result.scenario.device_groups].index(group)
        r = rows[(rows.group == gi) & (rows.device == int(d))]
        assert sorted((e["args"]["arrival_s"], e["b"]) for e in mine) == sorted(
            zip(r.arrival_s, (round(x * 1e9) for x in r.done_s)))
    assert sum(devices.offloaded[devices.group == "phones"]) > 0
    assert set(devices.offloaded[devices.group == "cameras"]) == {0}
    # and nothing of the devices not chosen
    pid = tr.process["group phones"]
    assert {name.split(" ")[0] for (p, _), name in tr.thread.items() if p == pid} == {"phones[2]", "phones[7]"}


def test_an_offloaded_inference_is_uplink_queue_service_downlink_in_order(half):
    _, _, doc, _ = half
    tr = Trace(doc)
    parents = [e for e in tr.slices if e["name"] == "offloaded"]
    assert len(parents) > 100
    for p in parents:
        steps = tr.children[id(p)]
        assert [s["name"] for s in steps] == ["uplink", "queue", "service", "downlink"]
        assert steps[0]["a"] == p["a"] and steps[-1]["b"] == p["b"]
        for x, y in zip(steps, steps[1:]):
            assert x["b"] == y["a"]  # each step starts when the one before ends
        assert p["b"] > p["a"] and steps[2]["b"] > steps[2]["a"]  # latency and service take time
    assert any(tr.children[id(p)][1]["b"] > tr.children[id(p)][1]["a"] for p in parents)  # some inputs waited


def test_counters_are_non_negative_bounded_and_spaced_by_the_resolution(half):
    result, tracer, doc, _ = half
    tr = Trace(doc)
    sc = result.scenario
    res_ns = round(tracer.resolution_s * 1e9)
    for e in tr.counters:
        (v,) = e["args"].values()
        assert v >= 0
    for s in sc.servers:
        assert max(v for _, v in tr.series(f"server {s.name}", "busy")) <= s.workers
    cap = result.link_capacity_bps["ap.air"] / 1e6
    assert 0 < max(v for _, v in tr.series("link ap.air", "throughput")) <= cap * (1 + 1e-9)
    for e in tr.counters:
        if e["name"] in ("flows", "queue", "busy"):
            assert isinstance(next(iter(e["args"].values())), int)
    # at most one kept value per window of the resolution: any two samples but one apart are further apart
    horizon_ns = round(sc.horizon_s * 1e9)
    for process, name in [("link ap.air", "flows"), ("link ap.air", "throughput"), ("server edge", "busy")]:
        ts = [t for t, _ in tr.series(process, name)]
        assert 100 < len(ts) <= horizon_ns / res_ns + 2
        assert all(c - a > res_ns - 1 for a, c in zip(ts, ts[2:]))


def test_counters_integrate_to_the_runs_busy_time_queue_and_bits(tmp_path):
    """With every change kept (resolution 0) the counters are the run's own state: their time
    integrals are the server utilisation, mean queue length and link bits the run reports."""
    result, _, doc, _ = traced(HALF, tmp_path, {"horizon_s": 60}, counter_resolution_s=0.0)
    tr = Trace(doc)
    summary, timeline, _ = metrics.frames(result)
    horizon_ns = round(60 * 1e9)

    def integral(series) -> float:
        t = [a for a, _ in series] + [horizon_ns]
        return sum(v * (b - a) for (a, v), b in zip(series, t[1:])) / 1e9

    busy = integral(tr.series("server edge", "busy"))
    assert busy / (2 * 60) == pytest.approx(summary["server_utilisation"]["edge"], rel=1e-6)
    queue = integral(tr.series("server edge", "queue"))
    windows = timeline["server:edge:queue_length_mean"]
    assert queue / 60 == pytest.approx(windows.mean(), rel=1e-6)
    bits = integral(tr.series("link ap.air", "throughput")) * 1e6
    assert bits / (result.link_capacity_bps["ap.air"] * 60) == pytest.approx(
        summary["link_utilisation"]["ap.air"], rel=1e-6)


def test_the_model_version_counter_steps_where_the_update_loop_installs(half):
    result, _, doc, rows = half
    tr = Trace(doc)
    for d in (0, 3):
        versions = tr.series("group cameras", f"device {d}")
        assert versions[0] == (0, 0) and len(versions) >= 3
        assert all(b[1] > a[1] and b[0] > a[0] for a, b in zip(versions, versions[1:]))  # never backwards
        # each on-device inference held the version the counter shows at its arrival, installed when it says
        r = rows[(rows.group == 0) & (rows.device == d)]
        assert len(r) > 50
        for arrival, version, staleness in zip(r.arrival_s, r.version, r.staleness_s):
            k = max(i for i, (t, _) in enumerate(versions) if t <= round(arrival * 1e9))
            assert versions[k][1] == version
            assert versions[k][0] == pytest.approx((arrival - staleness) * 1e9, abs=1e3)


def test_the_drift_condition_tiles_the_run(half):
    result, _, doc, _ = half
    tr = Trace(doc)
    segs = sorted((e for e in tr.slices if e["cat"] == "condition"), key=lambda e: e["a"])
    keys = {c.key for c in result.scenario.device_groups[0].updates.drift.switching.conditions}
    assert len(segs) >= 3 and {e["name"] for e in segs} <= keys
    assert segs[0]["a"] == 0 and segs[-1]["b"] == round(result.scenario.horizon_s * 1e9)
    assert all(a["b"] == b["a"] and a["name"] != b["name"] for a, b in zip(segs, segs[1:]))
    assert "group phones" not in {tr.thread.get((e["pid"], e["tid"])) for e in segs}  # phones do not drift


def test_tracing_changes_no_result(half):
    result, _, _, _ = half
    sc = result.scenario
    plain = run(sc, load_traces(sc, HALF.parent))
    a, b = metrics.frames(result), metrics.frames(plain)
    assert a[0] == b[0]
    assert a[1].equals(b[1]) and a[2].equals(b[2])
    assert result.events == plain.events


@pytest.mark.parametrize("path,overrides,devices", [
    (HALF, {"horizon_s": 120}, PICK),
    (DATA / "cross_mode" / "distributed_with_outage.yaml", {}, "2"),  # switches to offloading; outage cuts flows
    (ROOT / "scenarios" / "early_exit_drift.yaml", {"device_groups.0.count": 40, "horizon_s": 120},
     "sensors:1,sensors:5"),
], ids=["updates_and_offloads", "distributed_with_outage", "early_exits_under_drift"])
def test_scale_and_request_drivers_give_the_same_trace(tmp_path, path, overrides, devices):
    docs = []
    for mode in ("scale", "request"):
        (tmp_path / mode).mkdir()
        _, _, doc, _ = traced(path, tmp_path / mode, {**overrides, "fidelity.mode": mode}, devices)
        Trace(doc)
        docs.append(sorted(json.dumps(e, sort_keys=True) for e in doc["traceEvents"]))
    assert len(docs[0]) > 100
    assert docs[0] == docs[1]


def test_failed_offloads_and_early_exit_main_blocks(tmp_path):
    # every phone traced: the trace's failed offloads are the run's failed inferences
    result, _, doc, _ = traced(HALF, tmp_path, {"horizon_s": 150, "access_points.0.outages": [[100, 110]]},
                               ",".join(f"phones:{d}" for d in range(60)))
    tr = Trace(doc)
    failed = [e for e in tr.slices if e["cat"] == "failed"]
    assert len(failed) == metrics.frames(result)[0]["failed"] > 0
    cuts = [e for e in tr.slices if e["name"].endswith("(cut)")]  # each failed offload's last step
    assert len(cuts) == len(failed) and all(100e9 <= e["b"] <= 110e9 for e in cuts)
    in_flight = [e for e in cuts if e["a"] < 100 * 10**9]
    assert "uplink (cut)" in {e["name"] for e in in_flight} <= {"uplink (cut)", "downlink (cut)"}
    assert {e["b"] for e in in_flight} == {100 * 10**9}  # cut when the outage began
    # a flow started during the outage is cut when its first byte would leave: after its handshake
    # (the tcp transport: one round trip of its path, 2 x 7 ms here)
    during = [e for e in cuts if e["a"] >= 100 * 10**9]
    assert during and {round((e["b"] - e["a"]) / 1e6, 6) for e in during} == {14.0}

    _, _, doc, _ = traced(ROOT / "scenarios" / "early_exit.yaml", tmp_path,
                          {"device_groups.0.count": 20, "horizon_s": 120}, "sensors:0,sensors:1")
    tr = Trace(doc)
    for d in (0, 1):
        mine = tr.device("sensors", d)
        blocks = {e["b"] for e in mine if e["name"] == "main block, then offloaded"}
        leaves = {e["a"] for e in mine if e["name"] == "offloaded"}
        assert leaves and leaves <= blocks  # an input leaves when its main block is done


def test_the_cap_stops_recording_and_says_so(tmp_path):
    _, tracer, doc, _ = traced(HALF, tmp_path, {"horizon_s": 60}, max_events=500)
    assert tracer.truncated and tracer.events <= 500
    note = doc["metadata"]["truncated"]
    assert "500" in note and "--trace-max-events" in note and "--trace-devices" in note
    Trace(doc)  # still a well-formed trace
    assert len([e for e in doc["traceEvents"] if e["ph"] != "M"]) <= 500 + 40  # closing condition slices
    assert MAX_EVENTS >= 1_000_000


def test_timestamps_read_back_to_the_nanosecond():
    rng = np.random.default_rng(0)
    for n in [1, 999, 1001, 123_456_789, *rng.integers(0, 10**15, 20_000).tolist()]:
        x = _us(n)
        assert (x * 1000 if isinstance(x, int) else int(x * 1000.0)) == n
        assert json.loads(json.dumps(x)) == x


def test_device_selection():
    sc = load_scenario(HALF)  # cameras: 10 devices, phones: 60
    assert select_devices(sc, "3") == {0: [0, 1, 2]}
    assert select_devices(sc, 12) == {0: list(range(10)), 1: [0, 1]}
    assert select_devices(sc, "phones:5, cameras:9,phones:1,phones:5") == {0: [9], 1: [1, 5]}
    for bad, says in [("0", "at least 1"), ("-2", "at least 1"), ("71", "the scenario has 70"),
                      ("lots", "found 'lots'"), ("", "found nothing"), ("drones:1", "unknown group 'drones'"),
                      ("cameras:10", "out of range"), ("cameras:-1", "out of range"), ("cameras:x", "whole number"),
                      (":3", "expected group:index")]:
        with pytest.raises(TraceSelectionError) as e:
            select_devices(sc, bad)
        assert str(e.value).startswith("--trace-devices: ") and says in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(TraceSelectionError, match="^trace_devices: "):
        Tracer(sc, "cameras:99", flag="trace_devices")


def test_the_command_line_writes_the_trace_and_rejects_a_bad_selection(tmp_path):
    def sim_run(*args):
        return subprocess.run([sys.executable, "-m", "cli", "run", "tests/data/tiny.yaml", "--quiet", *args],
                              cwd=ROOT, capture_output=True, text=True)

    r = sim_run("--out", str(tmp_path / "out"), "--trace", str(tmp_path / "t.json"), "--trace-devices", "cams:0,cams:3")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    tr = Trace(json.loads((tmp_path / "t.json").read_text()))
    assert tr.meta["devices"] == ["cams:0", "cams:3"] and tr.meta["scenario"] == "tiny" and tr.meta["seed"] == 3
    (folder,) = (tmp_path / "out" / "tiny").iterdir()
    devices = pd.read_parquet(folder / "devices.parquet")
    for d in (0, 3):
        assert len([e for e in tr.device("cams", d) if e["cat"] == "inference"]) == devices.inferences[d] > 0
    for bad in ("cams:20", "0"):
        r = sim_run("--out", str(tmp_path / "bad"), "--trace", str(tmp_path / "bad.json"), "--trace-devices", bad)
        assert r.returncode == 2 and r.stderr.startswith("error: --trace-devices: ") and r.stderr.count("\n") == 1
        assert not (tmp_path / "bad").exists() and not (tmp_path / "bad.json").exists()  # nothing written
    r = sim_run("--out", str(tmp_path / "out"), "--trace-devices", "2")
    assert r.returncode == 2 and r.stderr == "error: --trace-devices: only with --trace FILE\n"
    r = sim_run("--out", str(tmp_path / "out"), "--trace", str(tmp_path / "cut.json"), "--trace-max-events", "100")
    assert r.returncode == 0 and r.stderr.startswith("warning: trace truncated") and r.stderr.count("\n") == 1
    assert json.loads((tmp_path / "cut.json").read_text())["metadata"]["truncated"] in r.stderr


def test_the_python_api_writes_the_trace(tmp_path):
    import sim

    r = sim.run(DATA / "tiny.yaml", trace=tmp_path / "t.json", trace_devices="cams:1")
    tr = Trace(json.loads((tmp_path / "t.json").read_text()))
    assert len([e for e in tr.device("cams", 1) if e["cat"] == "inference"]) == r.devices.inferences[1]
    with pytest.raises(sim.api.TraceSelectionError, match="^trace_devices: unknown group"):
        sim.run(DATA / "tiny.yaml", trace=tmp_path / "u.json", trace_devices="phones:1")
    assert not (tmp_path / "u.json").exists()
    with pytest.warns(UserWarning, match="trace truncated"):
        sim.run(DATA / "tiny.yaml", trace=tmp_path / "v.json", trace_max_events=100)
