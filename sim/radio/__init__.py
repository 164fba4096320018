"""Radio access: path loss, shadowing, SNR and the rate each device gets from it
(docs/wireless.md).  The core layer: numpy only.

:func:`device_rates` gives one device group's per-device rates and SNRs on its radio
access point; :func:`rate_bps` maps any SNR to a rate (fading and SNR-offset traces use
it); :func:`fading_gains` draws block-fading power gains."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sim.radio.draws import distances_m, fading_gains, load_positions, normals
from sim.radio.pathloss import free_space_db, noise_dbm, path_loss_db, shadowing_sigma_db
from sim.radio.rates import nr_cqi_table, rate_bps, wifi_ax_table

__all__ = ["RadioRates", "device_rates", "snr_db", "rate_bps", "fading_gains", "path_loss_db", "noise_dbm",
           "free_space_db", "shadowing_sigma_db", "distances_m", "load_positions", "normals", "nr_cqi_table",
           "wifi_ax_table"]


@dataclass(frozen=True)
class RadioRates:
    """Per-device figures of one group (arrays of the group's count): rates in bit/s after
    ``efficiency`` and ``cap_bps`` (before the access point's ``goodput_factor``; 0 = out of
    coverage), SNRs in dB, distances in m (NaN for an ``snr_db`` group)."""

    up_bps: np.ndarray
    down_bps: np.ndarray
    snr_up_db: np.ndarray
    snr_down_db: np.ndarray
    distance_m: np.ndarray


def snr_db(radio, distance_m, shadow_db) -> tuple[np.ndarray, np.ndarray]:
    """(uplink, downlink) SNR: transmit power - path loss - shadowing - noise floor; the
    uplink sent at ``device_tx_power_dbm``, the downlink at ``ap_tx_power_dbm``, one noise
    figure at both receivers."""
    loss = path_loss_db(radio.pathloss, radio.carrier_ghz, distance_m) + np.asarray(shadow_db, dtype=float)
    noise = noise_dbm(radio.bandwidth_hz, radio.noise_figure_db)
    return radio.device_tx_power_dbm - loss - noise, radio.ap_tx_power_dbm - loss - noise


def device_rates(ap, group, stream, base_dir: Path | None = None) -> RadioRates:
    """Rates and SNRs of every device of ``group`` on the radio access point ``ap``.  Draws
    from ``stream`` (the group's own, e.g. ``streams[f"group/{name}/radio"]``) in this order:
    the placement (``uniform_disc``: one uniform per device), then the shadowing (one normal
    per device, the same in both directions; none when sigma is 0).  ``base_dir``: where a
    ``placement.file`` path is relative to."""
    radio = ap.radio
    if radio is None:
        raise ValueError(f"access point {ap.name!r} has no radio")
    n = group.count
    if group.snr_db is not None:
        snr = np.full(n, float(group.snr_db))
        up = down = snr
        d = np.full(n, np.nan)
    else:
        if group.placement is None:
            raise ValueError(f"device group {group.name!r} gives neither placement nor snr_db")
        d = distances_m(group.placement, n, stream, base_dir)
        sigma = shadowing_sigma_db(radio)
        shadow = sigma * normals(stream, n) if sigma > 0 else np.zeros(n)
        up, down = snr_db(radio, d, shadow)
    return RadioRates(rate_bps(up, radio), rate_bps(down, radio), up, down, d)
