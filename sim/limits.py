"""What a scenario will cost, estimated before it is built, and the limits a run is held to.

The estimate uses rates measured on the main job (``benchmarks/RESULTS.md``): peak memory
of about 1.4 kB per device above a 200 MB base (1,000,000 devices: 1.37 GB), the
recorder's tables (windows x places x exits x 12 columns x 8 bytes per group), and wall
time of about 2.6 us per arrival in scale mode (10,000 devices x 1 h: 14.8 M arrivals in
38 s; request mode about twice that), plus the model-update loop's planning: about
0.1 ms per updating device and period (``scenarios/bandwidth_allocation.yaml``, 20
devices, ``optimal``: 1.9-2.5 ms per period with periods of 0.01-0.1 s), and the drift
process's changes.  They are estimates, named as such: a scenario whose inputs mostly
leave the device costs more per arrival.  A run estimated beyond :data:`MAX_WALL_S`
is refused (``--force`` runs it anyway): a tiny ``updates.period_s`` over a long
horizon is many plans, not a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sim.recorder import COLUMNS, EXITS, window_count
from sim.errors import LimitError  # noqa: F401  (defined with the other errors; importable from here too)

BASE_MEMORY_B = 200e6
MEMORY_PER_DEVICE_B = 1400.0
WALL_PER_ARRIVAL_S = {"scale": 2.6e-6, "request": 5.0e-6}
MAX_WINDOWS = 1_000_000
MAX_ARRIVALS = 1e11  # about three days of wall time at the measured rate
WALL_PER_UPDATE_PLAN_S = 1e-4  # per updating device and period (measured, see above)
WALL_PER_DRIFT_CHANGE_S = 1e-5  # a change of condition: one event and a re-plan of nothing
MAX_WALL_S = 3 * 86_400.0  # three days
WALL_PER_TRAFFIC_FLOW_S = 1e-5  # a flow of a scenario's traffic (measured: docs/network.md)
# a block of a group's fading: 0.13 ms at 5 devices, 0.27 ms at 100, 1.7 ms at 1,000 (measured: new gains and
# rates for every device's two channels, re-sharing their flow classes; docs/wireless.md, "Fading")
WALL_PER_FADING_BLOCK_S, WALL_PER_FADING_DEVICE_S = 1.2e-4, 1.6e-6


@dataclass(frozen=True)
class Estimate:
    arrivals: float
    windows: int
    memory_b: float
    wall_s: float
    update_plans: float = 0.0  # updating devices x periods
    fading_s: float = 0.0  # the wall time of the groups' fading blocks

    def line(self) -> str:
        plans = f", {self.update_plans:,.0f} device update plans" if self.update_plans else ""
        return (f"estimated {self.arrivals:,.0f} arrivals{plans}, {self.windows:,} windows, peak memory about "
                f"{self.memory_b / 1e6:,.0f} MB, wall time about {self.wall_s:,.0f} s")


def physical_memory_b() -> float:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def estimate(sc) -> Estimate:
    windows = window_count(sc.horizon_s, sc.metrics.window_s) if sc.horizon_s / sc.metrics.window_s < 1e12 \
        else int(1e12)
    arrivals = sum(g.count * g.arrivals.rate_hz * sc.horizon_s for g in sc.device_groups)
    places = sum(1 + len(sc.servers) for _ in sc.device_groups)  # at most: the device and every server
    table_b = float(windows) * places * EXITS * len(COLUMNS) * 8
    memory = BASE_MEMORY_B + MEMORY_PER_DEVICE_B * sc.devices + table_b
    plans = changes = 0.0
    for g in sc.device_groups:
        u = getattr(g, "updates", None)
        if u is not None:
            plans += g.count * sc.horizon_s / u.period_s
        for drift in (getattr(u, "drift", None), getattr(getattr(g, "early_exit", None), "drift", None)):
            switching = getattr(drift, "switching", None)
            if switching is not None:
                changes += sc.horizon_s / switching.mean_holding_s
    traffic_flows = sum(1.0 if t.process == "single" else
                        t.rate_hz * (min(t.stop_s if t.stop_s is not None else sc.horizon_s, sc.horizon_s) - t.start_s)
                        for t in getattr(sc, "traffic", ()))
    fading = sum(sc.horizon_s / g.fading.coherence_s * (WALL_PER_FADING_BLOCK_S + WALL_PER_FADING_DEVICE_S * g.count)
                 for g in sc.device_groups if getattr(g, "fading", None) is not None)
    wall = (arrivals * WALL_PER_ARRIVAL_S[sc.fidelity.mode] + plans * WALL_PER_UPDATE_PLAN_S
            + changes * WALL_PER_DRIFT_CHANGE_S + traffic_flows * WALL_PER_TRAFFIC_FLOW_S + fading)
    return Estimate(arrivals, windows, memory, wall, plans, fading)


def check(sc, force: bool = False) -> Estimate:
    """The estimate, or LimitError when the run would not fit (``force``: only the hard limits)."""
    e = estimate(sc)
    if e.windows > MAX_WINDOWS:
        raise LimitError("metrics.window_s", f"{sc.metrics.window_s:g} s over a horizon of {sc.horizon_s:g} s makes "
                                             f"{e.windows:,} windows (at most {MAX_WINDOWS:,})")
    if force:
        return e
    ram = physical_memory_b()
    if e.memory_b > 0.8 * ram:
        raise LimitError("device_groups", f"{e.line()}: more than 80% of this machine's {ram / 1e9:.0f} GB "
                                          "(--force to run anyway)")
    if e.arrivals > MAX_ARRIVALS:
        raise LimitError("horizon_s", f"{e.line()}: more than {MAX_ARRIVALS:.0e} arrivals (--force to run anyway)")
    if e.wall_s > MAX_WALL_S:
        field = "horizon_s"
        if e.update_plans * WALL_PER_UPDATE_PLAN_S > e.wall_s / 2:  # the update loop's plans dominate
            i = max((k for k, g in enumerate(sc.device_groups) if getattr(g, "updates", None) is not None),
                    key=lambda k: sc.device_groups[k].count / sc.device_groups[k].updates.period_s)
            field = f"device_groups[{i}].updates.period_s"
        elif e.fading_s > e.wall_s / 2:  # block fading dominates: its coherence time
            i = max((k for k, g in enumerate(sc.device_groups) if getattr(g, "fading", None) is not None),
                    key=lambda k: sc.device_groups[k].count / sc.device_groups[k].fading.coherence_s)
            field = f"device_groups[{i}].fading.coherence_s"
        raise LimitError(field, f"{e.line()}: more than {MAX_WALL_S / 86_400:.0f} days (--force to run anyway)")
    return e
