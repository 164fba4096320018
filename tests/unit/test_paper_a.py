"""Paper A as the paper states it (issue 16): payloads from architectures, the paper's own
decomposition (``paper_split``), and an optimiser that knows the duplex, the competing
traffic and the edge job's duration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.policies.allocation import AllocationContext, DeviceType, Optimal, PaperSplit
from sim.scenario_io import apply_overrides, read_yaml, validate
from sim.traces import INT8_TENSOR_OVERHEAD, load_adaptation, load_payloads

ROOT = Path(__file__).resolve().parents[2]
PAYLOADS = ROOT / "traces" / "payloads.json"
UPD = ROOT / "scenarios" / "bandwidth_allocation.yaml"
ARCH = {"device_groups.0.updates.architecture": {"trace": "../traces/payloads.json", "model": "resnet18"}}


@pytest.fixture(scope="module")
def payloads():
    return load_payloads(PAYLOADS)


@pytest.fixture(scope="module")
def surface():
    return load_adaptation(ROOT / "traces" / "adaptation_mnist.json")


# ----------------------------------------------------------------------------- payloads

def test_resnet18_payloads_from_its_tensors(payloads):
    r18 = payloads.get("resnet18")
    affine = sum(n for n, r in zip(r18.elements, r18.roles) if r == "norm_affine")
    assert affine == 9_600  # 20 BatchNorm layers: 2 x (64x5 + 128x5 + 256x5 + 512x5)
    assert 4 * affine == 38_400  # 38.4 kB of fp32 affine parameters
    params = sum(n for n, r in zip(r18.elements, r18.roles) if r != "norm_stat")
    assert params == 11_689_512
    full = r18.prefix_bytes(len(r18.elements), 32)
    assert full == pytest.approx(46.8e6, rel=1e-3)
    # int8: one byte per element and a scale and zero point per tensor
    assert r18.prefix_bytes(len(r18.elements), 8) == sum(r18.elements) + INT8_TENSOR_OVERHEAD * len(r18.elements)


def test_the_trace_agrees_with_torch():
    torch = pytest.importorskip("torch")
    from sim.profiling.common import import_torchvision_models

    net = import_torchvision_models().resnet18(weights=None)
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert sum(p.numel() for m in bn for p in m.parameters()) * 4 == 38_400
    trace = json.loads(PAYLOADS.read_text())["architectures"]["resnet18"]
    assert trace["norm_affine_fp32_bytes"] == 38_400
    assert trace["parameters"] == sum(p.numel() for p in net.parameters())


def test_the_surface_students_payload_is_the_measured_one(payloads, surface):
    """The MNIST student of the adaptation surface, computed from its tensors, is the payload
    the surface itself measured (80,584 bytes, normalisation 2,688)."""
    main = payloads.get("meanet_mnist/main")
    units = main.unit_bytes(surface.phis, 32)
    assert units[-1] == surface.setup["payload_bytes"]
    assert units[1] == surface.setup["norm_payload_bytes"]


def test_units_of_the_phi_grid(payloads, surface):
    r18 = payloads.get("resnet18")
    units = r18.unit_bytes(surface.phis, 32)
    assert units[0] == 0
    assert units[1] == 2 * 38_400  # the normalisation unit: affine parameters and running statistics
    assert list(units) == sorted(units) and units[-1] == r18.prefix_bytes(len(r18.elements), 32)
    for p, b in zip(surface.phis[2:-1], units[2:-1]):  # whole tensors within the share phi
        assert b <= p * units[-1]
    assert r18.unit_bytes(surface.phis, 8)[-1] < units[-1] / 3


def test_architecture_and_declared_bytes_exclude_each_other():
    data = apply_overrides(read_yaml(UPD), {**ARCH, "device_groups.0.updates.model_bytes": 1000}, str(UPD))
    with pytest.raises(Exception, match="either model_bytes .declared. or architecture"):
        validate(data, str(UPD))


def test_a_run_downloads_the_architectures_units():
    import sim

    r = sim.run(sim.load(UPD, {"horizon_s": 120, "device_groups.0.count": 4, **ARCH,
                               "policies.allocation": {"kind": "upload_all"}}))
    downloads = r.summary["bytes_by_purpose"]["model_download"]
    assert downloads > 0 and downloads % 76_800 == 0  # ResNet-18's normalisation unit per install
    assert downloads == 76_800 * r.summary["model_installs"]


# ----------------------------------------------------------------------------- the optimiser

def device_type(surface, **kw) -> DeviceType:
    c = "gaussian_noise/3"
    base = dict(count=10, samples_cum=0, max_samples=480, sample_bits=8 * 784, model_bits=8 * 80584 * 20,
                norm_phi=0.0334, pass_fraction=1.0, current_value=surface.value(c, 0, 0, "map"), phis=surface.phis,
                value=lambda d, phi: surface.value(c, d, phi, "map"))
    return DeviceType(**{**base, **kw})


def plan(ctx, policy=None):
    return [(d.bandwidth_bps, d.samples, d.phi, d.chunk_samples) for d in (policy or Optimal()).allocate(ctx)]


def test_optimal_knows_the_duplex(surface):
    """A full-duplex access point whose downlink is 20x its uplink: downloads no longer take
    upload time, so more samples go up than on a half-duplex medium of the uplink's rate."""
    t = [device_type(surface)]
    half = plan(AllocationContext(5e5, 30.0, t))
    full = plan(AllocationContext(5e5, 30.0, t, down_capacity_bps=1e7))
    assert full != half and full[0][1] > half[0][1]


