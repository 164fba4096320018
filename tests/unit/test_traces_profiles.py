"""Loaders of exit records and adaptation surfaces: shipped traces load, malformed ones fail clearly."""

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.traces import TraceError, load_adaptation, load_exits

ROOT = Path(__file__).resolve().parents[2]
EXITS = ROOT / "traces" / "exits_mnist.parquet"
ADAPT = ROOT / "traces" / "adaptation_mnist.json"


@pytest.fixture(scope="module")
def exits():
    return load_exits(EXITS)


@pytest.fixture(scope="module")
def surface():
    return load_adaptation(ADAPT)


def test_shipped_exit_records_load(exits):
    assert exits.classes == 10 and "clean/0" in exits.conditions and len(exits.conditions) >= 16
    for key in ("command", "git_commit", "torch", "hardware", "dataset", "dataset_sha256", "seed", "date", "threads"):
        assert key in exits.provenance
    c = exits.condition("gaussian_noise", 3)
    assert len(c) > 0 and c["main_confidence"].max() <= 1


def test_exit_records_reproduce_the_networks_measured_accuracy_exactly(exits):
    """Sum over exits of (fraction x accuracy there), from the records, equals the accuracy
    the cascaded network measured when the trace was made."""
    thr = exits.network["entropy_threshold_nats"]
    for key, cond in exits.conditions.items():
        to_cloud = cond["main_entropy_nats"] > thr
        to_ext = ~to_cloud & cond["main_pred_hard"]
        at_main = ~to_cloud & ~to_ext
        n = len(cond)
        fractions = [at_main.sum() / n, to_ext.sum() / n, to_cloud.sum() / n]
        acc = sum(f * (c[m].mean() if m.any() else 0.0) for f, c, m in zip(
            fractions, (cond["main_correct"], cond["ext_correct"], cond["cloud_correct"]), (at_main, to_ext, to_cloud)))
        measured = exits.measured[key]
        assert acc == pytest.approx(measured["accuracy"], abs=1e-12), key
        assert fractions == pytest.approx(measured["exit_fractions"], abs=1e-12), key


def test_hard_classes_are_half_and_the_least_accurate(exits):
    hard = exits.network["hard_classes"]
    acc = exits.network["main_validation_accuracy_per_class"]
    assert len(hard) == exits.classes // 2
    assert max(acc[c] for c in hard) <= min(acc[c] for c in range(exits.classes) if c not in hard)
    clean = exits.condition()
    assert (clean["hard"] == np.isin(clean["true_class"], hard)).all()


def test_unknown_condition(exits):
    with pytest.raises(TraceError, match="no records for fog/3"):
        exits.condition("fog", 3)


def rewrite(tmp_path, table, meta=None, name="x.parquet"):
    p = tmp_path / name
    if meta is not None:
        table = table.replace_schema_metadata({"sim": json.dumps(meta)})
    pq.write_table(table, p)
    return p


@pytest.fixture(scope="module")
def table():
    t = pq.read_table(EXITS)
    return t.slice(0, 200)


def meta_of(table):
    return json.loads(table.schema.metadata[b"sim"])


def test_malformed_exit_records(tmp_path, table):
    meta = meta_of(table)
    p = rewrite(tmp_path, table.drop_columns(["main_confidence"]), meta)
    with pytest.raises(TraceError, match="main_confidence: missing column"):
        load_exits(p)
    conf = table.column("main_confidence").to_numpy() * 100  # percent instead of a fraction
    t = table.set_column(table.column_names.index("main_confidence"), "main_confidence", pa.array(conf))
    with pytest.raises(TraceError, match="wrong unit"):
        load_exits(rewrite(tmp_path, t, meta))
    ent = table.column("main_entropy_nats").to_numpy().copy()
    ent[5] = np.nan
    t = table.set_column(table.column_names.index("main_entropy_nats"), "main_entropy_nats", pa.array(ent))
    with pytest.raises(TraceError, match="NaN"):
        load_exits(rewrite(tmp_path, t, meta))
    with pytest.raises(TraceError, match="provenance.hardware"):
        bad = dict(meta, provenance={k: v for k, v in meta["provenance"].items() if k != "hardware"})
        load_exits(rewrite(tmp_path, table, bad))
    with pytest.raises(TraceError, match="missing 'sim' metadata"):
        load_exits(rewrite(tmp_path, table.replace_schema_metadata({}), None))
    with pytest.raises(TraceError, match="class indices"):
        load_exits(rewrite(tmp_path, table, dict(meta, classes=3)))


def test_shipped_adaptation_surface_loads(surface):
    assert surface.samples[0] == 0 and surface.phis[0] == 0 and surface.phis[-1] == 1
    assert len(surface.conditions()) >= 15
    assert {"gaussian_noise/3", "shot_noise/3", "impulse_noise/3"} <= set(surface.conditions())
    for cond in surface.conditions():
        assert len(surface.curves[cond]) == surface.samples[-1] // surface.setup["batch_size"]
        assert len(surface.filters[cond]["entropy_nats"]) == surface.setup["stream_samples"]
    assert surface.provenance["dataset_sha256"]


def test_adaptation_accuracy_rises_with_samples_and_with_phi_on_average(surface):
    """A check of the data: on average over conditions, more uploaded samples (full
    delivery) and a larger delivered fraction (most samples) give higher accuracy."""
    conds = surface.conditions()
    by_d = np.mean([[row[-1] for row in surface.accuracy[c]] for c in conds], axis=0)  # phi = 1, over D
    by_phi = np.mean([surface.accuracy[c][-1] for c in conds], axis=0)  # D = max, over phi
    assert by_d[-1] > by_d[0] and by_phi[-1] > by_phi[0]
    assert np.corrcoef(np.arange(len(by_d)), by_d)[0, 1] > 0.5
    assert np.corrcoef(np.arange(len(by_phi)), by_phi)[0, 1] > 0.5


def test_surface_interpolation(surface):
    c = surface.conditions()[0]
    d0, d1 = surface.samples[1], surface.samples[2]
    p = surface.phis[-1]
    mid = surface.value(c, (d0 + d1) / 2, p)
    assert mid == pytest.approx((surface.accuracy[c][1][-1] + surface.accuracy[c][2][-1]) / 2)
    assert surface.value(c, 10**9, 2.0) == surface.accuracy[c][-1][-1]  # clamped


def test_malformed_adaptation(tmp_path):
    data = json.loads(ADAPT.read_text())
    data["surface"][3]["accuracy"] = 71.5  # percent
    p = tmp_path / "a.json"
    p.write_text(json.dumps(data))
    with pytest.raises(TraceError, match=r"surface\[3\].accuracy.*wrong unit"):
        load_adaptation(p)
    data = json.loads(ADAPT.read_text())
    del data["surface"][7]
    p.write_text(json.dumps(data))
    with pytest.raises(TraceError, match="grid incomplete"):
        load_adaptation(p)
    data = json.loads(ADAPT.read_text())
    for bad in (math.nan, math.inf):  # json writes NaN and Infinity, and Python's json reads them back
        data["surface"][0]["map"] = bad
        p.write_text(json.dumps(data))
        with pytest.raises(TraceError, match="finite number"):
            load_adaptation(p)
