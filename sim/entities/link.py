"""Links: event-driven, weighted max-min fair fluid bandwidth sharing.

A :class:`Flow` carries ``size_bytes`` over a path of directed links.  Whenever a
flow starts or ends, :func:`maxmin_rates` recomputes every active flow's rate by
progressive filling (as SimGrid does): all unfrozen flows grow in proportion to
their weights until some link saturates; the flows crossing it freeze at that
level; repeat.  With a heap of link levels this is O(P log L) for P flow-link
incidences and L links.

Rates can only interact through shared links, so the network is split into
*components*: the links joined by the paths of the flow classes seen so far
(union-find; components only merge).  A start or end recomputes only its own
component, usually one access point's uplink or downlink, and a component with one
active class needs no progressive filling (its rate is the path's bottleneck).
Between recomputations rates are constant, so each component keeps one SimPy
timeout (its earliest completion) scheduled.

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

    __slots__ = ("name", "capacity_bps", "latency_s", "setup_s", "index", "load_bps", "delivered_bits", "up",
                 "component")

    def __init__(self, name: str, capacity_bps: float, latency_s: float = 0.0, goodput: float = 1.0,
                 setup_s: float = 0.0):
        """``capacity_bps`` is the raw rate; flows share ``goodput x capacity_bps`` of payload
        (headers take the rest); each flow crossing the link starts ``setup_s`` late
        (connection set-up and slow start, as a fixed term)."""
        if capacity_bps <= 0 or not 0 < goodput <= 1:
            raise ValueError(f"link {name}: capacity must be positive and goodput in (0, 1]")
        self.name = name
        self.capacity_bps = float(capacity_bps) * goodput
        self.latency_s = float(latency_s)
        self.setup_s = float(setup_s)
        self.index = -1
        self.up = True  # False during an outage: flows crossing it abort
        self.load_bps = 0.0  # sum of the current rates of the flows crossing it
        self.delivered_bits = 0.0  # cumulative, advanced lazily by the network
        self.component: _Component | None = None  # set by the network

    def __repr__(self) -> str:
        return f"DirectedLink({self.name!r}, {self.capacity_bps:g} bps)"


class Flow:
    __slots__ = ("path", "size_bits", "finish_v", "weight", "purpose", "done", "aborted")

    def __init__(self, path: Sequence[DirectedLink], size_bytes: float, weight: float, purpose: str, done):
        self.path = tuple(path)
        self.size_bits = 8.0 * size_bytes
        self.weight = float(weight)
        self.purpose = purpose
        self.done = done
        self.finish_v = 0.0  # the class's served-bits counter value at which this flow finishes
        self.aborted = False  # True if an outage cut it; ``done`` still succeeds


def _finish(flow: Flow) -> None:
    """Succeed the flow's event with the flow; drop the flow's reference to it so the
    two do not form a reference cycle."""
    done, flow.done = flow.done, None
    done.succeed(flow)


class FlowClass:
    """Flows with the same path and weight.  Max-min fairness gives them equal rates, so
    the class keeps one counter of bits served per flow since it was created
    (``served_bits``) and a heap of its flows keyed by the counter value at which each
    one finishes (processor sharing in virtual time): O(log n) per start or end."""

    __slots__ = ("path", "weight", "heap", "served_bits", "rate_bps", "seq", "bottleneck_bps")

    def __init__(self, path: tuple, weight: float):
        self.path = path
        self.weight = weight
        self.heap: list = []
        self.served_bits = 0.0
        self.rate_bps = 0.0  # per flow
        self.seq = 0
        self.bottleneck_bps = min(link.capacity_bps for link in path)


class _Component:
    """Links whose flows may share capacity, the classes active on them, and the
    state of their one pending completion timer."""

    __slots__ = ("links", "active", "last_s", "generation")

    def __init__(self, links: list, now: float):
        self.links = links
        self.active: list[FlowClass] = []
        self.last_s = now
        self.generation = 0  # bumped whenever the pending timer is superseded


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
    """The directed links of a run and the flows currently crossing them.

    Flows are grouped into classes (same path, same weight); rates are recomputed per
    class by :func:`maxmin_rates` with class weight = flow weight x number of flows,
    so a recomputation costs O(classes in the component), not O(flows)."""

    def __init__(self, env: simpy.Environment, links: Iterable[DirectedLink]):
        self.env = env
        self.links: list[DirectedLink] = []
        for link in links:
            link.index = len(self.links)
            link.component = _Component([link], env.now)
            self.links.append(link)
        self.classes: dict[tuple, FlowClass] = {}
        self._setup_s: dict[tuple, float] = {}
        self.completed = 0

    @property
    def components(self) -> list[_Component]:
        seen: dict[int, _Component] = {}
        for link in self.links:
            seen.setdefault(id(link.component), link.component)
        return list(seen.values())

    def transfer(self, path: Sequence[DirectedLink], size_bytes: float, weight: float = 1.0,
                 purpose: str = "data") -> simpy.Event:
        """Start a flow; the returned event succeeds (with the flow) when its last bit leaves."""
        done = self.env.event()
        flow = Flow(path, size_bytes, weight, purpose, done)
        if not path or size_bytes <= 0:
            _finish(flow)
            return done
        if weight <= 0:
            raise ValueError("flow weights must be positive")
        setup = self._setup_s.get(flow.path)
        if setup is None:
            setup = self._setup_s[flow.path] = sum(link.setup_s for link in flow.path)
        if setup > 0:
            timer = self.env.timeout(setup)
            timer.callbacks.append(lambda _ev: self._start(flow))
        else:
            self._start(flow)
        return done

    def _class(self, key: tuple) -> FlowClass:
        """The class of ``key`` = (path, weight); a new class joins the components of its links."""
        cls = self.classes[key] = FlowClass(*key)
        comps = list({id(l.component): l.component for l in cls.path}.values())
        if len(comps) > 1:
            for c in comps:
                self._advance(c)
            into = max(comps, key=lambda c: len(c.links))
            for c in comps:
                if c is not into:
                    c.generation += 1  # its pending timer is void; ``into`` reschedules for all
                    into.links.extend(c.links)
                    into.active.extend(c.active)
                    for link in c.links:
                        link.component = into
        return cls

    def _start(self, flow: Flow) -> None:
        for link in flow.path:
            if not link.up:
                flow.aborted = True
                _finish(flow)
                return
        key = (flow.path, flow.weight)
        cls = self.classes.get(key) or self._class(key)
        comp = flow.path[0].component
        self._advance(comp)
        if not cls.heap:
            comp.active.append(cls)
        flow.finish_v = cls.served_bits + flow.size_bits
        cls.seq += 1
        heapq.heappush(cls.heap, (flow.finish_v, cls.seq, flow))
        self._reschedule(comp)

    def set_up(self, link: DirectedLink, up: bool) -> None:
        """Start or end an outage of ``link``; at its start every flow crossing it aborts."""
        comp = link.component
        self._advance(comp)
        link.up = up
        if not up:
            for c in list(comp.active):
                if link in c.path:
                    for entry in c.heap:
                        entry[2].aborted = True
                        _finish(entry[2])
                    c.heap.clear()
                    comp.active.remove(c)
                    c.served_bits = 0.0
        self._reschedule(comp)

    @staticmethod
    def path_latency_s(path: Sequence[DirectedLink]) -> float:
        return sum(link.latency_s for link in path)

    def advance(self) -> None:
        """Bring delivered-bit counters up to ``env.now`` (for samplers)."""
        for comp in self.components:
            self._advance(comp)

    def _advance(self, comp: _Component) -> None:
        now = self.env.now
        dt = now - comp.last_s
        if dt > 0:
            for c in comp.active:
                c.served_bits += c.rate_bps * dt
            for link in comp.links:
                if link.load_bps:
                    link.delivered_bits += link.load_bps * dt
        comp.last_s = now

    @staticmethod
    def _recompute(comp: _Component) -> None:
        for link in comp.links:
            link.load_bps = 0.0
        active = comp.active
        if not active:
            return
        if len(active) == 1:  # one class: its bottleneck link decides (what progressive filling gives)
            rates = [active[0].bottleneck_bps]
        else:
            local: dict[DirectedLink, int] = {}
            flows = [(c.weight * len(c.heap), [local.setdefault(l, len(local)) for l in c.path]) for c in active]
            rates = maxmin_rates([l.capacity_bps for l in local], flows)
        for c, r in zip(active, rates):
            c.rate_bps = r / len(c.heap)
            for link in c.path:
                link.load_bps += r

    def _reschedule(self, comp: _Component) -> None:
        self._recompute(comp)
        comp.generation += 1
        if not comp.active:
            return
        delay = min((c.heap[0][0] - c.served_bits) / c.rate_bps for c in comp.active)
        gen = comp.generation
        timer = self.env.timeout(delay if delay > 0 else 0.0)
        timer.callbacks.append(lambda _ev: self._on_timer(comp, gen))

    def _on_timer(self, comp: _Component, gen: int) -> None:
        if gen != comp.generation:
            return  # superseded by a later start, end or merge
        self._advance(comp)
        for c in list(comp.active):
            tol = c.rate_bps * _EPS_S
            while c.heap and c.heap[0][0] - c.served_bits <= tol + 1e-9 * c.heap[0][2].size_bits:
                flow = heapq.heappop(c.heap)[2]
                self.completed += 1
                _finish(flow)
            if not c.heap:
                comp.active.remove(c)
                c.served_bits = 0.0  # restart the counter: keeps it small and precise
        self._reschedule(comp)
