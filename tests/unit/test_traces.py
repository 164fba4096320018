import copy
import json
from pathlib import Path

import pytest

from sim.traces import TimingDistribution, TraceError, load_accuracy, load_timings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_TIMINGS = sorted((ROOT / "traces").glob("timings*.json")) + [ROOT / "tests/data/timings.json"]
SHIPPED_ACCURACY = sorted((ROOT / "traces").glob("accuracy*.json")) + [ROOT / "tests/data/accuracy.json"]


@pytest.mark.parametrize("path", SHIPPED_TIMINGS, ids=lambda p: p.name)
def test_shipped_timing_traces_load(path):
    t = load_timings(path)
    assert t.entries and all(d.mean_s > 0 for d in t.entries.values())
    assert t.provenance["command"]


@pytest.mark.parametrize("path", SHIPPED_ACCURACY, ids=lambda p: p.name)
def test_shipped_accuracy_traces_load(path):
    a = load_accuracy(path)
    assert all(0 <= p <= 1 for p in a.top1.values())


def write(tmp_path, data, name="t.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return p


@pytest.fixture
def timings(data_dir):
    return json.loads((data_dir / "timings.json").read_text())


def mutate(data, fn):
    d = copy.deepcopy(data)
    fn(d)
    return d


@pytest.mark.parametrize("fn, field", [
    (lambda d: d["entries"][0].pop("quantiles_s"), "entries[0].quantiles_s"),
    (lambda d: d["entries"][0]["quantiles_s"].__setitem__(3, float("nan")), "entries[0].quantiles_s[3]"),
    (lambda d: d["entries"][0]["quantiles_s"].__setitem__(3, -1.0), "entries[0].quantiles_s[3]"),
    (lambda d: d["entries"][0]["quantiles_s"].reverse(), "entries[0].quantiles_s"),
    (lambda d: d.__setitem__("format", "sim.timings/0"), "format"),
    (lambda d: d["provenance"].pop("hardware"), "provenance.hardware"),
    (lambda d: d.__setitem__("entries", []), "entries"),
    (lambda d: d["entries"][0].__setitem__("batch_size", 0), "entries[0].batch_size"),
    (lambda d: d["entries"][0].__setitem__("macs", "many"), "entries[0].macs"),
    # once accepted: all-zero times, and times of 1e308 s (every local inference then silently unfinished)
    (lambda d: d["entries"][0].__setitem__("quantiles_s", [0.0] * len(d["entries"][0]["quantiles_s"])),
     "entries[0].quantiles_s"),
    (lambda d: d["entries"][0].__setitem__("quantiles_s", [1e308] * 3), "entries[0].quantiles_s"),
    (lambda d: d["entries"][0]["quantiles_s"].__setitem__(3, "0.01"), "entries[0].quantiles_s[3]"),
    (lambda d: d["entries"][0].__setitem__("quantiles_s", {"p50": 0.01}), "entries[0].quantiles_s"),
])
def test_malformed_timings_rejected_naming_the_field(tmp_path, timings, fn, field):
    p = write(tmp_path, mutate(timings, fn))
    with pytest.raises(TraceError) as e:
        load_timings(p)
    assert e.value.field == field
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(TraceError, match="not valid JSON"):
        load_timings(write(tmp_path, "{oops"))
    with pytest.raises(TraceError, match="no such trace file"):
        load_timings(tmp_path / "absent.json")


def test_unknown_model_is_one_clear_error(data_dir):
    t = load_timings(data_dir / "timings.json")
    with pytest.raises(TraceError, match="no timing for nonesuch/full/b1"):
        t.get("nonesuch")
    a = load_accuracy(data_dir / "accuracy.json")
    with pytest.raises(TraceError, match="no accuracy for model 'nonesuch'"):
        a.accuracy("nonesuch")


def test_accuracy_above_one_rejected(tmp_path, data_dir):
    d = json.loads((data_dir / "accuracy.json").read_text())
    d["models"]["small"]["top1"] = 1.5
    with pytest.raises(TraceError) as e:
        load_accuracy(write(tmp_path, d))
    assert e.value.field == "models.small.top1"


def test_sampling_follows_the_quantiles(data_dir):
    d = load_timings(data_dir / "timings.json").get("small")  # uniform 10..30 ms
    assert d.sample(0.0) == pytest.approx(0.010)
    assert d.sample(0.5) == pytest.approx(0.020)
    assert d.sample(0.999999) == pytest.approx(0.030, abs=1e-6)
    assert d.mean_s == pytest.approx(0.020)


def test_vectorised_sampling_matches_scalar_sampling_bit_for_bit(data_dir):
    import numpy as np

    rng = np.random.default_rng(1)
    shipped = load_timings(data_dir / "timings.json").get("small")
    skewed = TimingDistribution("m", "full", 1, tuple(np.sort(rng.exponential(0.01, 101)).tolist()))
    single = TimingDistribution("m", "full", 1, (0.004,))
    u = np.concatenate([rng.random(10_000), [0.0, 0.5, 1 - 2**-53]])
    for d in (shipped, skewed, single):
        assert d.sample_many(u).tolist() == [d.sample(x) for x in u]


def test_server_service_times_drawn_in_blocks_equal_one_at_a_time_draws(data_dir):
    from itertools import islice

    from sim.entities.offload import SERVICE_BLOCK as BLOCK, service_times
    from sim.rng import Stream

    d = load_timings(data_dir / "timings.json").get("small")
    n = 2 * BLOCK + 7  # across block boundaries
    blocked = list(islice(service_times(d, 2.5, Stream(3, 1, "server/edge/service")), n))
    one = Stream(3, 1, "server/edge/service")
    assert blocked == [d.sample(one.random()) / 2.5 for _ in range(n)]
