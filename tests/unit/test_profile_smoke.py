"""Each `sim profile` subcommand on a tiny configuration; output checked by the loaders."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from sim.traces import load_adaptation, load_exits, load_timings  # noqa: E402
from tests import command

ROOT = Path(__file__).resolve().parents[2]


def sim(*args):
    return command.sim("profile", *args, check=True,
                       env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)})


def test_profile_timings(tmp_path):
    out = tmp_path / "t.json"
    sim("timings", "--models", "meanet_mnist,mnist_cloud_resnet14", "--batch-sizes", "1,2", "--reps", "3",
        "--warmup", "1", "--out", out)
    t = load_timings(out)
    assert {(m, s) for m, s, _, _ in t.entries} == {("meanet_mnist", "main"), ("meanet_mnist", "adaptive"),
                                                 ("meanet_mnist", "extension"), ("mnist_cloud_resnet14", "full")}
    e = t.get("meanet_mnist", "main", 2)
    assert e.macs == 2 * t.get("meanet_mnist", "main", 1).macs and e.param_bytes > 0
    assert t.provenance["threads"] == 1 and t.provenance["torch"]
    assert {p for *_, p in t.entries} == {"fp32"} and "precisions" not in t.provenance


def test_profile_timings_int8(tmp_path):
    """`--precisions fp32,int8`: every segment also timed as an int8 copy (PyTorch's int8 CPU kernels)."""
    out = tmp_path / "t.json"
    sim("timings", "--models", "meanet_mnist", "--batch-sizes", "1", "--reps", "3", "--warmup", "1",
        "--precisions", "fp32,int8", "--out", out)
    t = load_timings(out)
    assert set(t.entries) == {("meanet_mnist", s, 1, p) for s in ("main", "adaptive", "extension")
                              for p in ("fp32", "int8")}
    for s in ("main", "adaptive", "extension"):
        f, q = t.get("meanet_mnist", s, 1), t.get("meanet_mnist", s, 1, "int8")
        assert q.macs == f.macs and q.param_bytes < f.param_bytes / 2  # int8 weights: about a quarter of the bytes
    assert t.provenance["precisions"] == ["fp32", "int8"] and "quantize_fx" in t.provenance["int8_method"]


def test_profile_exits(tmp_path):
    out = tmp_path / "e.parquet"
    sim("exits", "--train-samples", "600", "--val-samples", "200", "--test-samples", "50", "--epochs", "1",
        "--cloud-epochs", "1", "--corruptions", "gaussian_noise", "--severities", "2", "--out", out)
    e = load_exits(out)
    assert set(e.conditions) == {"clean/0", "gaussian_noise/2"} and len(e.condition()) == 50


def test_profile_exits_of_adapted_blocks(tmp_path):
    out = tmp_path / "a.parquet"
    sim("exits", "--train-samples", "600", "--val-samples", "200", "--test-samples", "40", "--epochs", "1",
        "--cloud-epochs", "1", "--corruptions", "gaussian_noise", "--severities", "3", "--adapt-samples", "32,64",
        "--out", out)
    e = load_exits(out)
    assert set(e.conditions) == {"clean/0", "gaussian_noise/3"} and e.adapted_grid("gaussian_noise/3") == (32, 64)
    assert e.adaptation["payload_bytes"] > 0 and e.adaptation["samples_grid"] == [32, 64]
    assert len(e.filters["gaussian_noise/3"]["entropy_nats"]) == 64
    assert set(e.measured) == {f"{c}{n}" for c in ("clean/0", "gaussian_noise/3") for n in ("", "@32", "@64")}
    for n in (32, 64):  # the same inputs; the cloud model is not adapted
        rec, base = e.adapted["gaussian_noise/3"][n], e.condition("gaussian_noise", 3)
        assert (rec["sample_id"] == base["sample_id"]).all() and (rec["cloud_pred"] == base["cloud_pred"]).all()


def test_profile_adaptation(tmp_path):
    out = tmp_path / "a.json"
    sim("adaptation", "--train-samples", "600", "--epochs", "1", "--teacher-epochs", "1", "--corruptions",
        "shot_noise", "--severities", "4", "--samples", "0,32,64", "--eval-samples", "60", "--curve-samples", "30",
        "--out", out)
    a = load_adaptation(out)
    assert a.samples == (0, 32, 64) and a.conditions() == ["shot_noise/4"] and len(a.curves["shot_noise/4"]) == 2
    # nothing delivered = the old model, whatever D
    assert len({row[0] for row in a.accuracy["shot_noise/4"]}) == 1


def test_bad_profile_arguments(tmp_path):
    for args, fragment in ((["timings", "--models", "gpt9"], "--models: unknown model 'gpt9'"),
                           (["timings", "--precisions", "binary"], "--precisions: unknown precision 'binary'"),
                           (["exits", "--corruptions", "rain"], "--corruptions: unknown corruption 'rain'"),
                           (["exits", "--data", tmp_path / "none"], "--data:"),
                           (["adaptation", "--samples", "0,33"], "--samples:"),
                           (["exits", "--adapt-samples", "32,33"], "--adapt-samples: expected multiples of 32"),
                           (["adaptation", "--severities", "7"], "--severities:")):
        r = subprocess.run([sys.executable, "-m", "cli", "profile", *map(str, args)], cwd=ROOT, capture_output=True,
                           text=True)
        assert r.returncode == 2 and fragment in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)


def test_torchvision_models_import_without_compiled_ops():
    code = ("from sim.profiling.common import import_torchvision_models as m\n"
            "tv = m()\n"
            "print([sum(p.numel() for p in getattr(tv, n)(weights=None).parameters())"
            " for n in ('resnet18', 'resnet101', 'mobilenet_v2')])")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-1000:]
    assert r.stdout.strip() == "[11689512, 44549160, 3504872]"
