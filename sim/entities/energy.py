"""The one energy model: device compute and radio, server jobs.

Compute energy is ``active_power_w`` x compute time (``compute_model: time``) or
``energy_per_mac_j`` x the MACs run (``compute_model: macs``); radio energy is joules
per bit sent and received (``radio_up/down_j_per_bit``), or, with the air-time model
(``radio_tx_power_w`` / ``radio_rx_power_w``), power x the time on the air of each transfer
(its bits / the device's own payload rate, piece by piece when the rate changes during it:
a slow device spends more per bit) plus ``radio_tail_j`` per transfer; idle power is paid
for the whole horizon.  A server job's energy is MACs x ``energy_per_mac_j`` or
``active_power_w`` x its service time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


# Energy of one multiply-accumulate per arithmetic precision, pJ: DECLARED, not measured.
# fp32, int8: Horowitz, "Computing's energy problem", ISSCC 2014, 45 nm: fp32 multiply 3.7 + add 0.9,
# int8 multiply 0.2 + add 0.03.  int4: derived from the int8 figures (multiplier energy ~ bits^2,
# adder ~ bits): 0.2 / 4 + 0.03 / 2.  binary (XNOR + popcount): Al Bahou et al., "XNORBIN: a 95 TOp/s/W
# hardware accelerator for binary CNNs", COOL CHIPS 2018, 65 nm, whole accelerator (memory included),
# 2 ops (XNOR, popcount) per MAC: 2 / 95e12 J.  The device's ``energy_per_mac_j`` is the fp32 figure; a
# MEANet device at another precision (``early_exit.precision``) pays it x the ratio below, except for the
# MACs of the layers its blocks keep in floating point (the exit trace's ``float_macs``), paid at fp32.
MAC_PJ_DECLARED = {"fp32": 3.7 + 0.9, "int8": 0.2 + 0.03, "int4": 0.2 / 4 + 0.03 / 2, "binary": 2 / 95e12 * 1e12}
PRECISIONS = tuple(MAC_PJ_DECLARED)


def mac_energy_ratio(precision: str) -> float:
    """Energy of a MAC at ``precision`` over an fp32 MAC (:data:`MAC_PJ_DECLARED`)."""
    return MAC_PJ_DECLARED[precision] / MAC_PJ_DECLARED["fp32"]


@dataclass(frozen=True)
class DeviceEnergy:
    compute_model: str  # "time" or "macs"
    energy_per_mac_j: float
    active_power_w: float
    idle_power_w: float
    radio_up_j_per_bit: float
    radio_down_j_per_bit: float
    radio_tx_power_w: float | None = None  # the air-time model (None: the per-bit one)
    radio_rx_power_w: float | None = None
    radio_tail_j: float = 0.0
    mac_ratio: float = 1.0  # a MAC at the device's precision over an fp32 MAC (:func:`mac_energy_ratio`)

    @classmethod
    def of(cls, e, precision: str = "fp32") -> "DeviceEnergy":
        """From a scenario's ``energy`` block (config.Energy); ``precision``: of the device's
        arithmetic (its ``energy_per_mac_j`` is an fp32 MAC's; see :data:`MAC_PJ_DECLARED`)."""
        ratio = mac_energy_ratio(precision)
        return cls(e.compute_model, e.energy_per_mac_j * ratio, e.active_power_w, e.idle_power_w, e.radio_up_j_per_bit,
                   e.radio_down_j_per_bit, e.radio_tx_power_w, e.radio_rx_power_w, e.radio_tail_j or 0.0, ratio)

    def charged_macs(self, macs: float, float_macs: float = 0.0) -> float:
        """The MACs at the device's precision that cost what a block of ``macs`` costs when
        ``float_macs`` of them run in fp32 (the layers a low-precision block keeps in floating
        point): ``macs - float_macs + float_macs / mac_ratio``."""
        return macs + float_macs * (1.0 / self.mac_ratio - 1.0)

    @property
    def airtime(self) -> bool:
        """The air-time model (radio power x time on the air) rather than joules per bit."""
        return self.radio_tx_power_w is not None or self.radio_rx_power_w is not None

    def up_j(self, up_bytes, up_bps=None):
        """Radio energy of sending ``up_bytes`` (one transfer) at a payload rate of ``up_bps``
        (bit/s; arrays broadcast; the air-time model only; 0: out of coverage, no energy)."""
        if not self.airtime:
            return 8 * up_bytes * self.radio_up_j_per_bit
        return _air_j(self.radio_tx_power_w, up_bytes, up_bps, self.radio_tail_j)

    def down_j(self, down_bytes, down_bps=None):
        """Radio energy of receiving ``down_bytes`` (one transfer) at a payload rate of ``down_bps``."""
        if not self.airtime:
            return 8 * down_bytes * self.radio_down_j_per_bit
        return _air_j(self.radio_rx_power_w, down_bytes, down_bps, self.radio_tail_j)

    def tx_j(self, air_s: float) -> float:
        """Radio energy of one upload that spent ``air_s`` seconds on the air (the air-time model)."""
        return _on_air_j(self.radio_tx_power_w, air_s, self.radio_tail_j)

    def rx_j(self, air_s: float) -> float:
        """Radio energy of one download that spent ``air_s`` seconds on the air."""
        return _on_air_j(self.radio_rx_power_w, air_s, self.radio_tail_j)

    def compute_j(self, seconds: np.ndarray, macs) -> np.ndarray:
        """Energy of on-device compute for arrays of ``seconds`` and ``macs`` (or a scalar of MACs)."""
        if self.compute_model == "macs":
            return np.broadcast_to(np.asarray(macs, float) * self.energy_per_mac_j, np.shape(seconds)).copy()
        return np.asarray(seconds, float) * self.active_power_w

    def radio_j(self, up_bytes: float, down_bytes: float, up_bps=None, down_bps=None):
        """Radio energy of one offload: ``up_bytes`` sent, ``down_bytes`` received (with the
        air-time model at payload rates ``up_bps`` and ``down_bps``: per-device arrays give one
        energy per device)."""
        if not self.airtime:
            return 8 * up_bytes * self.radio_up_j_per_bit + 8 * down_bytes * self.radio_down_j_per_bit
        return self.up_j(up_bytes, up_bps) + self.down_j(down_bytes, down_bps)

    def idle_j(self, seconds: float) -> float:
        return self.idle_power_w * seconds


def _on_air_j(power_w: float | None, air_s, tail_j: float):
    """The air-time model: ``power_w`` x ``air_s`` seconds on the air + ``tail_j`` (no power: 0)."""
    if power_w is None:
        return 0.0 * air_s
    return power_w * air_s + tail_j


def _air_j(power_w: float | None, nbytes, bps, tail_j: float):
    """:func:`_on_air_j` for ``nbytes`` at a constant payload rate ``bps`` (air time 8 x nbytes / bps;
    0 where ``bps`` is 0: out of coverage, nothing sent)."""
    r = np.asarray(bps, float)
    e = np.where(r > 0, _on_air_j(power_w, 8.0 * nbytes / np.where(r > 0, r, 1.0), tail_j), 0.0)
    return e if e.ndim else float(e)


class LinkEnergy:
    """The radio energy of one group's transfers, per device: the :class:`DeviceEnergy` with each
    device's payload rates (arrays, or scalars for a fixed-rate access point).  ``channels``:
    (uplink, downlink) lists of the devices' radio channels when their rates vary (fading, an
    SNR trace): a transfer's energy is then from the air time the network measured for it
    (``air_s``: its bits / (goodput x the channel's rate), over every rate change it spans)."""

    def __init__(self, energy: DeviceEnergy, up_bps, down_bps, channels=None, goodput: float = 1.0):
        self.energy, self.up_bps, self.down_bps = energy, up_bps, down_bps
        self.channels, self.goodput = channels, goodput

    def per_offload(self, up_bytes: float, down_bytes: float):
        """Radio energy of one offload, per device (an array) or for all (a scalar)."""
        return self.energy.radio_j(up_bytes, down_bytes, self.up_bps, self.down_bps)

    def up_j(self, d: int, nbytes: float, air_s: float | None = None) -> float:
        """Device ``d`` sent ``nbytes`` (one transfer, done), ``air_s`` seconds on the air when the
        rates vary (:attr:`sim.entities.link.Network.flow_air_s`)."""
        if self.channels is not None:
            return float(self.energy.tx_j(air_s))
        return float(self.energy.up_j(nbytes, self.up_bps[d] if np.ndim(self.up_bps) else self.up_bps))

    def down_j(self, d: int, nbytes: float, air_s: float | None = None) -> float:
        """Device ``d`` received ``nbytes`` (one transfer, done), ``air_s`` seconds on the air."""
        if self.channels is not None:
            return float(self.energy.rx_j(air_s))
        return float(self.energy.down_j(nbytes, self.down_bps[d] if np.ndim(self.down_bps) else self.down_bps))


@dataclass(frozen=True)
class JobEnergy:
    """A server job's energy: ``fixed_j + per_s x`` its service time."""

    fixed_j: float
    per_s: float

    @classmethod
    def of(cls, e, macs: float | None) -> "JobEnergy":
        """From a server's ``energy`` block (config.ServerEnergy) and its model's MACs."""
        if e.compute_model == "macs":
            return cls((macs or 0.0) * e.energy_per_mac_j, 0.0)
        return cls(0.0, e.active_power_w)

    def job_j(self, seconds: float) -> float:
        return self.fixed_j + seconds * self.per_s
