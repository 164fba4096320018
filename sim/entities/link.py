"""Links: event-driven, weighted max-min fair fluid bandwidth sharing.

A :class:`Flow` carries ``size_bytes`` over a path of directed links.  Whenever a
flow starts or ends, :func:`maxmin_rates` recomputes every active flow's rate by
progressive filling (as SimGrid does): all unfrozen flows grow in proportion to
their weights until some link saturates; the flows crossing it freeze at that
level; repeat.  With a heap of link levels this is O(P log L) for P flow-link
incidences and L links.  Between recomputations rates are constant, so one SimPy
timeout (the earliest completion) is all the network keeps scheduled.

Propagation latency is not part of the fluid model: callers add the path's
latency after the transfer (see :meth:`Network.path_latency_s`).
"""

from __future__ import annotations

import heapq
from typing import Iterable, Sequence

import simpy

_EPS_S = 1e-12  # completion-time tolerance (seconds)


class DirectedLink:
    """One direction of a link: a capacity shared by the flows that cross it."""

    __slots__ = ("name", "capacity_bps", "latency_s", "index", "flows", "load_bps", "delivered_bits")

    def __init__(self, name: str, capacity_bps: float, latency_s: float = 0.0):
        if capacity_bps <= 0:
            raise ValueError(f"link {name}: capacity must be positive")
        self.name = name
        self.capacity_bps = float(capacity_bps)
        self.latency_s = float(latency_s)
        self.index = -1
        self.flows: set[Flow] = set()
        self.load_bps = 0.0  # sum of the current rates of the flows crossing it
        self.delivered_bits = 0.0  # cumulative, advanced lazily by the network

    def __repr__(self) -> str:
        return f"DirectedLink({self.name!r}, {self.capacity_bps:g} bps)"


class Flow:
    __slots__ = ("path", "size_bits", "remaining_bits", "weight", "rate_bps", "purpose", "done", "start_s", "tag")

    def __init__(self, path: Sequence[DirectedLink], size_bytes: float, weight: float, purpose: str, done, start_s):
        self.path = tuple(path)
        self.size_bits = 8.0 * size_bytes
        self.remaining_bits = self.size_bits
        self.weight = float(weight)
        self.rate_bps = 0.0
        self.purpose = purpose
        self.done = done
        self.start_s = start_s
        self.tag = None


def maxmin_rates(capacity: Sequence[float], flows: Sequence[tuple[float, Sequence[int]]]) -> list[float]:
    """Weighted max-min fair rates by progressive filling.

    ``capacity[l]`` is link ``l``'s capacity; each flow is ``(weight, link indices)``.
    Returns one rate per flow.  A flow with an empty path gets rate ``inf``.
    """
    n_links = len(capacity)
    cap = [float(c) for c in capacity]
    wsum = [0.0] * n_links
    on_link: list[list[int]] = [[] for _ in range(n_links)]
    for i, (w, path) in enumerate(flows):
        if w <= 0:
            raise ValueError("flow weights must be positive")
        for l in path:
            wsum[l] += w
            on_link[l].append(i)
    rates = [float("inf") if not path else 0.0 for _, path in flows]
    frozen = [not path for _, path in flows]
    heap = [(cap[l] / wsum[l], l) for l in range(n_links) if wsum[l] > 0]
    heapq.heapify(heap)
    while heap:
        level, l = heapq.heappop(heap)
        if wsum[l] <= 0 or level != cap[l] / wsum[l]:
            continue  # stale entry: the link's level changed since it was pushed
        for i in on_link[l]:
            if frozen[i]:
                continue
            frozen[i] = True
            w, path = flows[i]
            rate = w * level
            rates[i] = rate
            for m in path:
                wsum[m] -= w
                cap[m] = max(cap[m] - rate, 0.0)
                if m != l and wsum[m] > 1e-12:
                    heapq.heappush(heap, (cap[m] / wsum[m], m))
        wsum[l] = 0.0
    return rates


class Network:
    """The directed links of a run and the flows currently crossing them."""

    def __init__(self, env: simpy.Environment, links: Iterable[DirectedLink]):
        self.env = env
        self.links: list[DirectedLink] = []
        for link in links:
            link.index = len(self.links)
            self.links.append(link)
        self.flows: set[Flow] = set()
        self._last_s = env.now
        self._generation = 0
        self.completed = 0

    def transfer(self, path: Sequence[DirectedLink], size_bytes: float, weight: float = 1.0,
                 purpose: str = "data") -> simpy.Event:
        """Start a flow; the returned event succeeds (with the flow) when its last bit leaves."""
        done = self.env.event()
        flow = Flow(path, size_bytes, weight, purpose, done, self.env.now)
        if not path or size_bytes <= 0:
            done.succeed(flow)
            return done
        self._advance()
        self.flows.add(flow)
        for link in flow.path:
            link.flows.add(flow)
        self._reschedule()
        return done

    @staticmethod
    def path_latency_s(path: Sequence[DirectedLink]) -> float:
        return sum(link.latency_s for link in path)

    def advance(self) -> None:
        """Bring delivered-bit counters up to ``env.now`` (for samplers)."""
        self._advance()

    def _advance(self) -> None:
        now = self.env.now
        dt = now - self._last_s
        if dt > 0:
            for f in self.flows:
                f.remaining_bits -= f.rate_bps * dt
            for link in self.links:
                if link.load_bps:
                    link.delivered_bits += link.load_bps * dt
        self._last_s = now

    def _recompute(self) -> None:
        flows = list(self.flows)
        rates = maxmin_rates([l.capacity_bps for l in self.links],
                             [(f.weight, [l.index for l in f.path]) for f in flows])
        for link in self.links:
            link.load_bps = 0.0
        for f, r in zip(flows, rates):
            f.rate_bps = r
            for link in f.path:
                link.load_bps += r

    def _reschedule(self) -> None:
        self._recompute()
        self._generation += 1
        if not self.flows:
            return
        delay = min(f.remaining_bits / f.rate_bps for f in self.flows)
        gen = self._generation
        timer = self.env.timeout(max(delay, 0.0))
        timer.callbacks.append(lambda _ev: self._on_timer(gen))

    def _on_timer(self, gen: int) -> None:
        if gen != self._generation:
            return  # superseded by a later start or end
        self._advance()
        finished = [f for f in self.flows if f.remaining_bits <= f.rate_bps * _EPS_S + 1e-9 * f.size_bits]
        for f in finished:
            self.flows.discard(f)
            for link in f.path:
                link.flows.discard(f)
            f.remaining_bits = 0.0
            self.completed += 1
            f.done.succeed(f)
        self._reschedule()
