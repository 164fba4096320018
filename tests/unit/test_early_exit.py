"""MEANet early-exit routing in the simulator."""

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sim import metrics
from sim.build import load_traces
from sim.policies.routing import EXTENSION, MAIN, OFFLOAD, CloudOnly, Confidence, Meanet
from tests.rows import run_with_rows
from sim.scenario_io import ScenarioError, load_scenario, validate
from sim.traces import load_exits

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "early_exit.yaml"
EXITS = load_exits(ROOT / "traces" / "exits_mnist.parquet")


def simulate(routing=None, horizon_s=120.0, **group_updates):
    sc = load_scenario(SCENARIO)
    group = sc.device_groups[0].model_copy(update=group_updates)
    update = {"horizon_s": horizon_s, "device_groups": [group]}
    if routing is not None:
        update["policies"] = sc.policies.model_copy(update={"routing": routing})
    sc = sc.model_copy(update=update)
    result, inf = run_with_rows(sc, load_traces(sc, SCENARIO.parent))
    result.rows = inf
    return result, metrics.frames(result)[0]


def expected_accuracy(policy, cond):
    """Record-weighted expectation: mean over records of correctness at the chosen exit."""
    ok = []
    for i in range(len(cond)):
        e = policy.decide(cond["main_entropy_nats"][i], cond["main_confidence"][i], cond["main_pred_hard"][i],
                          cond["ext_confidence"][i])
        ok.append((cond["main_correct"], cond["ext_correct"], cond["cloud_correct"])[e][i])
    return float(np.mean(ok))


def test_cloud_only_sends_every_input_to_the_cloud():
    result, s = simulate(CloudOnly())
    assert s["exit_fractions"] == {"main": 0.0, "extension": 0.0, "cloud": 1.0}
    assert s["server_utilisation"]["cloud"] > 0 and s["energy_j_parts"]["compute"] == 0
    inf = result.rows
    assert (inf["place"] == 0).all() and len(inf) == s["inferences"]


@pytest.mark.parametrize("policy", [Meanet(), Meanet(threshold_nats=0.2), Confidence(threshold=0.95), CloudOnly()],
                         ids=lambda p: f"{p.kind}")
def test_exit_fractions_sum_to_one_and_accuracy_matches_the_records(policy):
    _, s = simulate(policy)
    assert sum(s["exit_fractions"].values()) == pytest.approx(1.0)
    n = s["inferences"]
    expected = expected_accuracy(policy, EXITS.condition())
    half = 3.3 * math.sqrt(expected * (1 - expected) / n) + 1e-9  # ~99.9% binomial interval
    assert abs(s["mean_accuracy"] - expected) <= half, (s["mean_accuracy"], expected, half)


def test_energy_accounting_closes():
    result, s = simulate(Meanet())
    parts = s["energy_j_parts"]
    assert s["energy_j"] == pytest.approx(parts["compute"] + parts["radio"] + parts["idle"], rel=1e-12)
    inf = result.rows
    assert parts["compute"] == pytest.approx(inf["compute_energy_j"].sum(), rel=1e-12)
    assert parts["radio"] == pytest.approx(inf["radio_energy_j"].sum(), rel=1e-12)
    # radio energy only for offloaded inputs, compute energy for every input that ran the main block
    assert (inf.loc[inf["exit"] != OFFLOAD, "radio_energy_j"] == 0).all()
    assert (inf["compute_energy_j"] > 0).all()
    assert s["energy_j_per_inference"] == pytest.approx(s["energy_j"] / s["inferences"])


