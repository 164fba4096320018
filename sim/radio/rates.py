"""SNR to bit rate (docs/wireless.md, "Rates").

``shannon``: B log2(1 + SNR).  ``nr_cqi``: B x the spectral efficiency of the highest CQI
whose SNR threshold the SNR reaches (TS 38.214 Table 5.2.2.1-2 or -3; thresholds for 10%
BLER from the literature: ``traces/radio/nr_cqi.csv`` says which).  ``wifi_ax``: the PHY
rate of the highest 802.11ax MCS whose minimum sensitivity the received power (SNR +
noise floor) reaches, times the spatial streams (``traces/radio/wifi_ax_mcs.csv``).  Every
model: times ``efficiency``, at most ``cap_bps``.  Below the lowest table entry the rate is
0 (out of coverage).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from sim.errors import TraceError
from sim.radio.pathloss import noise_dbm

TABLES = Path(__file__).resolve().parents[2] / "traces" / "radio"
NR_CQI = TABLES / "nr_cqi.csv"
WIFI_AX = TABLES / "wifi_ax_mcs.csv"


@dataclass(frozen=True)
class Table:
    """Thresholds (ascending) and the rate or spectral efficiency at and above each."""

    thresholds: np.ndarray
    values: np.ndarray


def read_table(path: Path) -> list[dict[str, str]]:
    """Rows of a ``sim.radio_table/1`` CSV: ``#`` lines (format and provenance), then a header."""
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise TraceError(path, "(file)", f"cannot read: {e.strerror or e}") from None
    comments = [x for x in lines if x.startswith("#")]
    if not any(x.startswith("# format: sim.radio_table/1") for x in comments):
        raise TraceError(path, "format", "expected a '# format: sim.radio_table/1' line")
    if not any(x.startswith("# source") for x in comments):
        raise TraceError(path, "provenance", "missing '# source' lines")
    return list(csv.DictReader(x for x in lines if x and not x.startswith("#")))


def _ascending(path: Path, thresholds: list[float], values: list[float], what: str) -> Table:
    t, v = np.array(thresholds, dtype=float), np.array(values, dtype=float)
    if len(t) == 0 or np.any(np.diff(t) <= 0) or np.any(np.diff(v) <= 0) or not np.all(np.isfinite(t)):
        raise TraceError(path, what, "expected rows with strictly increasing thresholds and values")
    return Table(t, v)


@lru_cache(maxsize=None)
def nr_cqi_table(table: str = "64qam", path: Path = NR_CQI) -> Table:
    """SNR thresholds (dB) and spectral efficiencies (bit/s/Hz) of one NR CQI table."""
    rows = [r for r in read_table(path) if r["table"] == table]
    rows.sort(key=lambda r: int(r["cqi"]))
    return _ascending(path, [float(r["snr_db"]) for r in rows], [float(r["efficiency"]) for r in rows],
                      f"table {table}")


@lru_cache(maxsize=None)
def wifi_ax_table(bandwidth_hz: float, path: Path = WIFI_AX) -> Table:
    """Minimum sensitivities (dBm) and PHY rates (bit/s, one spatial stream) of 802.11ax MCS
    0-11 at one channel width."""
    mhz = int(round(bandwidth_hz / 1e6))
    rows = [r for r in read_table(path) if int(r["bandwidth_mhz"]) == mhz]
    rows.sort(key=lambda r: int(r["mcs"]))
    if not rows:
        raise TraceError(path, "bandwidth_mhz", f"no rows for {mhz} MHz")
    # a higher MCS needs more power: thresholds ascend with the rates
    return _ascending(path, [float(r["sensitivity_dbm"]) for r in rows], [float(r["rate_bps"]) for r in rows],
                      f"{mhz} MHz")


def _step(table: Table, x: np.ndarray) -> np.ndarray:
    """The value of the highest entry whose threshold ``x`` reaches; 0 below the first."""
    i = np.searchsorted(table.thresholds, x, side="right")
    return np.where(i > 0, table.values[np.maximum(i - 1, 0)], 0.0)


def rate_bps(snr_db, radio) -> np.ndarray:
    """Bit rate at ``snr_db`` (scalar or array) for a :class:`sim.config.Radio`: the mapped
    rate x ``rate.efficiency``, at most ``rate.cap_bps``."""
    snr = np.asarray(snr_db, dtype=float)
    m, b = radio.rate, radio.bandwidth_hz
    if m.model == "shannon":
        raw = b * np.log2(1.0 + 10.0 ** (snr / 10.0))
    elif m.model == "nr_cqi":
        raw = b * _step(nr_cqi_table(m.nr_table), snr)
    else:
        received_dbm = snr + noise_dbm(b, radio.noise_figure_db)
        raw = m.spatial_streams * _step(wifi_ax_table(b), received_dbm)
    rate = raw * m.efficiency
    return np.minimum(rate, m.cap_bps) if m.cap_bps is not None else rate
