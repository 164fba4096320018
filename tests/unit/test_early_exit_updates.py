"""Early exits and model updates composed (docs/early_exit.md, "Exits with model updates").

An early-exit group with ``updates`` runs the update loop; the version a device holds
decides which exit records its inputs use: those of the blocks adapted to the current
condition (when the version was adapted to it), else those of the blocks as trained."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import metrics
from sim.build import BuildError, load_traces
from sim.entities.updates import RecordSurface, UpdateState
from sim.scenario_io import ScenarioError, apply_overrides, read_yaml, validate
from sim.traces import load_exits
from tests.rows import run_with_rows

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "early_exit_updates.yaml"
ADAPTED = load_exits(ROOT / "traces" / "exits_mnist_adapted.parquet")
DRIFTED = "gaussian_noise/3"  # the scenario's condition from 100 s


def scenario(overrides: dict | None = None):
    return validate(apply_overrides(read_yaml(SCENARIO), overrides or {}, str(SCENARIO)), str(SCENARIO))


def problems(overrides: dict) -> list[str]:
    with pytest.raises(ScenarioError) as e:
        scenario(overrides)
    return e.value.problems


# ------------------------------------------------------------------ schema

def test_the_shipped_scenario_validates_and_builds():
    sc = scenario()
    g = sc.device_groups[0]
    assert g.early_exit is not None and g.updates is not None and g.updates.drift is None
    load_traces(sc, SCENARIO.parent)


@pytest.mark.parametrize("change, field, fragment", [
    ({"device_groups.0.updates.drift": {"segments": [{"start_s": 0, "corruption": "clean", "severity": 0}]}},
     "device_groups[0].updates.drift", "early_exit.condition or early_exit.drift"),
    ({"device_groups.0.updates.surface": "../traces/adaptation_mnist.json"},
     "device_groups[0].updates.surface", "comes from its exit records"),
    ({"device_groups.0.updates.job.teacher": "mnist_cloud_resnet14"},
     "device_groups[0].updates.job.teacher", "timed from early_exit.timing"),
    ({"device_groups.0.updates.job.trace": "../traces/timings_cpu.json"},
     "device_groups[0].updates.job.trace", "timed from early_exit.timing"),
    ({"policies.allocation": {"kind": "distributed"}}, "policies.allocation", "routes by its exits"),
])
def test_settings_an_early_exit_group_with_updates_cannot_use_are_rejected(change, field, fragment):
    ps = problems(change)
    assert len(ps) == 1 and field in ps[0] and fragment in ps[0], ps


@pytest.mark.parametrize("missing", ["surface", "drift", "job.trace", "job.teacher", "job.student"])
def test_a_whole_model_group_still_needs_its_surface_drift_and_job(missing):
    path = ROOT / "scenarios" / "bandwidth_allocation.yaml"
    data = read_yaml(path)
    block, _, leaf = f"updates.{missing}".rpartition(".")
    node = data["device_groups"][0]
    for k in block.split("."):
        node = node[k]
    del node[leaf]
    with pytest.raises(ScenarioError) as e:
        validate(data, str(path))
    assert len(e.value.problems) == 1
    assert f"device_groups[0].updates.{missing}: required for a whole-model group (compute)" in e.value.problems[0]


def test_records_without_adapted_blocks_are_a_clear_build_error():
    sc = scenario({"device_groups.0.early_exit.records": "../traces/exits_mnist.parquet"})
    with pytest.raises(BuildError) as e:
        load_traces(sc, SCENARIO.parent)
    assert "device_groups[0].early_exit.drift" in str(e.value) and "no records of blocks adapted to clean/0" in str(e.value)


def test_a_fixed_condition_with_updates_needs_adapted_records_of_it():
    sc = scenario({"device_groups.0.early_exit.drift": None,
                   "device_groups.0.early_exit.condition": {"corruption": "fog", "severity": 3}})
    with pytest.raises(BuildError, match=r"early_exit.condition: .*no records for fog/3"):
        load_traces(sc, SCENARIO.parent)


# ------------------------------------------------------------------ the trace

def test_adapted_records_are_of_the_same_inputs_and_reproduce_the_measured_network():
    assert ADAPTED.adaptation["payload_bytes"] > 0
    for key, by_n in ADAPTED.adapted.items():
        base = ADAPTED.conditions[key]
        for n, rec in by_n.items():
            assert np.array_equal(rec["sample_id"], base["sample_id"])
            assert np.array_equal(rec["cloud_correct"], base["cloud_correct"])  # the cloud model is not adapted
            # the records under MEANet routing give the cascaded network's own accuracy and exits
            m = ADAPTED.measured[f"{key}@{n}"]
            thr = ADAPTED.network["entropy_threshold_nats"]
            cloud = rec["main_entropy_nats"] > thr
            ext = ~cloud & rec["main_pred_hard"]
            ok = np.where(cloud, rec["cloud_correct"], np.where(ext, rec["ext_correct"], rec["main_correct"]))
            assert ok.mean() == pytest.approx(m["accuracy"], abs=1.5e-3)
            assert cloud.mean() == pytest.approx(m["exit_fractions"][2], abs=1.5e-3)


def test_adapted_records_without_the_blocks_as_trained_are_rejected(tmp_path):
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from sim.traces import TraceError

    table = pq.read_table(ROOT / "traces" / "exits_mnist_adapted.parquet")
    keep = pc.invert(pc.and_(pc.equal(table["corruption"], "pixelate"), pc.equal(table["adapted_samples"], 0)))
    pq.write_table(table.filter(keep), tmp_path / "e.parquet")
    with pytest.raises(TraceError, match="pixelate/.* has adapted records but none of the blocks as trained"):
        load_exits(tmp_path / "e.parquet")


# ------------------------------------------------------------------ which records a version selects

def test_a_version_selects_the_records_adapted_on_the_largest_measured_count_not_above_it():
    sc = scenario()
    traces = load_traces(sc, SCENARIO.parent)
    from sim.build import build
    from sim.rng import Streams

    model = build(sc, traces, Streams(sc.seed, 0))
    st = model.updates[0]
    surf = st.surface
    assert isinstance(surf, RecordSurface) and surf.phis == (0.0, 1.0)
    grid = surf.grid[DRIFTED]
    lo, hi = grid[0], grid[-1]
    assert surf.key(DRIFTED, 0, 1.0) == DRIFTED  # no samples: the blocks as trained
    assert surf.key(DRIFTED, lo - 1, 1.0) == DRIFTED
    assert surf.key(DRIFTED, lo, 1.0) == f"{DRIFTED}@{lo}"
    assert surf.key(DRIFTED, grid[1] - 1, 1.0) == f"{DRIFTED}@{lo}"
    assert surf.key(DRIFTED, 10 * hi, 1.0) == f"{DRIFTED}@{hi}"
    assert surf.key(DRIFTED, hi, 0.0) == DRIFTED  # nothing delivered
    # a version adapted to another condition: the records of the blocks as trained
    st.condition = DRIFTED
    st.cond_of[0] = DRIFTED  # device 0's condition (the update state keeps one per device)
    st.ver_cond[0], st.ver_samples[0], st.ver_phi[0] = "clean/0", float(hi), 1.0
    st.refresh(0)
    assert st.records[0] == model.groups[0].sampler.sets[DRIFTED]
    st.ver_cond[0] = DRIFTED
    st.refresh(0)
    assert st.records[0] == model.groups[0].sampler.sets[f"{DRIFTED}@{hi}"]
    assert st.acc[0] == surf.value(DRIFTED, hi, 1.0) == model.groups[0].sampler.accuracy(f"{DRIFTED}@{hi}")


@pytest.fixture(scope="module")
def logged_run():
    """The shipped scenario with per-request rows and every install logged."""
    log: list[tuple] = []
    orig = UpdateState.install

    def install(self, d, version, condition, samples, phi, **kw):
        ok = orig(self, d, version, condition, samples, phi, **kw)
        if ok:
            log.append((d, self.env.now, condition, samples))
        return ok

    UpdateState.install = install
    try:
        sc = scenario()
        result, rows = run_with_rows(sc, load_traces(sc, SCENARIO.parent))
    finally:
        UpdateState.install = orig
    return result, rows, log


def _drifted_rows(rows, log):
    """Rows of the drifted segment, split by whether their device had installed a version adapted
    to it (on enough samples to select adapted records) when they arrived; and the N of the
    adapted records those versions select (one install per device in this scenario)."""
    grid = ADAPTED.adapted_grid(DRIFTED)
    first, ns = {}, set()
    for d, t, cond, samples in log:
        if cond == DRIFTED and samples >= grid[0] and d not in first:
            first[d] = t
            ns.add(max(k for k in grid if k <= samples))
    assert len(ns) == 1
    r = rows[rows["arrival_s"] >= 100.0]
    t_inst = r["device"].map(first).fillna(np.inf)
    return r[r["arrival_s"] < t_inst], r[r["arrival_s"] > t_inst], ns.pop()


def test_records_switch_when_an_adapted_version_is_installed(logged_run):
    _, rows, log = logged_run
    before, after, n = _drifted_rows(rows, log)
    assert len(before) > 300 and len(after) > 1000
    # each part's cloud share and accuracy are its records' (binomial 99.9% intervals); the two differ
    base, adapted = ADAPTED.conditions[DRIFTED], ADAPTED.adapted[DRIFTED][n]
    wants = []
    for part, rec in ((before, base), (after, adapted)):
        cloud = rec["main_entropy_nats"] > 0.8
        ext = ~cloud & rec["main_pred_hard"]
        ok = np.where(cloud, rec["cloud_correct"], np.where(ext, rec["ext_correct"], rec["main_correct"]))
        for got, want in (((part["exit"] == 2).mean(), cloud.mean()), ((part["exit"] == 1).mean(), ext.mean()),
                          (part["correct"].mean(), ok.mean())):
            half = 3.3 * np.sqrt(want * (1 - want) / len(part))
            assert abs(got - want) <= half, (got, want, half)
        wants.append((cloud.mean(), ext.mean()))
    # the adapted blocks route differently: under Gaussian noise 3 the blocks as trained send nearly every
    # input to the extension block (a confident hard-class guess), the adapted ones about half
    assert max(abs(a - b) for a, b in zip(*wants)) > 0.1


def test_accuracy_after_install_is_higher_under_the_drifted_condition(logged_run):
    _, rows, log = logged_run
    before, after, _ = _drifted_rows(rows, log)
    assert after["correct"].mean() > before["correct"].mean() + 0.2


def test_every_arrival_is_accounted_and_the_loop_ran(logged_run):
    result, rows, log = logged_run
    s = metrics.summary(result)
    assert s["arrivals"] == s["completed"] + s["failed"] + s["unfinished"]
    assert s["model_installs"] == len(log) > 0
    assert s["bytes_by_purpose"]["data_upload"] > 0 and s["bytes_by_purpose"]["model_download"] > 0
    # an early-exit group reports accuracy, not mAP (its records hold top-1 only)
    assert s["mean_map"] is None and s["mean_map_all_arrivals"] is None
    # each download is the measured normalisation payload of the three blocks
    assert s["bytes_by_purpose"]["model_download"] == ADAPTED.adaptation["payload_bytes"] * len(log)


def test_without_updates_the_exits_stay_those_of_the_blocks_as_trained():
    """The same drift without updates: no installs, and the drifted segment keeps the unadapted
    records' accuracy (what updates improve on)."""
    data = read_yaml(SCENARIO)
    del data["device_groups"][0]["updates"], data["policies"]["allocation"]
    sc = validate(data, str(SCENARIO))
    _, rows = run_with_rows(sc, load_traces(sc, SCENARIO.parent))
    r = rows[rows["arrival_s"] >= 100.0]
    want = ADAPTED.measured[DRIFTED]["accuracy"]
    assert r["correct"].mean() == pytest.approx(want, abs=0.05)