def test_extension_costs_more_than_main_exit():
    result, _ = simulate(Meanet())
    inf = result.rows
    main = inf.loc[inf["exit"] == MAIN, "compute_energy_j"].mean()
    ext = inf.loc[inf["exit"] == EXTENSION, "compute_energy_j"].mean()
    assert ext > main > 0


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 2.5), st.floats(0, 2.5))
def test_higher_entropy_threshold_never_sends_more_to_the_cloud(a, b):
    lo, hi = sorted((a, b))
    for cond in (EXITS.condition(), EXITS.condition("gaussian_noise", 3)):
        def to_cloud(t):
            p = Meanet(threshold_nats=t)
            return sum(p.decide(e, 0, h, 0) == OFFLOAD for e, h in zip(cond["main_entropy_nats"], cond["main_pred_hard"]))
        assert to_cloud(hi) <= to_cloud(lo)


def test_higher_threshold_fewer_cloud_inferences_in_simulation():
    clouds = [simulate(Meanet(threshold_nats=t), horizon_s=60)[1]["exit_fractions"]["cloud"] for t in (0.1, 0.5, 1.5)]
    assert clouds[0] >= clouds[1] >= clouds[2]


def test_drifted_condition_lowers_accuracy():
    from sim.config import Condition
    ee = load_scenario(SCENARIO).device_groups[0].early_exit
    _, clean = simulate(Meanet(), horizon_s=60)
    _, noisy = simulate(Meanet(), horizon_s=60,
                        early_exit=ee.model_copy(update={"condition": Condition(corruption="gaussian_noise", severity=4)}))
    assert noisy["mean_accuracy"] < clean["mean_accuracy"] - 0.1


def test_policy_family_must_match_the_device():
    import yaml
    data = yaml.safe_load(SCENARIO.read_text())
    data["policies"]["routing"] = {"kind": "offload_all", "target": "cloud"}
    with pytest.raises(ScenarioError) as e:
        validate(data, "s.yaml")
    assert "policies.routing" in e.value.problems[0] and "early-exit device" in e.value.problems[0]


def test_unknown_condition_is_a_clear_error(tmp_path):
    import subprocess, sys, yaml
    data = yaml.safe_load(SCENARIO.read_text())
    data["device_groups"][0]["early_exit"]["condition"] = {"corruption": "fog", "severity": 3}
    for k in ("records", "timing"):
        data["device_groups"][0]["early_exit"][k] = str(ROOT / "traces" / Path(data["device_groups"][0]["early_exit"][k]).name)
    data["servers"][0]["compute"]["trace"] = str(ROOT / "traces" / "timings_cpu.json")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "cli", "validate", str(p)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "device_groups[0].early_exit.condition: no records for fog/3" in r.stderr


def test_exits_follow_the_data_as_it_drifts():
    """early_exit_drift.yaml: clean, then Gaussian noise 3 from 100 s, then pixelate 5 from 200 s.
    Each segment's windows show that condition's exit fractions: the same as a fixed-condition
    run of it (same records, same policy), and different between conditions."""
    from pathlib import Path

    from sim import metrics
    from sim.build import load_traces
    from sim.runner import run
    from sim.scenario_io import load_scenario

    root = Path(__file__).resolve().parents[2]
    path = root / "scenarios" / "early_exit_drift.yaml"
    sc = load_scenario(path, {"device_groups.0.count": 100})
    tl = metrics.timeline(run(sc, load_traces(sc, path.parent)))
    seg = lambda a, b: tl[(tl.window_start_s >= a) & (tl.window_end_s <= b)]  # noqa: E731
    frac = [float((seg(a, b).offloaded_fraction * seg(a, b).inferences).sum() / seg(a, b).inferences.sum())
            for a, b in ((10, 100), (110, 200), (210, 300))]
    fixed = []
    for c, s_ in (("clean", 0), ("gaussian_noise", 3), ("pixelate", 5)):
        f = load_scenario(root / "scenarios" / "early_exit.yaml", {
            "device_groups.0.count": 100, "device_groups.0.early_exit.condition": {"corruption": c, "severity": s_}})
        fixed.append(metrics.summary(run(f, load_traces(f, path.parent)))["exit_fractions"]["cloud"])
    assert frac[0] < frac[1] < frac[2]
    for got, want in zip(frac, fixed):
        assert got == pytest.approx(want, abs=0.03)
