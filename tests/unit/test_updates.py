"""The model-update loop in the simulator: versions, outages, conservation, policies."""

from pathlib import Path

import numpy as np
import pytest

from sim import metrics
from sim.build import load_traces
from tests.rows import run_with_rows
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "bandwidth_allocation.yaml"


def simulate(overrides: dict, replication: int = 0):
    data = apply_overrides(read_yaml(SCENARIO), overrides, str(SCENARIO))
    sc = validate(data, str(SCENARIO))
    result, inf = run_with_rows(sc, load_traces(sc, SCENARIO.parent), replication=replication)
    return result, metrics.frames(result)[0], inf


@pytest.fixture(scope="module")
def optimal():
    return simulate({"horizon_s": 300})


def test_versions_never_go_backwards(optimal):
    _, s, inf = optimal
    assert s["model_installs"] > 0
    for _, g in inf.sort_values("arrival_s").groupby("device"):
        assert (np.diff(g["version"].to_numpy()) >= 0).all()


def test_every_inference_has_exactly_one_version_and_a_map(optimal):
    _, s, inf = optimal
    assert (inf["version"] >= 0).all() and inf["map"].notna().all()
    assert inf.groupby("version").size().sum() == s["inferences"]
    assert s["mean_map"] == pytest.approx(inf["map"].mean())


def test_bytes_uploaded_equal_bytes_the_edge_received(optimal):
    _, s, _ = optimal
    assert s["bytes_by_purpose"]["data_upload"] == s["edge_received_bytes"] > 0
    assert s["bytes_by_purpose"]["model_download"] > 0


def test_a_download_cut_by_an_outage_keeps_the_old_model():
    # one device; a 400 kB model takes 1.6 s at 2 Mb/s after the first upload at t=30 s
    base = {"horizon_s": 100, "device_groups.0.count": 1, "device_groups.0.updates.model_bytes": 400_000,
            "policies.allocation": {"kind": "model_only"}}
    _, s0, inf0 = simulate(base)
    first_install = inf0.loc[inf0["version"] >= 1, "arrival_s"].min()
    assert 30 < first_install < 35
    _, s1, inf1 = simulate({**base, "access_points.0.outages": [[30.5, 34.0]]})
    # the first period's download was cut: version 0 serves until the second period's update
    assert inf1.loc[(inf1["arrival_s"] > 35) & (inf1["arrival_s"] < 60), "version"].max() == 0
    assert inf1.loc[inf1["arrival_s"] > 65, "version"].min() >= 1
    assert s1["model_installs"] == s0["model_installs"] - 1


def test_drift_change_resets_the_benefit_of_an_update():
    _, _, inf = simulate({"horizon_s": 260})
    before = inf[(inf["arrival_s"] > 150) & (inf["arrival_s"] < 200)]["map"].mean()
    after = inf[(inf["arrival_s"] > 200) & (inf["arrival_s"] < 205)]["map"].mean()  # new condition, old model
    assert after < before


def test_cema_uploads_only_filtered_samples_and_downloads_norm_parameters():
    from sim.entities.updates import cema_pass_fraction
    from sim.traces import load_adaptation

    surface = load_adaptation(ROOT / "traces" / "adaptation_mnist.json")
    frac = cema_pass_fraction(surface, "gaussian_noise/3")
    assert 0 < frac < 1
    _, s, _ = simulate({"horizon_s": 100, "policies.allocation": {"kind": "cema"}})
    # the normalisation parameters are the smallest delivery: phi 0.033357 of the 80,584-byte student,
    # rounded up to 2,689 bytes (the trace measured them as 2,688)
    assert min(p for p in surface.phis if p > 0) == 0.033357 and surface.setup["payload_bytes"] == 80584
    norm_payload = 2689
    assert s["bytes_by_purpose"]["model_download"] > 0
    assert s["bytes_by_purpose"]["model_download"] % norm_payload == 0
    # uploads come in chunks of 32 samples of 784 bytes
    assert s["bytes_by_purpose"]["data_upload"] % (32 * 784) == 0


def test_distributed_never_downloads_and_offloads_every_input():
    _, s, inf = simulate({"horizon_s": 100, "policies.allocation": {"kind": "distributed"}})
    assert "model_download" not in s["bytes_by_purpose"]
    # every input, from the first one (before the first period's decision): served at the edge
    assert (inf["place"] >= 0).all() and len(inf) > 0


def test_unknown_drift_condition_is_a_clear_error():
    from sim.build import BuildError
    data = apply_overrides(read_yaml(SCENARIO), {"device_groups.0.updates.drift.segments.1.corruption": "fog"},
                           str(SCENARIO))
    sc = validate(data, "s.yaml")
    with pytest.raises(BuildError, match=r"device_groups\[0\].updates.drift.segments\[1\]: no adaptation surface for fog/4"):
        load_traces(sc, SCENARIO.parent)


def test_a_quantised_copy_is_a_quarter_of_the_bytes():
    base = {"horizon_s": 100, "device_groups.0.count": 2, "policies.allocation": {"kind": "model_only"}}
    _, full, _ = simulate(base)
    _, q8, _ = simulate({**base, "device_groups.0.updates.payload_bits": 8})
    per_install = lambda s: s["bytes_by_purpose"]["model_download"] / s["model_installs"]  # noqa: E731
    assert per_install(q8) == pytest.approx(per_install(full) / 4, rel=1e-4)
