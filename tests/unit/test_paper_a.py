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
    average is large, so CEMA's margin of 0.05 keeps under 1% where 0.95 keeps 30-60%."""
    from sim.entities.updates import cema_pass_fraction

    for c in ("gaussian_noise/3", "impulse_noise/4", "pixelate/4"):
        assert cema_pass_fraction(surface, c, 0.05) < 0.01 < 0.25 < cema_pass_fraction(surface, c, 0.95)
    import sim

    runs = {m: sim.run(sim.load(UPD, {"horizon_s": 120, "device_groups.0.count": 4,
                                      "policies.allocation": {"kind": "cema", "redundancy_margin": m}}))
            for m in (0.05, 0.95)}
    up = {m: r.summary["bytes_by_purpose"].get("data_upload", 0) for m, r in runs.items()}
    assert up[0.05] < 0.1 * up[0.95]