def test_optimal_knows_the_competing_traffic(surface):
    t = [device_type(surface)]
    alone = plan(AllocationContext(5e5, 30.0, t))
    busy = plan(AllocationContext(5e5, 30.0, t, competing_up_bps=2.5e5))
    assert busy != alone and busy[0][1] < alone[0][1] and busy[0][0] == pytest.approx(alone[0][0] / 2)
    # on a full-duplex access point, results coming down do not take upload capacity
    full = plan(AllocationContext(5e5, 30.0, t, down_capacity_bps=5e5, competing_down_bps=2.5e5))
    half = plan(AllocationContext(5e5, 30.0, t, competing_down_bps=2.5e5))
    assert full[0][0] == pytest.approx(alone[0][0]) and half[0][0] == pytest.approx(alone[0][0] / 2)


def test_optimal_knows_the_edge_jobs_duration(surface):
    ctx = lambda job: AllocationContext(1e6, 30.0, [device_type(surface, job_s_per_sample=job)])  # noqa: E731
    quick, slow = plan(ctx(0.0)), plan(ctx(0.1))  # 0.1 s per sample: a 64-sample chunk waits 6.4 s
    assert slow != quick and slow[0][1] < quick[0][1]


def test_paper_split_is_one_split_per_period(surface):
    ctx = AllocationContext(5e5, 30.0, [device_type(surface, model_bits=8 * 80584)])
    (b, samples, phi, chunk), = plan(ctx, PaperSplit())
    assert chunk is None and phi in surface.phis and samples > 0
    # its split maximises the value after the update among all splits of the budget
    t = ctx.types[0]
    best = max(t.value(a / 200 * b * 30 / t.sample_bits, t.deliverable((1 - a / 200) * b * 30 / t.model_bits))
               for a in range(201) if a / 200 * b * 30 / t.sample_bits <= t.max_samples)
    assert t.value(samples, phi) == pytest.approx(best, abs=2e-3)


def test_the_controller_measures_the_competing_traffic(monkeypatch):
    """Inference inputs offloaded over the access point show up in the next decision's context."""
    import sim

    seen = []
    original = Optimal.allocate

    def spy(self, ctx):
        seen.append(ctx)
        return original(self, ctx)

    monkeypatch.setattr(Optimal, "allocate", spy)
    sc = sim.load(UPD, {"horizon_s": 100, "device_groups.0.count": 4,
                        "policies.routing": {"kind": "offload_fraction", "fraction": 1.0, "target": "edge"}})
    sim.run(sc)
    assert seen and seen[0].down_capacity_bps is None  # the scenario's access point is half duplex
    rate = 4 * 1.0 * 784 * 8  # 4 devices x 1 input/s x 784 bytes
    assert seen[-1].competing_up_bps == pytest.approx(rate, rel=0.5)
    assert 0 < seen[-1].competing_down_bps < seen[-1].competing_up_bps


