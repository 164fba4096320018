"""The one energy model: device compute and radio, server jobs.

Compute energy is ``active_power_w`` x compute time (``compute_model: time``) or
``energy_per_mac_j`` x the MACs run (``compute_model: macs``); radio energy is joules
per bit sent and received; idle power is paid for the whole horizon.  A server job's
energy is MACs x ``energy_per_mac_j`` or ``active_power_w`` x its service time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DeviceEnergy:
    compute_model: str  # "time" or "macs"
    energy_per_mac_j: float
    active_power_w: float
    idle_power_w: float
    radio_up_j_per_bit: float
    radio_down_j_per_bit: float

    @classmethod
    def of(cls, e) -> "DeviceEnergy":
        """From a scenario's ``energy`` block (config.Energy)."""
        return cls(e.compute_model, e.energy_per_mac_j, e.active_power_w, e.idle_power_w, e.radio_up_j_per_bit,
                   e.radio_down_j_per_bit)

    def compute_j(self, seconds: np.ndarray, macs) -> np.ndarray:
        """Energy of on-device compute for arrays of ``seconds`` and ``macs`` (or a scalar of MACs)."""
        if self.compute_model == "macs":
            return np.broadcast_to(np.asarray(macs, float) * self.energy_per_mac_j, np.shape(seconds)).copy()
        return np.asarray(seconds, float) * self.active_power_w

    def radio_j(self, up_bytes: float, down_bytes: float) -> float:
        """Radio energy of one offload: ``up_bytes`` sent, ``down_bytes`` received."""
        return 8 * up_bytes * self.radio_up_j_per_bit + 8 * down_bytes * self.radio_down_j_per_bit

    def idle_j(self, seconds: float) -> float:
        return self.idle_power_w * seconds


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
