"""Arrival blocks of a device group: when inferences arrive and at which device.

Poisson arrivals of ``count`` devices are one Poisson stream of rate ``count x rate_hz``
with each arrival assigned to a uniformly drawn device (superposition); periodic
arrivals cycle through the devices in order of their random phases.  A block holds
about :data:`BLOCK` arrivals (whole periods for periodic arrivals); every stream gives
the values it would give drawn one at a time (:class:`sim.rng.Stream`).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from sim.rng import Stream

BLOCK = 1024  # arrivals drawn per numpy call


def arrival_blocks(process: str, rate_hz: float, count: int, rng: Stream) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Blocks of (gaps, devices): the delay before each arrival (after the previous one)
    and the device it comes from."""
    if process == "poisson":
        mean_gap = 1.0 / (count * rate_hz)
        while True:
            yield rng.exponentials(BLOCK, mean_gap), rng.integers(BLOCK, count)
    period = 1.0 / rate_hz
    phases = rng.randoms(count) * period  # device d's first arrival
    devices = np.argsort(phases, kind="stable")  # devices in order of their phases
    times = phases[devices]
    per_block = max(1, BLOCK // count)  # whole periods, about BLOCK arrivals
    block_devices = np.tile(devices, per_block)
    last = 0.0
    base = 0.0
    while True:
        bases = []
        for _ in range(per_block):
            bases.append(base)
            base += period
        t = (np.array(bases)[:, None] + times[None, :]).ravel()
        yield np.diff(t, prepend=last), block_devices
        last = t[-1]


def arrival_times(start_s: float, gaps: np.ndarray) -> np.ndarray:
    """Absolute arrival times: ``t_k = t_{k-1} + gap_k`` from ``t_{-1} = start_s``, the same
    float additions as SimPy's clock makes when each arrival waits ``gap_k``
    (``np.add.accumulate`` adds left to right)."""
    return np.add.accumulate(np.concatenate(([start_s], gaps)))[1:]