def test_profile_payloads_writes_a_trace_with_provenance(tmp_path):
    pytest.importorskip("torch")
    import subprocess
    import sys

    out = tmp_path / "p.json"
    r = subprocess.run([sys.executable, "-m", "cli", "profile", "payloads", "--models", "meanet_mnist/main,resnet18",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr[-2000:]
    p = load_payloads(out)
    assert set(p.architectures) == {"meanet_mnist/main", "resnet18"}
    assert p.get("resnet18") == load_payloads(PAYLOADS).get("resnet18")  # sizes do not depend on weights
    assert p.provenance["torch"] and p.provenance["command"]
    bad = subprocess.run([sys.executable, "-m", "cli", "profile", "payloads", "--models", "resnet19", "--out",
                          str(out)], cwd=ROOT, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})
    assert bad.returncode == 2 and "unknown architecture 'resnet19'" in bad.stderr


def test_cemas_own_redundancy_margin_passes_almost_nothing_on_ten_classes(surface):
    """Measured on the trace's stream: with 10 classes a prediction's cosine to the running
    average is large, so CEMA's margin of 0.05 keeps under 1% where 0.95 keeps 20-70%."""
    from sim.entities.updates import cema_pass_fraction

    for c in ("gaussian_noise/3", "impulse_noise/4", "pixelate/4"):
        assert cema_pass_fraction(surface, c, 0.05) < 0.01 < 0.15 < cema_pass_fraction(surface, c, 0.95)
    import sim

    runs = {m: sim.run(sim.load(UPD, {"horizon_s": 120, "device_groups.0.count": 4,
                                      "policies.allocation": {"kind": "cema", "redundancy_margin": m}}))
            for m in (0.05, 0.95)}
    up = {m: r.summary["bytes_by_purpose"].get("data_upload", 0) for m, r in runs.items()}
    assert up[0.05] < 0.1 * up[0.95]


# ----------------------------------------------------------------------------- CEMA as CEMA states it

def test_cemas_filter_averages_the_kept_predictions_only():
    """EATA/CEMA: entropy below 0.4 ln C, cosine to the moving average of the *kept*
    predictions below the margin; a dropped sample does not move the average."""
    import numpy as np

    from sim.traces import cema_filter

    a = [0.97] + [0.03 / 9] * 9
    b = [0.03 / 9] * 9 + [0.97]
    flat = [0.1] * 10  # entropy ln 10 > 0.4 ln 10: too uncertain
    kept, avg = cema_filter([a, a, flat, b], [0.2, 0.2, 2.3, 0.2], 10, 0.95)
    assert kept == [True, False, False, True]  # the repeat of a is redundant, the flat one uncertain
    assert np.allclose(avg, 0.9 * np.array(a) + 0.1 * np.array(b))
    # the state carries over: the same stream in two parts keeps the same samples
    k1, s1 = cema_filter([a, a], [0.2, 0.2], 10, 0.95)
    k2, _ = cema_filter([flat, b], [2.3, 0.2], 10, 0.95, s1)
    assert k1 + k2 == kept


def _state(surface, count=4, **kw):
    import simpy

    from sim.entities.updates import UpdateParams, UpdateState

    p = UpdateParams(count, 30.0, 784, 16.0, None, 32, kw.pop("segments", ((0.0, "gaussian_noise/3"),)),
                     kw.pop("switching", None), 4, 3.0, 1, 1.0, **kw)
    env = simpy.Environment()
    return env, UpdateState(env, 0, p, surface, None)


def test_each_device_filters_its_own_stream(surface):
    """The filters run sample by sample over each device's own part of the measured stream,
    their state carried from one period to the next (predictions in the trace)."""
    from sim.traces import cema_filter

    assert surface.predictions("gaussian_noise/3") is not None, "regenerate traces/adaptation_mnist.json"
    _, st = _state(surface)
    first = [st.cema_kept(d, 0.95, 480) for d in range(4)]
    assert len(set(first)) > 1  # devices start at different places of the stream
    second = st.cema_kept(0, 0.95, 480)
    f = surface.filters["gaussian_noise/3"]
    kept, _ = cema_filter([f["predictions"][i % 1024] for i in range(960)],
                          [f["entropy_nats"][i % 1024] for i in range(960)], 10, 0.95)
    assert first[0] + second == sum(kept)  # device 0 starts at the stream's start


def test_the_replay_buffer_is_bounded_and_pooled(surface):
    _, st = _state(surface)
    assert st.replay_add("a", 600, 1000) == 600
    assert st.replay_add("b", 300, 1000) == 300
    assert st.replay_add("a", 300, 1000) == 700  # the oldest 200 of a left
    assert st.replay_total == 1000


def test_the_replay_buffer_size_counts():
    import sim

    runs = {n: sim.run(sim.load(UPD, {"horizon_s": 150, "device_groups.0.count": 4,
                                      "policies.allocation": {"kind": "cema", "replay_samples": n}}))
            for n in (0, 10_000)}
    assert runs[0].summary["mean_map"] != runs[10_000].summary["mean_map"]
    assert runs[0].summary["bytes_by_purpose"] == runs[10_000].summary["bytes_by_purpose"]  # same uploads


def test_filtered_samples_are_valued_by_their_measured_benefit(surface):
    """A version adapted on CEMA's filtered uploads serves with the surface measured on the
    filtered stream (filtered_surface), not the unfiltered one."""
    assert surface.filtered, "regenerate traces/adaptation_mnist.json"
    norm = surface.phis[1]
    c = "gaussian_noise/3"
    axis, rows = surface.filtered[c]
    d = axis[-1]
    assert surface.filtered_value(c, d, norm, "map") == pytest.approx(rows[norm][-1][1])
    differs = [x for x in surface.filtered for d in surface.filtered[x][0][1:]
               if abs(surface.filtered_value(x, d, norm) - surface.value(x, d, norm)) > 1e-9]
    assert differs
    _, st = _state(surface)
    st.install(0, 1, c, d, norm, filtered=True)
    st.install(1, 1, c, d, norm)
    assert st.map[0] == pytest.approx(surface.filtered_value(c, d, norm, "map"))
    assert st.map[1] == pytest.approx(surface.value(c, d, norm, "map"))


# ----------------------------------------------------------------------------- cross-condition, per-device drift

def test_a_model_adapted_to_another_condition_serves_with_its_measured_cross_value(surface):
    assert surface.cross, "regenerate traces/adaptation_mnist.json"
    _, st = _state(surface)
    st.install(0, 1, "impulse_noise/4", 1024, 1.0)
    want = surface.cross_value("impulse_noise/4", "gaussian_noise/3", 1024, 1.0, "map")
    assert st.map[0] == pytest.approx(want)
    assert want != pytest.approx(surface.value("gaussian_noise/3", 0, 0, "map"))  # not counted as unadapted
    # at D = 0 the cross value is the unadapted model's on the target (measured on its first samples)
    assert surface.cross_value("impulse_noise/4", "gaussian_noise/3", 0, 1.0, "map") == pytest.approx(
        surface.cross_value("pixelate/4", "gaussian_noise/3", 0, 0.0, "map"))


def test_shares_of_devices_per_condition(surface):
    _, st = _state(surface, count=10, segments=(), shares=((0.3, "gaussian_noise/3"), (0.7, "pixelate/4")))
    assert st.cond_of == ["gaussian_noise/3"] * 3 + ["pixelate/4"] * 7
    types = st.device_types()
    assert sorted(len(devices) for devices, _ in types) == [3, 7]


def test_each_device_its_own_switching_process(surface):
    import simpy

    from sim.entities.updates import UpdateParams, UpdateState
    from sim.rng import Streams

    env = simpy.Environment()
    p = UpdateParams(8, 30.0, 784, 16.0, None, 32, (), (20.0, ("gaussian_noise/3", "pixelate/4", "impulse_noise/4")),
                     4, 3.0, 1, 1.0, per_device=True)
    st = UpdateState(env, 0, p, surface, Streams(5, 0)["drift"])
    env.run(until=100)
    assert len(set(st.cond_of)) > 1
    assert all(st.map[d] == pytest.approx(surface.value(st.cond_of[d], 0, 0, "map")) for d in range(8))


def test_per_device_drift_settings_are_checked():
    from sim.scenario_io import ScenarioError

    bad = {"device_groups.0.updates.drift": {"shares": [{"corruption": "gaussian_noise", "severity": 3, "share": 0.5},
                                                        {"corruption": "pixelate", "severity": 4, "share": 0.4}]}}
    with pytest.raises(ScenarioError, match="shares must sum to 1"):
        validate(apply_overrides(read_yaml(UPD), bad, str(UPD)), str(UPD))
    ee = ROOT / "scenarios" / "early_exit_drift.yaml"
    per_device = {"device_groups.0.early_exit.drift": {"switching": {"mean_holding_s": 20, "per_device": True,
        "conditions": [{"corruption": "clean", "severity": 0}, {"corruption": "shot_noise", "severity": 4}]}}}
    with pytest.raises(ScenarioError, match="per-device drift"):
        validate(apply_overrides(read_yaml(ee), per_device, str(ee)), str(ee))


def test_profile_adaptation_measures_the_cross_matrix_and_the_filtered_stream(tmp_path):
    pytest.importorskip("torch")
    from sim.profiling.adaptation import profile_adaptation

    out = tmp_path / "a.json"
    profile_adaptation(None, out, train_n=300, epochs=1, teacher_epochs=1, corruptions=("shot_noise", "pixelate"),
                       severities=(4,), d_grid=(0, 32, 64), eval_n=60, curve_n=30, cross_samples=(0, 64),
                       cross_eval_n=30)
    a = load_adaptation(out)
    assert a.cross_samples == (0, 64) and set(a.cross) == {("shot_noise/4", "pixelate/4"), ("pixelate/4", "shot_noise/4")}
    assert set(a.filtered) == {"shot_noise/4", "pixelate/4"}
    assert len(a.predictions("pixelate/4")) == 64 and len(a.predictions("pixelate/4")[0]) == 10
    assert a.setup["cross_eval_samples"] == 30 and a.setup["filtered_margin"] == 0.95


def test_the_distributed_framework_counts_every_arrival():
    """Every input from the first is sent to the edge; on a link that cannot carry them the
    queued ones are unfinished and count as 0 over all arrivals."""
    import sim

    s = sim.run(sim.load(ROOT / "scenarios" / "paper_a_images.yaml", {
        "horizon_s": 120, "access_points.0.uplink_bps": 2e6, "policies.allocation": {"kind": "distributed"}})).summary
    assert s["offloaded_fraction"] == 1.0
    assert s["completed"] + s["failed"] + s["unfinished"] == s["arrivals"] > 0
    assert s["unfinished"] > 0.9 * s["arrivals"] and s["mean_map_all_arrivals"] < 0.1
    assert "model_download" not in s["bytes_by_purpose"]


def test_optimal_uploads_data_for_a_later_update():
    """The surface is not concave in D: a few samples may give a model worse than the one in
    use, more a better one.  When no update this period beats the model in use, the optimiser
    still uploads what the budget carries (no download), and a plan's unused budget after its
    last update uploads samples too: data for the next period's update."""
    from sim.optimize import best_update

    value = lambda d, phi: 0.5 if d < 40 else 0.9  # noqa: E731  (an update on under 40 samples hurts)
    # 40 samples fit, but not with the model after them: no update this period beats 0.7
    u = best_update(value, 0.7, budget_bits=40 * 8000.0, sample_bits=8000.0, model_bits=1000.0, max_samples=100,
                    phis=(0.0, 1.0))
    assert (u.samples, u.phi, u.value) == (40.0, 0.0, 0.7)  # 40 samples up, nothing down
    assert best_update(lambda d, phi: 0.5, 0.7, 40 * 8000.0, 8000.0, 1000.0, 100, (0.0, 1.0)).samples == 0
    u = best_update(value, 0.7, budget_bits=100 * 8000.0, sample_bits=8000.0, model_bits=1000.0, max_samples=100,
                    phis=(0.0, 1.0))
    # one update of 64 samples and the model (513,000 bits); the 287,000 bits left carry 35 samples more
    assert (u.samples, u.phi, u.tail) == (64.0, 1.0, 35.0)
