"""The recorder's flat row storage: kinds of rows with fixed columns read back as full columns."""

import math

import pytest

from sim.recorder import FLOW_COLUMNS, INFERENCE_COLUMNS, Recorder

NAN = float("nan")


def test_row_kinds_read_back_as_full_columns_kind_after_kind():
    rec = Recorder(["ap.up"], ["edge"])
    full = (1.0, 2.0, 0, 7, 0, 2, True, 0.5, 3, 1.5, 100, 10, 0.01, 0.02, 0.03)
    rec.inference(full)
    local = rec.rows(group=1, place=-1, exit=0, map=NAN, version=-1, staleness_s=NAN, bytes_up=0, bytes_down=0,
                     radio_energy_j=0.0, server_energy_j=0.0)
    local((3.0, 4.0, 5, False, 0.25))
    local((5.0, 6.0, 9, True, 0.5))
    rec.inference(full[:2] + (2,) + full[3:])  # a later full row reads back with the first kind
    cols = rec.inferences
    assert list(cols) == list(INFERENCE_COLUMNS)
    assert all(len(v) == 4 for v in cols.values())
    assert cols["arrival_s"] == [1.0, 1.0, 3.0, 5.0]
    assert cols["group"] == [0, 2, 1, 1]
    assert cols["device"] == [7, 7, 5, 9]
    assert cols["correct"] == [True, True, False, True]
    assert cols["compute_energy_j"] == [0.01, 0.01, 0.25, 0.5]
    assert cols["place"] == [0, 0, -1, -1] and cols["version"] == [3, 3, -1, -1]
    assert math.isnan(cols["map"][2]) and cols["map"][0] == 0.5
    assert cols["server_energy_j"] == [0.03, 0.03, 0.0, 0.0]


def test_unknown_fixed_column_is_an_error():
    with pytest.raises(ValueError, match="placee"):
        Recorder([], []).rows(placee=-1)


def test_flow_rows_read_back_as_columns():
    rec = Recorder([], [])
    rec.flow_row((0.0, 1.0, "inference_input", 3072, "ap.up"))
    rec.flow_row((1.0, 1.5, "model_download", 10, "ap.down"))
    cols = rec.flows
    assert list(cols) == list(FLOW_COLUMNS)
    assert cols["purpose"] == ["inference_input", "model_download"] and cols["size_bytes"] == [3072, 10]


def test_empty_recorder_has_empty_columns():
    rec = Recorder([], [])
    assert rec.inferences == {c: [] for c in INFERENCE_COLUMNS}
    assert rec.flows == {c: [] for c in FLOW_COLUMNS}
