"""Explicit traffic between nodes (a scenario's ``traffic``): single flows and Poisson
background traffic, sharing the links with everything else (docs/network.md).

Each source sends along one fixed path (the lowest-latency route, chosen by :mod:`sim.build`)
with the network's flow class for it; a finished flow is counted in the recorder's traffic
(purpose ``traffic``, at the path's first link), and every flow gets its row in the flow log.
A Poisson source draws its start times from the stream ``traffic/<name>/arrivals`` and its
sizes from ``traffic/<name>/size``, so changing its size distribution leaves its start times
unchanged.
"""

from __future__ import annotations

import math
from statistics import NormalDist

from sim.rng import Stream
from sim.simclock import call_at

PURPOSE = "traffic"
_NORMAL = NormalDist()


def size_sampler(size, stream: Stream):
    """A function giving the next flow size in whole bytes (at least 1) from ``size`` (a
    :class:`sim.config.FlowSize`), one uniform or exponential draw of ``stream`` per flow."""
    if size.distribution == "exponential":
        mean = size.mean_bytes
        return lambda: max(1, round(stream.exponential(mean)))
    if size.distribution == "uniform":
        lo, span = size.min_bytes, size.max_bytes - size.min_bytes
        return lambda: min(size.max_bytes, lo + math.floor(stream.random() * (span + 1)))
    sigma = size.sigma
    mu = math.log(size.mean_bytes) - sigma * sigma / 2  # the lognormal's mean is mean_bytes
    inv = _NORMAL.inv_cdf

    def lognormal() -> int:
        u = stream.random()
        return max(1, round(math.exp(mu + sigma * inv(min(max(u, 1e-300), 1 - 1e-16)))))
    return lognormal


class TrafficSource:
    """One entry of a scenario's ``traffic``: its flows along ``path`` (a tuple of links)."""

    def __init__(self, env, network, recorder, spec, path, horizon_s: float, arrivals: Stream | None = None,
                 sizes: Stream | None = None, weight: float = 1.0):
        self.env, self.network, self.recorder = env, network, recorder
        self.spec, self.path, self.horizon_s = spec, tuple(path), horizon_s
        self.cls = network.flow_class(self.path, weight)
        self.meta = (spec.name, spec.src, spec.dst, PURPOSE)
        self.first = self.path[0].name
        self.sent = 0  # flows started
        if spec.process == "single":
            call_at(env, spec.start_s, self._single)
            return
        self.mean_gap_s = 1.0 / spec.rate_hz
        self.stop_s = min(spec.stop_s if spec.stop_s is not None else horizon_s, horizon_s)
        self.arrivals = arrivals
        self.size = (lambda: spec.size_bytes) if spec.size is None else size_sampler(spec.size, sizes)
        self._next_s = spec.start_s + arrivals.exponential(self.mean_gap_s)
        if self._next_s < self.stop_s:
            call_at(env, self._next_s, self._poisson)

    def _send(self, size_bytes: int) -> None:
        self.sent += 1
        self.network.send_then(self.cls, size_bytes, lambda cut, b=size_bytes: self._done(cut, b), self.meta)

    def _done(self, cut: bool, size_bytes: int) -> None:
        if not cut:
            self.recorder.flow(PURPOSE, size_bytes, self.first)

    def _single(self, _ev=None) -> None:
        self._send(self.spec.size_bytes)

    def _poisson(self, _ev=None) -> None:
        self._send(self.size())
        self._next_s += self.arrivals.exponential(self.mean_gap_s)
        if self._next_s < self.stop_s:
            call_at(self.env, self._next_s, self._poisson)
