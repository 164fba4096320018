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
from sim.errors import TraceError
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
    Each segment's windows show that condition's exit fractions and accuracy: the same as a
    fixed-condition run of it (same records, same policy), and different between conditions."""
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

    def share(col, a, b):
        w = seg(a, b)
        return float((w[col] * w.inferences).sum() / w.inferences.sum())
    spans = ((10, 100), (110, 200), (210, 300))
    got = {col: [share(col, a, b) for a, b in spans] for col in ("offloaded_fraction", "extension_fraction", "accuracy")}
    fixed = []
    for c, s_ in (("clean", 0), ("gaussian_noise", 3), ("pixelate", 5)):
        f = load_scenario(root / "scenarios" / "early_exit.yaml", {
            "device_groups.0.count": 100, "device_groups.0.early_exit.condition": {"corruption": c, "severity": s_}})
        fixed.append(metrics.summary(run(f, load_traces(f, path.parent))))
    for k, want in enumerate(fixed):
        assert got["offloaded_fraction"][k] == pytest.approx(want["exit_fractions"]["cloud"], abs=0.03)
        assert got["extension_fraction"][k] == pytest.approx(want["exit_fractions"]["extension"], abs=0.03)
        assert got["accuracy"][k] == pytest.approx(want["mean_accuracy"], abs=0.03)
    # the conditions differ: clean is accurate, the two corruptions are not, and they differ from each other
    acc, ext = got["accuracy"], got["extension_fraction"]
    assert acc[0] > max(acc[1], acc[2]) + 0.5 and abs(ext[1] - ext[2]) > 0.05 and abs(ext[0] - ext[1]) > 0.3


# ---------------------------------------------------------------- MEANet as published (issue 16)

def test_block_macs_match_the_published_counts():
    """The CIFAR ResNet-32 variant's blocks have MEANet's published MAC counts; the trained
    MNIST variant's adaptive and extension blocks have the published ratios to its main block
    (counted by the forward-hook counter of `sim profile timings`)."""
    import torch

    from sim.profiling import meanet
    from sim.profiling.timings import count_macs, segments

    def macs(model):
        return {name: count_macs(torch, m, *inputs(1)) for name, m, inputs in segments(torch, model)}

    cifar, mnist = macs("meanet_cifar_resnet32"), macs("meanet_mnist")
    for seg, published in meanet.PUBLISHED_MACS.items():
        assert cifar[seg] == pytest.approx(published, rel=0.03), (seg, cifar[seg])
        ratio = published / meanet.PUBLISHED_MACS["main"]
        assert mnist[seg] / mnist["main"] == pytest.approx(ratio, rel=0.03), (seg, mnist)


def test_threshold_fraction_is_a_share_of_ln_c():
    from pydantic import ValidationError

    p = Meanet(threshold_fraction=0.35)
    assert p.for_classes(10).threshold_nats == pytest.approx(0.35 * math.log(10))
    assert Meanet(threshold_nats=0.5).for_classes(10).threshold_nats == 0.5
    with pytest.raises(ValidationError, match="either threshold_nats or threshold_fraction"):
        Meanet(threshold_nats=0.8, threshold_fraction=0.3)
    with pytest.raises(RuntimeError):  # unresolved: the simulator resolves it with the records' C
        p.decide(0.1, 0.9, False, 0.9)


def test_threshold_fraction_counts_and_equals_its_nats():
    frac = 0.2
    _, by_fraction = simulate(Meanet(threshold_fraction=frac), horizon_s=60)
    _, by_nats = simulate(Meanet(threshold_nats=frac * math.log(EXITS.classes)), horizon_s=60)
    _, other = simulate(Meanet(threshold_fraction=0.6), horizon_s=60)
    assert by_fraction["exit_fractions"] == by_nats["exit_fractions"]
    assert by_fraction["mean_accuracy"] == by_nats["mean_accuracy"]
    assert other["exit_fractions"]["cloud"] < by_fraction["exit_fractions"]["cloud"]


PRECISIONS = ("int8", "int4", "binary")


def test_shipped_records_have_every_precision_for_every_condition():
    assert set(EXITS.low_precision) == set(PRECISIONS)
    for p in PRECISIONS:
        assert set(EXITS.low_precision[p]) == set(EXITS.conditions)
        q, f = EXITS.condition("clean", 0, p), EXITS.condition()
        # the same inputs, hard classes and cloud model; the network measured at that precision too
        assert (q["sample_id"] == f["sample_id"]).all() and (q["cloud_pred"] == f["cloud_pred"]).all()
        assert (q["main_pred_hard"] == np.isin(q["main_pred"], EXITS.network["hard_classes"])).all()
        assert all(f"{key}#{p}" in EXITS.measured for key in EXITS.conditions)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_selects_its_records_and_its_energy_per_mac(precision):
    from sim.entities.energy import mac_energy_ratio

    ee = load_scenario(SCENARIO).device_groups[0].early_exit
    fp32, s32 = simulate(Meanet(), horizon_s=60)
    low, s = simulate(Meanet(), horizon_s=60, early_exit=ee.model_copy(update={"precision": precision}))
    expected = expected_accuracy(Meanet(), EXITS.condition("clean", 0, precision))
    half = 3.3 * math.sqrt(expected * (1 - expected) / s["inferences"]) + 1e-9
    assert abs(s["mean_accuracy"] - expected) <= half, (s["mean_accuracy"], expected)
    # a main-block exit costs the main block's MACs x the precision's energy per MAC, but for the MACs of the
    # layers the block keeps in floating point (binary: the first convolution and the classifier), at fp32
    e32 = fp32.rows.loc[fp32.rows["exit"] == MAIN, "compute_energy_j"].iloc[0]
    e = low.rows.loc[low.rows["exit"] == MAIN, "compute_energy_j"].iloc[0]
    r, main_macs = mac_energy_ratio(precision), 2_364_864  # meanet_mnist's main block (the timing trace)
    floats = EXITS.float_macs.get(precision, (0.0, 0.0, 0.0))[0]
    assert e / e32 == pytest.approx(((main_macs - floats) * r + floats) / main_macs, rel=1e-9)
    assert (floats > 0) == (precision == "binary")
    assert mac_energy_ratio(precision) < 0.1  # declared: int8 0.23, int4 0.065, binary 0.021 pJ vs fp32 4.6 pJ


def test_binary_blocks_carry_the_macs_of_their_float_layers(tmp_path):
    import json

    import pyarrow.parquet as pq

    # per input: the first convolutions see the 28 x 28 image, 1 -> 8 channels, 3 x 3: 28 x 28 x 8 x 9 = 56,448
    # MACs in the main and the adaptive block; the classifiers: 32 features -> 10 classes (320) in the main
    # block, 28 -> the 5 hard classes (140) in the extension block
    assert EXITS.float_macs["binary"] == (56_448 + 320, 56_448, 140)
    assert set(EXITS.float_macs) == {"binary"}  # int8 and int4 quantise every layer
    # a trace that keeps layers in floating point without saying their MACs is refused, naming the field
    table = pq.read_table(ROOT / "traces" / "exits_mnist.parquet")
    meta = json.loads(table.schema.metadata[b"sim"])
    del meta["precisions"]["measured"]["binary"]["float_macs"]
    bad = tmp_path / "bad.parquet"
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"sim": json.dumps(meta).encode()}), bad)
    with pytest.raises(TraceError, match=r"precisions\.measured\.binary\.float_macs"):
        load_exits(bad)


def test_precision_errors(tmp_path):
    import subprocess, sys, yaml
    data = yaml.safe_load(SCENARIO.read_text())
    data["device_groups"][0]["early_exit"]["precision"] = "int4"
    data["device_groups"][0]["early_exit"]["records"] = str(ROOT / "traces" / "exits_mnist_adapted.parquet")
    data["device_groups"][0]["early_exit"]["timing"] = str(ROOT / "traces" / "timings_meanet_cpu.json")
    data["servers"][0]["compute"]["trace"] = str(ROOT / "traces" / "timings_cpu.json")
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(data))
    r = subprocess.run([sys.executable, "-m", "cli", "validate", str(p)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "device_groups[0].early_exit.precision:" in r.stderr and "no records of the " \
        "device blocks at int4" in r.stderr and "Traceback" not in r.stderr, r.stderr
    data = yaml.safe_load((ROOT / "scenarios" / "early_exit_updates.yaml").read_text())
    data["device_groups"][0]["early_exit"]["precision"] = "int8"
    with pytest.raises(ScenarioError) as e:
        validate(data, "s.yaml")
    assert any("early_exit.precision" in m and "fp32 only" in m for m in e.value.problems)


def test_quantised_layers_take_only_the_values_of_their_precision():
    import torch

    from sim.profiling import quantise

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 26 * 26, 3))
    x = torch.randn(64, 1, 28, 28)
    for precision, levels in (("int8", 255), ("int4", 15), ("binary", 2)):
        (q,) = quantise.quantised([net], precision, lambda blocks: blocks[0](x))
        conv = q[0]
        w = quantise.quantise_weight(conv.layer.weight, conv.bits)
        for row in w.detach().reshape(4, -1):
            assert len(torch.unique(row)) <= levels
        a = q[3].quantise_input(torch.relu(q[0](x)).flatten(1)).detach()
        assert len(torch.unique(a)) <= (2 if precision == "binary" else 2 ** quantise.BITS[precision])
        if precision == "int8":  # close to fp32
            with torch.no_grad():
                assert torch.allclose(q(x), net(x), atol=0.05 * float(net(x).abs().max()))


def test_binary_weights_scaling_gradient_and_float_layers():
    """Binary: sign(w) x mean |w| per output channel (XNOR-Net); the straight-through gradient
    passes where |w| <= 1 only; the first and last layers of the MEANet blocks stay in float."""
    import torch

    from sim.profiling import meanet, quantise
    from sim.profiling.exits import binary_float_layers

    w = torch.tensor([[0.5, -0.25, 2.0], [-0.1, 0.3, -0.2]], requires_grad=True)
    q = quantise.quantise_weight(w, 1)
    alpha = w.detach().abs().mean(1, keepdim=True)
    assert torch.equal(q.detach(), torch.where(w.detach() >= 0, 1.0, -1.0) * alpha)
    q.sum().backward()  # d/dw of sign(w) x alpha: the clipped identity x alpha, plus alpha's own gradient
    expected = (w.detach().abs() <= 1) * alpha + torch.where(w.detach() >= 0, 1.0, -1.0).sum(1, keepdim=True) \
        * torch.sign(w.detach()) / 3
    assert torch.allclose(w.grad, expected)
    main, adapt, ext, shape = meanet.variant("meanet_mnist")
    keep = binary_float_layers(main, adapt, ext)
    assert keep == [{"stem.0", "fc"}, {"0"}, {"fc"}]
    x = torch.randn(8, *shape)
    copies = quantise.quantised([main, adapt, ext], "binary", lambda b: b[2](b[0].features(x), b[1](x)), keep)
    for block, names in zip(copies, keep):
        wrapped = {n for n, m in block.named_modules() if isinstance(m, quantise.QuantLayer)}
        assert names.isdisjoint(wrapped) and wrapped
        assert all(isinstance(block.get_submodule(n), (torch.nn.Conv2d, torch.nn.Linear)) for n in names)
    assert sum(map(quantise.count_layers, copies)) == sum(len(quantise.layer_names(b)) for b in (main, adapt, ext)) - 4


def test_low_precision_records_reproduce_the_low_precision_networks_measurements():
    """As for fp32 (tests/unit/test_traces_profiles.py): the routed accuracy and exit shares
    computed from the records equal those of the cascaded low-precision network."""
    thr = EXITS.network["entropy_threshold_nats"]
    for p in PRECISIONS:
        for key, cond in EXITS.low_precision[p].items():
            to_cloud = cond["main_entropy_nats"] > thr
            to_ext = ~to_cloud & cond["main_pred_hard"]
            exits = np.where(to_cloud, OFFLOAD, np.where(to_ext, EXTENSION, MAIN))
            correct = np.choose(exits, [cond["main_correct"], cond["ext_correct"], cond["cloud_correct"]])
            m = EXITS.measured[f"{key}#{p}"]
            assert [float((exits == k).mean()) for k in range(3)] == pytest.approx(m["exit_fractions"], abs=1e-12), key
            assert float(correct.mean()) == pytest.approx(m["accuracy"], abs=1e-12), (p, key)


def test_profile_exits_with_precisions_and_a_saved_network(tmp_path):
    """`sim profile exits --precisions` writes records per precision beside the fp32 ones (int4 and
    binary fine-tuned); a network saved by one run is reused by another (same training settings),
    which then trains no fp32 block, and still makes the low-precision copies it is asked for."""
    import json, subprocess, sys

    import pyarrow.parquet as pq

    from sim.profiling.exits import FINE_TUNE_LR

    def profile(*args):
        r = subprocess.run([sys.executable, "-m", "cli", "profile", "exits", "--train-samples", "600", "--val-samples",
                            "200", "--epochs", "2", "--cloud-epochs", "1", "--fine-tune-epochs", "1", "--corruptions",
                            "gaussian_noise", "--severities", "3", *map(str, args)], cwd=ROOT, capture_output=True,
                           text=True)
        return r
    net = tmp_path / "net.pt"
    r = profile("--test-samples", "40", "--precisions", "int4,binary", "--save-network", net, "--out", tmp_path / "a.parquet")
    assert r.returncode == 0, r.stderr
    a = load_exits(tmp_path / "a.parquet")
    assert set(a.low_precision) == {"int4", "binary"} and len(a.condition("gaussian_noise", 3, "binary")) == 40
    assert a.network["training"]["main"]["epochs_run"] <= 2 and a.network["max_epochs"] == 2
    lp = pq.read_schema(tmp_path / "a.parquet").metadata[b"sim"]
    measured = json.loads(lp)["precisions"]["measured"]
    assert a.float_macs == {"binary": (56_768.0, 56_448.0, 140.0)}  # hand-computed in the test above
    for p in ("int4", "binary"):
        assert measured[p]["fine_tuning"]["main"]["epochs_run"] == 1, p
        assert measured[p]["fine_tuning"]["learning_rate"] == FINE_TUNE_LR[p]
        assert 0 <= measured[p]["main_held_out_accuracy_norms_recomputed"] <= 1
    r = profile("--test-samples", "30", "--load-network", net, "--out", tmp_path / "b.parquet")
    assert r.returncode == 0 and "held-out accuracy" not in r.stderr, r.stderr
    b = load_exits(tmp_path / "b.parquet")
    assert b.network["hard_classes"] == a.network["hard_classes"] and not b.low_precision
    r = profile("--test-samples", "40", "--load-network", net, "--precisions", "int4", "--out", tmp_path / "e.parquet")
    assert r.returncode == 0 and "main block epoch" not in r.stderr and "int4 main block" in r.stderr, r.stderr
    e = load_exits(tmp_path / "e.parquet")
    assert set(e.low_precision) == {"int4"}
    assert e.measured["clean/0#int4"] == a.measured["clean/0#int4"]  # the same copy, fine-tuned the same way
    r = profile("--train-samples", "700", "--load-network", net, "--out", tmp_path / "c.parquet")
    assert r.returncode == 2 and "--load-network:" in r.stderr and "Traceback" not in r.stderr
    r = profile("--precisions", "int2", "--out", tmp_path / "d.parquet")
    assert r.returncode == 2 and "--precisions: unknown precision 'int2'" in r.stderr


def test_malformed_precision_column_is_a_clear_error(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.traces import TraceError

    table = pq.read_table(ROOT / "traces" / "exits_mnist.parquet")
    prec = table.column("precision").to_numpy(zero_copy_only=False).astype(object)
    bad = table.set_column(table.schema.get_field_index("precision"), "precision",
                           pa.array(["int2" if p == "int4" else p for p in prec]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(TraceError, match="unknown precision 'int2'"):
        load_exits(tmp_path / "bad.parquet")
    keep = pa.array([p != "binary" or i % 2 == 0 for i, p in enumerate(prec)])  # binary records of other inputs
    pq.write_table(table.filter(keep), tmp_path / "short.parquet")
    with pytest.raises(TraceError, match="binary records are not of the same inputs"):
        load_exits(tmp_path / "short.parquet")


INT8_TIMING = ROOT / "traces" / "timings_meanet_int8_cpu.json"


def test_int8_blocks_take_the_measured_int8_times():
    """With a timing trace that has int8 entries (`sim profile timings --precisions fp32,int8`),
    `precision: int8` times the blocks from them; int4 and binary (no CPU kernels) keep the fp32
    entries.  The simulated main-exit latency follows the trace: its median is the main block's
    median time / speed_factor at each precision."""
    from sim.traces import load_timings

    t = load_timings(INT8_TIMING)
    sc = load_scenario(SCENARIO)
    ee = sc.device_groups[0].early_exit.model_copy(update={"timing": str(INT8_TIMING)})
    traces = load_traces(sc.model_copy(update={"device_groups": [sc.device_groups[0].model_copy(
        update={"early_exit": ee})]}), SCENARIO.parent)
    for p, timed in (("fp32", "fp32"), ("int8", "int8"), ("int4", "fp32"), ("binary", "fp32")):
        blocks = traces.blocks(ee.model_copy(update={"precision": p}))
        assert [b.precision for b in blocks] == [timed] * 3
        assert [b.quantiles_s for b in blocks] == [t.get("meanet_mnist", s, 1, timed).quantiles_s
                                                   for s in ("main", "adaptive", "extension")]
    medians = {}
    for p in ("fp32", "int8"):
        _, s = simulate(Meanet(), horizon_s=60, early_exit=ee.model_copy(update={"precision": p}))
        medians[p] = s["latency_s_by_exit"]["main"]["p50"]
        expected = t.get("meanet_mnist", "main", 1, p).quantiles_s[50] / ee.speed_factor
        assert medians[p] == pytest.approx(expected, rel=0.02), (p, medians[p], expected)
    assert medians["int8"] != pytest.approx(medians["fp32"], rel=0.02)


def test_timing_trace_precision_errors(tmp_path):
    import json

    from sim.traces import TraceError, load_timings

    data = json.loads(INT8_TIMING.read_text())
    assert data["provenance"]["precisions"] == ["fp32", "int8"] and "x86" in data["provenance"]["int8_method"]
    bad = dict(data, entries=[dict(data["entries"][0], precision="int4")])
    (tmp_path / "a.json").write_text(json.dumps(bad))
    with pytest.raises(TraceError, match="unknown precision 'int4'"):
        load_timings(tmp_path / "a.json")
    twice = dict(data, entries=[data["entries"][0], data["entries"][0]])
    (tmp_path / "b.json").write_text(json.dumps(twice))
    with pytest.raises(TraceError, match="a second entry for meanet_mnist/main/1/fp32"):
        load_timings(tmp_path / "b.json")
    t = load_timings(ROOT / "traces" / "timings_meanet_cpu.json")  # fp32 only: int8 falls back to fp32
    assert t.measured_at("meanet_mnist", "main", 1, "int8") is t.get("meanet_mnist", "main", 1)
    with pytest.raises(TraceError, match="no timing for meanet_mnist/main/b1 at int8"):
        t.get("meanet_mnist", "main", 1, "int8")
