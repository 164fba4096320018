"""The selection rules of :mod:`sim.policies.selection` at run time, for one device group.

A :class:`Selector` holds the group's candidate servers as seen from its access point
(:class:`~sim.entities.offload.OffloadTarget`: paths, latencies, timing) and picks one
for each offloaded input when the input leaves the device (``pick``), with that input's
own uniforms (drawn with its block, so both drivers use the same ones).  Load is a
server's jobs in system, read ``information_delay_s`` in the past
(:meth:`sim.entities.server.Server.in_system_at`).
"""

from __future__ import annotations

from sim.entities.offload import OffloadTarget


class Selector:
    def __init__(self, rule, candidates: list[OffloadTarget], input_bytes: int, result_bytes: int):
        self.rule, self.kind, self.c = rule, rule.select, candidates
        self.n = len(candidates)
        self.delay_s = getattr(rule, "information_delay_s", 0.0)
        self.accuracy = None  # a fixed target's accuracy: unknown until an input is placed
        if self.kind == "nearest":
            self.best = min(candidates, key=lambda t: t.up_latency_s + t.down_latency_s)  # min: first of ties
        if rule.reads_load:
            for t in candidates:
                t.server.keep_history(self.delay_s)
        if self.kind == "cost":
            # the parts of the expected latency and energy that do not depend on load
            w = rule.energy_weight_s_per_j
            self.fixed, self.per_job = [], []
            for t in candidates:
                mean_s = t.timing.mean_s / t.speed_factor
                up = 8.0 * input_bytes / min(l.capacity_bps for l in t.up) + t.up_latency_s
                down = 8.0 * result_bytes / min(l.capacity_bps for l in t.down) + t.down_latency_s
                self.fixed.append(up + down + mean_s + w * t.energy.job_j(mean_s))
                self.per_job.append(mean_s / t.server.workers)

    def _load(self, t: OffloadTarget, now: float) -> float:
        """Jobs in system per worker, as seen ``information_delay_s`` ago."""
        return t.server.in_system_at(now - self.delay_s) / t.server.workers

    def pick(self, now: float, u1: float, u2: float) -> OffloadTarget:
        kind, c = self.kind, self.c
        if kind == "nearest":
            return self.best
        if kind == "random":
            return c[min(int(u1 * self.n), self.n - 1)]
        if kind == "power_of_two":
            i = min(int(u1 * self.n), self.n - 1)
            j = min(int(u2 * (self.n - 1)), self.n - 2)
            j += j >= i
            return c[i] if self._load(c[i], now) <= self._load(c[j], now) else c[j]
        if kind == "least_loaded":
            best, low = c[0], self._load(c[0], now)
            for t in c[1:]:
                x = self._load(t, now)
                if x < low:
                    best, low = t, x
            return best
        # cost: expected latency (queue ahead shared by the workers) plus weighted energy
        best, low = None, float("inf")
        for k, t in enumerate(c):
            ahead = max(t.server.in_system_at(now - self.delay_s) - t.server.workers + 1, 0)
            x = self.fixed[k] + ahead * self.per_job[k]
            if x < low:
                best, low = t, x
        return best
