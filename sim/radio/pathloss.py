"""Path loss against distance and the noise floor (docs/wireless.md, "Path loss").

``log_distance``: PL(d) = PL(d0) + 10 n log10(d / d0) for d >= d0 (PL(d0) below d0), PL(d0)
free space, 20 log10(4 pi d0 f / c), unless ``ref_loss_db`` is given.

``umi_street_canyon`` and ``uma``: 3GPP TR 38.901 V17.0.0, Table 7.4.1-1, with f_c in GHz,
distances in metres, d3D = sqrt(d2D^2 + (h_BS - h_UT)^2) and the breakpoint distance
d'BP = 4 h'_BS h'_UT f_c / c (f_c in Hz, h' = h - h_E, h_E = 1 m: UMi always, UMa for
h_UT < 13 m, which the schema requires):

* UMi LOS: PL1 = 32.4 + 21 log10(d3D) + 20 log10(f_c) for 10 m <= d2D <= d'BP;
  PL2 = 32.4 + 40 log10(d3D) + 20 log10(f_c) - 9.5 log10(d'BP^2 + (h_BS - h_UT)^2) beyond;
  shadowing sigma 4 dB.
* UMi NLOS: max(PL_UMi-LOS, 35.3 log10(d3D) + 22.4 + 21.3 log10(f_c) - 0.3 (h_UT - 1.5)); 7.82 dB.
* UMa LOS: PL1 = 28.0 + 22 log10(d3D) + 20 log10(f_c); PL2 = 28.0 + 40 log10(d3D) + 20 log10(f_c)
  - 9 log10(d'BP^2 + (h_BS - h_UT)^2); 4 dB.
* UMa NLOS: max(PL_UMa-LOS, 13.54 + 39.08 log10(d3D) + 20 log10(f_c) - 0.6 (h_UT - 1.5)); 6 dB.

The table holds for 10 m <= d2D <= 5 km; a device nearer than 10 m takes the loss at 10 m,
one beyond 5 km the formula's value there (extrapolated; docs/wireless.md says so).
"""

from __future__ import annotations

import math

import numpy as np

C_M_PER_S = 3.0e8  # the speed of light as TR 38.901 (Table 7.4.1-1, note 1) writes it
THERMAL_DBM_PER_HZ = -174.0  # kT at 290 K: -173.98 dBm/Hz, the customary -174
MIN_3GPP_DISTANCE_M = 10.0
DEFAULT_AP_HEIGHT_M = {"umi_street_canyon": 10.0, "uma": 25.0}
SHADOWING_SIGMA_DB = {("log_distance", True): 0.0, ("log_distance", False): 0.0,
                      ("umi_street_canyon", True): 4.0, ("umi_street_canyon", False): 7.82,
                      ("uma", True): 4.0, ("uma", False): 6.0}


def free_space_db(distance_m, carrier_ghz: float):
    """Free-space loss 20 log10(4 pi d f / c)."""
    return 20.0 * np.log10(4.0 * math.pi * np.asarray(distance_m, dtype=float) * carrier_ghz * 1e9 / C_M_PER_S)


def breakpoint_m(ap_height_m: float, device_height_m: float, carrier_ghz: float, env_height_m: float = 1.0) -> float:
    """d'BP = 4 (h_BS - h_E)(h_UT - h_E) f_c / c (TR 38.901 Table 7.4.1-1, note 1)."""
    return 4.0 * (ap_height_m - env_height_m) * (device_height_m - env_height_m) * carrier_ghz * 1e9 / C_M_PER_S


def _3gpp(model: str, los: bool, d2d: np.ndarray, fc: float, h_bs: float, h_ut: float) -> np.ndarray:
    d2d = np.maximum(d2d, MIN_3GPP_DISTANCE_M)
    d3d = np.sqrt(d2d ** 2 + (h_bs - h_ut) ** 2)
    dbp = breakpoint_m(h_bs, h_ut, fc)
    lf = 20.0 * math.log10(fc)
    if model == "umi_street_canyon":
        pl1 = 32.4 + 21.0 * np.log10(d3d) + lf
        pl2 = 32.4 + 40.0 * np.log10(d3d) + lf - 9.5 * math.log10(dbp ** 2 + (h_bs - h_ut) ** 2)
        nlos = 35.3 * np.log10(d3d) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h_ut - 1.5)
    else:
        pl1 = 28.0 + 22.0 * np.log10(d3d) + lf
        pl2 = 28.0 + 40.0 * np.log10(d3d) + lf - 9.0 * math.log10(dbp ** 2 + (h_bs - h_ut) ** 2)
        nlos = 13.54 + 39.08 * np.log10(d3d) + lf - 0.6 * (h_ut - 1.5)
    pl_los = np.where(d2d <= dbp, pl1, pl2)
    return pl_los if los else np.maximum(pl_los, nlos)


def path_loss_db(pathloss, carrier_ghz: float, distance_m) -> np.ndarray:
    """Path loss (dB) at horizontal distances ``distance_m`` from the access point, for a
    :class:`sim.config.PathLoss`."""
    d = np.atleast_1d(np.asarray(distance_m, dtype=float))
    if pathloss.model == "log_distance":
        d0 = pathloss.ref_distance_m
        ref = pathloss.ref_loss_db if pathloss.ref_loss_db is not None else float(free_space_db(d0, carrier_ghz))
        return ref + 10.0 * pathloss.exponent * np.log10(np.maximum(d, d0) / d0)
    h_bs = pathloss.ap_height_m or DEFAULT_AP_HEIGHT_M[pathloss.model]
    return _3gpp(pathloss.model, pathloss.los, d, carrier_ghz, h_bs, pathloss.device_height_m)


def shadowing_sigma_db(radio) -> float:
    """The radio's shadowing sigma: as given, else the path-loss model's standard value."""
    if radio.shadowing_sigma_db is not None:
        return radio.shadowing_sigma_db
    return SHADOWING_SIGMA_DB[(radio.pathloss.model, radio.pathloss.los)]


def noise_dbm(bandwidth_hz: float, noise_figure_db: float) -> float:
    """Noise power at the receiver: -174 dBm/Hz + 10 log10(B) + NF."""
    return THERMAL_DBM_PER_HZ + 10.0 * math.log10(bandwidth_hz) + noise_figure_db
