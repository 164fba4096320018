"""The radio physics of docs/wireless.md: rates at given SNRs (Shannon and the tables),
path loss at given distances against the published formulas (computed here by hand from
their text), shadowing, placement and fading statistics within confidence intervals, and
the scenario fields' checks."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from sim import radio
from sim.config import AccessPoint, DeviceGroup, PathLoss, Radio
from sim.errors import ScenarioError, TraceError
from sim.radio.rates import NR_CQI, WIFI_AX, read_table
from sim.rng import Stream
from sim.scenario_io import apply_overrides, read_yaml, validate

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny.yaml"
GROUP = dict(name="g", access_point="a", compute={"trace": "t.json", "model": "m"}, arrivals={"rate_hz": 1})


def ap(**radio_fields) -> AccessPoint:
    return AccessPoint(name="a", radio={"bandwidth_hz": 20e6, **radio_fields})


def group(count: int, **fields) -> DeviceGroup:
    return DeviceGroup(**GROUP, count=count, **fields)


# ---- rates ---------------------------------------------------------------------------

def test_shannon_at_given_snrs():
    r = Radio(bandwidth_hz=20e6)
    # SNR 0 dB: log2(2) = 1 bit/s/Hz; SNR 10 log10(3) dB: log2(4) = 2; SNR 30 dB: log2(1001)
    snr = [0.0, 10 * math.log10(3), 30.0]
    assert radio.rate_bps(snr, r) == pytest.approx([20e6, 40e6, 20e6 * math.log2(1001)])
    half = Radio(bandwidth_hz=20e6, rate={"efficiency": 0.5, "cap_bps": 30e6})
    assert radio.rate_bps(snr, half) == pytest.approx([10e6, 20e6, 30e6])  # the last one capped


def test_nr_cqi_at_given_snrs():
    r = Radio(bandwidth_hz=10e6, rate={"model": "nr_cqi"})
    # thresholds of Table 5.2.2.1-2 (64qam): CQI 10 from 11.7 dB (2.7305 bit/s/Hz), CQI 15 from 22.7 dB
    got = radio.rate_bps([-7.0, -6.7, 12.0, 22.69, 22.7, 40.0], r)
    assert got == pytest.approx([0.0, 10e6 * 0.1523, 10e6 * 2.7305, 10e6 * 5.1152, 10e6 * 5.5547, 10e6 * 5.5547])
    t2 = Radio(bandwidth_hz=10e6, rate={"model": "nr_cqi", "nr_table": "256qam", "efficiency": 0.86})
    # CQI 15 of Table 5.2.2.1-3: 256QAM 948/1024, 7.4063 bit/s/Hz, times an overhead of 14 %
    assert radio.rate_bps(30.0, t2) == pytest.approx(10e6 * 7.4063 * 0.86)
    assert radio.rate_bps(12.0, t2) == pytest.approx(radio.rate_bps(12.0, Radio(
        bandwidth_hz=10e6, rate={"model": "nr_cqi", "efficiency": 0.86})))  # shared entry: same SNR, same rate


def test_the_cqi_tables_match_modulation_and_code_rate():
    # the spectral efficiency of TS 38.214 is Qm x code rate / 1024, printed to 4 decimals
    qm = {"QPSK": 2, "16QAM": 4, "64QAM": 6, "256QAM": 8}
    rows = read_table(NR_CQI)
    assert len(rows) == 30
    for r in rows:
        assert float(r["efficiency"]) == pytest.approx(qm[r["modulation"]] * int(r["code_rate_x1024"]) / 1024,
                                                       abs=6e-5), r
    for table in ("64qam", "256qam"):
        t = radio.nr_cqi_table(table)
        assert len(t.values) == 15 and np.all(np.diff(t.thresholds) > 0)


def test_wifi_ax_rates_follow_the_standard_formula():
    bits = {"BPSK": 1, "QPSK": 2, "16QAM": 4, "64QAM": 6, "256QAM": 8, "1024QAM": 10}
    rows = read_table(WIFI_AX)
    assert len(rows) == 48
    for r in rows:
        rate = int(r["data_subcarriers"]) * bits[r["modulation"]] * Fraction(r["coding_rate"]) / Fraction(136, 10**7)
        assert float(r["rate_bps"]) == pytest.approx(float(rate), abs=0.06)
    # published figures (1 SS, 0.8 us GI): 8.6 / 143.4 Mb/s at 20 MHz, 1201 Mb/s at 160 MHz MCS 11
    assert radio.wifi_ax_table(20e6).values[[0, 11]] == pytest.approx([8.6e6, 143.4e6], abs=0.05e6)
    assert radio.wifi_ax_table(160e6).values[11] == pytest.approx(1201.0e6, abs=0.05e6)
    # sensitivity: -82 dBm (MCS 0) .. -52 dBm (MCS 11) at 20 MHz, 3 dB worse per doubling of width
    assert radio.wifi_ax_table(20e6).thresholds[[0, 11]] == pytest.approx([-82, -52])
    assert radio.wifi_ax_table(80e6).thresholds[[0, 11]] == pytest.approx([-76, -46])


def test_wifi_ax_at_given_snrs():
    r = Radio(bandwidth_hz=20e6, noise_figure_db=7.0, rate={"model": "wifi_ax"})
    noise = -174 + 10 * math.log10(20e6) + 7  # -93.99 dBm
    # 30 dB SNR: -63.99 dBm received reaches MCS 7's -64 dBm: 234 x 6 x 5/6 / 13.6 us
    assert radio.rate_bps(30.0, r) == pytest.approx(234 * 6 * 5 / 6 / 13.6e-6, abs=0.1)
    # 1 dB less is MCS 6 (-65 dBm): 64QAM 3/4
    assert radio.rate_bps(29.0, r) == pytest.approx(234 * 6 * 3 / 4 / 13.6e-6, abs=0.1)
    assert radio.rate_bps(-82 - noise - 0.01, r) == 0.0  # below MCS 0: out of coverage
    two = Radio(bandwidth_hz=20e6, rate={"model": "wifi_ax", "spatial_streams": 2})
    assert radio.rate_bps(30.0, two) == pytest.approx(2 * radio.rate_bps(30.0, r))


def test_rate_grows_with_snr_for_every_model():
    snr = np.linspace(-10, 50, 121)
    for rate in ({"model": "shannon"}, {"model": "nr_cqi"}, {"model": "wifi_ax"}):
        got = radio.rate_bps(snr, Radio(bandwidth_hz=20e6, rate=rate))
        assert np.all(np.diff(got) >= 0) and got[-1] > got[0]


# ---- path loss and SNR ---------------------------------------------------------------

def test_log_distance_path_loss():
    p = PathLoss(exponent=3.0, ref_distance_m=1.0, ref_loss_db=40.0)
    assert radio.path_loss_db(p, 3.5, [0.5, 1.0, 10.0, 100.0]) == pytest.approx([40.0, 40.0, 70.0, 100.0])
    # free space at the reference distance by default: 20 log10(4 pi d f / c), c = 3e8 m/s
    fs = 20 * math.log10(4 * math.pi * 2.0 * 3.5e9 / 3e8)
    assert radio.path_loss_db(PathLoss(exponent=2.0, ref_distance_m=2.0), 3.5, [2.0, 20.0]) == pytest.approx(
        [fs, fs + 20.0])


def _d3(d2, h_bs, h_ut):
    return math.hypot(d2, h_bs - h_ut)


def test_umi_street_canyon_against_tr_38_901():
    fc, h_bs, h_ut = 3.5, 10.0, 1.5
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc * 1e9 / 3e8  # 210 m
    assert dbp == pytest.approx(210.0)
    los = PathLoss(model="umi_street_canyon")
    # 100 m: PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc)
    pl1 = 32.4 + 21 * math.log10(_d3(100, h_bs, h_ut)) + 20 * math.log10(fc)
    assert pl1 == pytest.approx(85.31, abs=0.01)
    # 500 m: PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) - 9.5 log10(dBP^2 + (hBS - hUT)^2)
    pl2 = 32.4 + 40 * math.log10(_d3(500, h_bs, h_ut)) + 20 * math.log10(fc) - 9.5 * math.log10(dbp ** 2 + 8.5 ** 2)
    assert radio.path_loss_db(los, fc, [100.0, 500.0]) == pytest.approx([pl1, pl2])
    # NLOS: max(PL_LOS, 35.3 log10(d3D) + 22.4 + 21.3 log10(fc) - 0.3 (hUT - 1.5))
    nlos = PathLoss(model="umi_street_canyon", los=False)
    n100 = 35.3 * math.log10(_d3(100, h_bs, h_ut)) + 22.4 + 21.3 * math.log10(fc)
    assert n100 == pytest.approx(104.64, abs=0.01)
    assert radio.path_loss_db(nlos, fc, 100.0) == pytest.approx([n100])
    # below 10 m the table does not hold: the loss at 10 m
    assert radio.path_loss_db(los, fc, [2.0]) == pytest.approx(radio.path_loss_db(los, fc, [10.0]))


def test_uma_against_tr_38_901():
    fc, h_bs, h_ut = 3.5, 25.0, 1.5
    dbp = 4 * (h_bs - 1) * (h_ut - 1) * fc * 1e9 / 3e8  # 560 m
    assert dbp == pytest.approx(560.0)
    los = PathLoss(model="uma")
    pl1 = 28.0 + 22 * math.log10(_d3(200, h_bs, h_ut)) + 20 * math.log10(fc)
    pl2 = 28.0 + 40 * math.log10(_d3(1000, h_bs, h_ut)) + 20 * math.log10(fc) - 9 * math.log10(
        dbp ** 2 + (h_bs - h_ut) ** 2)
    assert radio.path_loss_db(los, fc, [200.0, 1000.0]) == pytest.approx([pl1, pl2])
    assert pl1 == pytest.approx(89.57, abs=0.01)
    nlos = PathLoss(model="uma", los=False)
    n = 13.54 + 39.08 * math.log10(_d3(200, h_bs, h_ut)) + 20 * math.log10(fc) - 0.6 * (h_ut - 1.5)
    assert radio.path_loss_db(nlos, fc, 200.0) == pytest.approx([max(pl1, n)])
    # heights change the breakpoint: a 3 m device at 28 GHz
    high = PathLoss(model="uma", device_height_m=3.0)
    dbp28 = 4 * 24 * 2 * 28e9 / 3e8
    assert radio.path_loss_db(high, 28.0, 1000.0) == pytest.approx(
        [28.0 + 22 * math.log10(_d3(1000, 25, 3)) + 20 * math.log10(28)]) and dbp28 > 1000


def test_snr_and_rates_of_a_placed_group():
    a = ap(pathloss={"ref_loss_db": 40.0, "exponent": 3.0}, device_tx_power_dbm=20, ap_tx_power_dbm=30,
           noise_figure_db=7)
    g = group(2, placement={"kind": "fixed", "distances_m": [10.0, 100.0]})
    got = radio.device_rates(a, g, Stream(1, 0, "x"))
    noise = -174 + 10 * math.log10(20e6) + 7
    up = [20 - 70 - noise, 20 - 100 - noise]  # 33.99 dB and 3.99 dB
    assert got.snr_up_db == pytest.approx(up)
    assert got.snr_down_db == pytest.approx([x + 10 for x in up])
    assert got.up_bps == pytest.approx([20e6 * math.log2(1 + 10 ** (x / 10)) for x in up])
    assert got.distance_m == pytest.approx([10.0, 100.0])


def test_snr_shortcut():
    got = radio.device_rates(ap(), group(3, snr_db=10.0), Stream(1, 0, "x"))
    assert got.snr_up_db == pytest.approx([10.0] * 3) and got.up_bps == pytest.approx([20e6 * math.log2(11)] * 3)
    assert np.all(np.isnan(got.distance_m))


# ---- draws ---------------------------------------------------------------------------

N = 40_000


def test_shadowing_is_normal_with_its_sigma():
    a = ap(pathloss={"ref_loss_db": 40.0}, shadowing_sigma_db=8.0)
    g = group(N, placement={"kind": "ring", "radius_m": 1.0})
    got = radio.device_rates(a, g, Stream(7, 0, "group/g/radio"))
    shadow = np.mean(got.snr_up_db) - got.snr_up_db  # every device at 1 m: the rest is shadowing
    base = 23 - 40 - (-174 + 10 * math.log10(20e6) + 7)
    # mean 0: within 4 standard errors; sd 8: the sample sd's standard error is 8 / sqrt(2N)
    assert abs(np.mean(got.snr_up_db) - base) < 4 * 8 / math.sqrt(N)
    assert abs(np.std(shadow) - 8.0) < 4 * 8 / math.sqrt(2 * N)
    assert stats.kstest(shadow / 8.0, "norm").pvalue > 1e-3
    # the 3GPP models' own sigma by default
    assert radio.shadowing_sigma_db(Radio(bandwidth_hz=1e6, pathloss={"model": "umi_street_canyon", "los": False})) \
        == 7.82


def test_uniform_disc_mean_distance():
    r = 120.0
    d = radio.distances_m(group(N, placement={"kind": "uniform_disc", "radius_m": r}).placement, N,
                          Stream(3, 0, "group/g/radio"))
    # mean 2R/3, variance R^2/2 - (2R/3)^2 = R^2/18
    assert abs(d.mean() - 2 * r / 3) < 4 * math.sqrt(r * r / 18 / N)
    assert d.min() >= 0 and d.max() <= r
    # the fraction within R/2 is 1/4 (area)
    assert abs(np.mean(d < r / 2) - 0.25) < 4 * math.sqrt(0.25 * 0.75 / N)
    # an annulus: E[r] = 2/3 (R^3 - r0^3) / (R^2 - r0^2)
    ring = radio.distances_m(group(N, placement={"kind": "uniform_disc", "radius_m": r, "min_distance_m": 60}
                                   ).placement, N, Stream(3, 0, "y"))
    assert ring.min() >= 60 and abs(ring.mean() - 2 / 3 * (r ** 3 - 60 ** 3) / (r ** 2 - 60 ** 2)) < 0.5


def test_fixed_ring_and_file_placements(tmp_path):
    s = Stream(0, 0, "x")
    fixed = group(5, placement={"kind": "fixed", "points_m": [[3, 4], [6, 8]]}).placement
    assert radio.distances_m(fixed, 5, s) == pytest.approx([5, 10, 5, 10, 5])  # device i takes entry i mod 2
    assert radio.distances_m(group(3, placement={"kind": "ring", "radius_m": 7}).placement, 3, s) == \
        pytest.approx([7, 7, 7])
    f = tmp_path / "pos.csv"
    f.write_text("# source: surveyed by hand, 2026-12-07\nx_m,y_m\n30,40\n0,10\n")
    placed = group(3, placement={"kind": "file", "path": "pos.csv"}).placement
    assert radio.distances_m(placed, 3, s, tmp_path) == pytest.approx([50, 10, 50])
    with pytest.raises(TraceError, match="rows"):
        radio.distances_m(placed, 1, s, tmp_path)
    f.write_text("x_m,y_m\n30,40\n")
    with pytest.raises(TraceError, match="source"):
        radio.load_positions(f)
    f.write_text("# source: x\nd\n3\n")
    with pytest.raises(TraceError, match="distance_m"):
        radio.load_positions(f)


def test_placement_draws_come_from_the_groups_stream():
    a, g = ap(shadowing_sigma_db=4.0), group(50, placement={"kind": "uniform_disc", "radius_m": 100})
    one = radio.device_rates(a, g, Stream(5, 0, "group/g/radio"))
    again = radio.device_rates(a, g, Stream(5, 0, "group/g/radio"))
    other = radio.device_rates(a, g, Stream(5, 0, "group/h/radio"))
    assert np.array_equal(one.up_bps, again.up_bps) and not np.array_equal(one.up_bps, other.up_bps)


def test_rayleigh_gains_are_exponential_with_mean_one():
    g = radio.fading_gains("rayleigh", 0.0, N, Stream(11, 0, "fading"))
    assert abs(g.mean() - 1.0) < 4 / math.sqrt(N)  # Exp(1): sd 1
    assert stats.kstest(g, "expon").pvalue > 1e-3
    assert abs(np.var(g) - 1.0) < 4 * math.sqrt(8 / N)  # var of the sample variance of Exp(1): (mu4 - 1)/N = 8/N


@pytest.mark.parametrize("k", [0.0, 3.0, 10.0])
def test_rician_gains_mean_and_variance(k):
    g = radio.fading_gains("rician", k, N, Stream(12, 0, "fading"))
    var = (1 + 2 * k) / (1 + k) ** 2
    assert abs(g.mean() - 1.0) < 4 * math.sqrt(var / N)
    assert abs(np.var(g) - var) < 0.05 * var + 0.01
    # |h| is Rice distributed: |h| sqrt(2(K+1)) ~ Rice(b = sqrt(2K))
    assert stats.kstest(np.sqrt(g * 2 * (k + 1)), "rice", args=(math.sqrt(2 * k),)).pvalue > 1e-3


def test_fading_offsets_map_through_the_same_rates():
    r = Radio(bandwidth_hz=20e6, rate={"model": "nr_cqi"})
    gains = radio.fading_gains("rayleigh", 0.0, 10_000, Stream(1, 0, "f"))  # P(gain > 7.7 dB) = 0.003
    faded = radio.rate_bps(15.0 + 10 * np.log10(gains), r)
    assert faded.min() == 0.0 and faded.max() == pytest.approx(20e6 * 5.5547)


# ---- scenario fields -----------------------------------------------------------------

RADIO = {"access_points.0": {"name": "ap1", "radio": {"bandwidth_hz": 20e6}},
         "device_groups.0.placement": {"kind": "ring", "radius_m": 50}}


def problems(overrides: dict) -> list[str]:
    try:
        validate(apply_overrides(read_yaml(TINY), overrides, str(TINY)), str(TINY))
    except ScenarioError as e:
        return e.problems
    return []


def test_a_radio_scenario_validates():
    assert problems(RADIO) == []
    assert problems({**RADIO, "device_groups.0.placement": None, "device_groups.0.snr_db": 12}) == []


@pytest.mark.parametrize("overrides, words", [
    ({**RADIO, "access_points.0.uplink_bps": 1e6}, ["access_points[0]", "uplink_bps", "radio"]),
    ({"access_points.0": {"name": "ap1"}}, ["uplink_bps", "required"]),
    ({"device_groups.0.placement": {"kind": "ring", "radius_m": 5}}, ["device_groups[0].placement", "no radio"]),
    ({"device_groups.0.snr_db": 5}, ["device_groups[0].snr_db", "no radio"]),
    ({**RADIO, "device_groups.0.snr_db": 5}, ["snr_db", "not both"]),
    ({"access_points.0": {"name": "ap1", "radio": {"bandwidth_hz": 1e6}}}, ["device_groups[0]", "placement"]),
    ({**RADIO, "access_points.0.radio.rate": {"model": "wifi_ax"}, "access_points.0.radio.bandwidth_hz": 10e6},
     ["wifi_ax", "bandwidth_hz"]),
    ({**RADIO, "access_points.0.radio.pathloss": {"model": "uma", "exponent": 3}}, ["pathloss.exponent"]),
    ({**RADIO, "access_points.0.radio.pathloss": {"los": False}}, ["pathloss.los", "3GPP"]),
    ({**RADIO, "access_points.0.radio.pathloss": {"model": "uma", "device_height_m": 15}}, ["13 m"]),
    ({**RADIO, "access_points.0.radio.pathloss": {"model": "umi_street_canyon", "ap_height_m": 1.2}},
     ["above the devices"]),
    ({**RADIO, "access_points.0.radio.rate": {"nr_table": "256qam"}}, ["rate.nr_table", "nr_cqi"]),
    ({**RADIO, "access_points.0.radio.rate": {"spatial_streams": 2}}, ["rate.spatial_streams", "wifi_ax"]),
    ({**RADIO, "access_points.0.radio.rate": {"model": "wifi_ax"}, "access_points.0.radio.noise_figure_db": 5},
     ["noise_figure_db", "cancels"]),
    ({"access_points.0": {"name": "ap1", "radio": {"bandwidth_hz": 1e6, "carrier_ghz": 28}},
      "device_groups.0.snr_db": 3}, ["carrier_ghz", "snr_db"]),
    ({**RADIO, "access_points.0.radio.pathloss": {"ref_loss_db": 40}, "access_points.0.radio.carrier_ghz": 5},
     ["carrier_ghz", "ref_loss_db"]),
    ({**RADIO, "device_groups.0.placement": {"kind": "fixed", "distances_m": [5] * 21}}, ["21 positions"]),
    ({**RADIO, "device_groups.0.placement": {"kind": "uniform_disc", "radius_m": 5, "min_distance_m": 5}},
     ["min_distance_m"]),
])
def test_bad_radio_settings_are_one_line(overrides, words):
    got = problems(overrides)
    assert len(got) == 1, got
    assert all(w in got[0] for w in words) and "\n" not in got[0], got[0]
