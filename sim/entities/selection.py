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
    def __init__(self, rule, candidates: list[OffloadTarget], input_bytes: int, result_bytes: int, radio=None):
        """``radio``: the group's devices on a radio access point (:class:`sim.entities.wireless.DeviceRadio`):
        the ``cost`` rule then times a device's transfers at its own rate now, not the medium's unit rate."""
        self.rule, self.kind, self.c = rule, rule.select, candidates
        self.radio = radio
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
            self.up_bits, self.down_bits = 8.0 * input_bytes, 8.0 * result_bytes
            self.wired = []  # on a radio access point: the path's narrowest link besides the device's channel, each way
            for t in candidates:
                mean_s = t.timing.mean_s / t.speed_factor
                lat = t.up_latency_s + t.down_latency_s + mean_s + w * t.energy.job_j(mean_s)
                if radio is None:
                    up = 8.0 * input_bytes / min(l.capacity_bps for l in t.up)
                    down = 8.0 * result_bytes / min(l.capacity_bps for l in t.down)
                    self.fixed.append(up + down + lat)
                else:  # the transfers are timed per device in pick
                    self.fixed.append(lat)
                    self.wired.append((_narrowest(t.up, radio.up[0].link), _narrowest(t.down, radio.down[0].link)))
                self.per_job.append(mean_s / t.server.workers)

    def _load(self, t: OffloadTarget, now: float) -> float:
        """Jobs in system per worker, as seen ``information_delay_s`` ago."""
        return t.server.in_system_at(now - self.delay_s) / t.server.workers

    def _transfer_s(self, k: int, d: int) -> float:
        """Device ``d``'s transfers to candidate ``k`` and back, each at the narrower of its own
        payload rate now (goodput x its channel's rate) and the rest of the path (inf: out of coverage)."""
        (up_other, up_air), (down_other, down_air) = self.wired[k]
        out = 0.0
        for bits, other, air, ch in ((self.up_bits, up_other, up_air, self.radio.up[d]),
                                     (self.down_bits, down_other, down_air, self.radio.down[d])):
            rate = other if not air else min(other, ch.link.goodput * ch.rate_bps)
            if rate <= 0:
                return float("inf")
            out += bits / rate
        return out

    def pick(self, now: float, u1: float, u2: float, d: int = -1) -> OffloadTarget:
        """The server for an input of device ``d`` leaving now (``d`` is read by ``cost`` on a radio
        access point only)."""
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
        best, low = c[0], float("inf")  # all infinite (out of coverage): the first; its flow is cut
        for k, t in enumerate(c):
            ahead = max(t.server.in_system_at(now - self.delay_s) - t.server.workers + 1, 0)
            x = self.fixed[k] + ahead * self.per_job[k]
            if self.radio is not None:
                x += self._transfer_s(k, d)
            if x < low:
                best, low = t, x
        return best


def _narrowest(path, air) -> tuple[float, bool]:
    """(the smallest payload capacity along ``path`` besides the radio medium ``air``, whether the
    path crosses ``air``)."""
    return min((l.capacity_bps for l in path if l is not air), default=float("inf")), any(l is air for l in path)
